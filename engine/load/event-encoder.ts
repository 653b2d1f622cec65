// An event's JSON bytes (exactly what serializeEvent writes: aggregator/event/parse.ts) written
// into one buffer from pieces encoded once per (source, topic) — the payload shape of a publisher —
// with only the fields that vary per event (event_id, seq, ts, intended_us) written in as ASCII:
// no event object, no string and no JSON.stringify per event. A reshaping fault (which rewrites
// the event object) goes through serializeEvent instead (engine/load/worker.ts).

import { ISO_MICROS_BYTES, writeIsoMicros } from '../../aggregator/clock.ts';
import { EVENT_ID_BYTES, writeEventId } from './identity.ts';

interface Template {
  source: string;
  /** `","source":<source>,"seq":` */
  afterId: Buffer;
  /** `,"topic":<topic>,"ts":"` */
  afterSeq: Buffer;
}

/** Templates kept (one per publisher and topic): beyond this the cache starts again. */
const TEMPLATES_MAX = 4_096;
const HEAD = Buffer.from('{"v":1,"event_id":"');
const TAIL = Buffer.from('}}');

export class EventEncoder {
  private readonly templates = new Map<string, Template>();
  /** `","payload":<payload>,"bench":{"intended_us":` */
  private readonly afterTs: Buffer;

  /** `payload`: the events' payload object, the same for every event of the run. */
  constructor(
    private readonly seed: number,
    payload: unknown,
  ) {
    this.afterTs = Buffer.from(`","payload":${JSON.stringify(payload)},"bench":{"intended_us":`);
  }

  /** The JSON bytes of event (source, seq) on `topic`, due at `intended_us` (its id is eventIdFor's). */
  encode(source: string, seq: number, topic: string, intended_us: number): Buffer {
    // By topic: a publisher's topics are its own (a topic that changes hands gets a new template).
    let t = this.templates.get(topic);
    if (t === undefined || t.source !== source) {
      if (this.templates.size >= TEMPLATES_MAX) this.templates.clear();
      t = { source, afterId: Buffer.from(`","source":${JSON.stringify(source)},"seq":`), afterSeq: Buffer.from(`,"topic":${JSON.stringify(topic)},"ts":"`) };
      this.templates.set(topic, t);
    }
    const seqDigits = digits(seq);
    const intendedDigits = digits(intended_us);
    const buffer = Buffer.allocUnsafe(
      HEAD.length + EVENT_ID_BYTES + t.afterId.length + seqDigits + t.afterSeq.length + ISO_MICROS_BYTES + this.afterTs.length + intendedDigits + TAIL.length,
    );
    let at = 0;
    buffer.set(HEAD, at);
    at += HEAD.length;
    writeEventId(buffer, at, this.seed, source, seq, intended_us);
    at += EVENT_ID_BYTES;
    buffer.set(t.afterId, at);
    at += t.afterId.length;
    writeDigits(buffer, at, seq, seqDigits);
    at += seqDigits;
    buffer.set(t.afterSeq, at);
    at += t.afterSeq.length;
    writeIsoMicros(buffer, at, intended_us);
    at += ISO_MICROS_BYTES;
    buffer.set(this.afterTs, at);
    at += this.afterTs.length;
    writeDigits(buffer, at, intended_us, intendedDigits);
    at += intendedDigits;
    buffer.set(TAIL, at);
    return buffer;
  }
}

/** Decimal digits of a whole number ≥ 0. */
function digits(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count++;
  }
  return count;
}

function writeDigits(buffer: Buffer, at: number, n: number, count: number): void {
  for (let i = at + count - 1; i >= at; i--) {
    const digit = n % 10;
    buffer[i] = 48 + digit;
    n = (n - digit) / 10;
  }
}
