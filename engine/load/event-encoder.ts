// An event's JSON bytes (exactly what serializeEvent writes: aggregator/event/parse.ts) copied
// from a template made once per (source, topic) — the payload shape of a publisher — with only the
// fields that vary per event (event_id, seq, ts, intended_us) written in as ASCII: no event
// object, no string and no JSON.stringify per event, and no buffer of its own either (events are
// views of a shared slab). A reshaping fault (which rewrites the event object) goes through
// serializeEvent instead (engine/load/worker.ts).

import { ISO_MICROS_BYTES, writeIsoMicros } from '../../aggregator/clock.ts';
import { EVENT_ID_BYTES, writeEventId } from './identity.ts';

interface Template {
  source: string;
  seqDigits: number;
  intendedDigits: number;
  /** The whole event with its varying fields blank: copied in one go, then the fields written in. */
  bytes: Buffer;
  idAt: number;
  seqAt: number;
  tsAt: number;
  intendedAt: number;
}

/** Templates kept (one per publisher and topic): beyond this the cache starts again. */
const TEMPLATES_MAX = 4_096;
/** Events are written into slabs this big, each event a view of its bytes (never written again). */
const SLAB_BYTES = 64 * 1024;

export class EventEncoder {
  private readonly templates = new Map<string, Template>();
  /** `","payload":<payload>,"bench":{"intended_us":` */
  private readonly afterTs: string;
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private at = 0;

  /** `payload`: the events' payload object, the same for every event of the run. */
  constructor(
    private readonly seed: number,
    payload: unknown,
  ) {
    this.afterTs = `","payload":${JSON.stringify(payload)},"bench":{"intended_us":`;
  }

  /** The JSON bytes of event (source, seq) on `topic`, due at `intended_us` (its id is eventIdFor's). */
  encode(source: string, seq: number, topic: string, intended_us: number): Buffer {
    const seqDigits = digits(seq);
    const intendedDigits = digits(intended_us);
    // By topic: a publisher's topics are its own (a topic that changes hands gets a new template);
    // a new one too when seq or the intended time gains a digit.
    let t = this.templates.get(topic);
    if (t === undefined || t.source !== source || t.seqDigits !== seqDigits || t.intendedDigits !== intendedDigits) {
      if (t === undefined && this.templates.size >= TEMPLATES_MAX) this.templates.clear();
      t = this.template(source, topic, seqDigits, intendedDigits);
      this.templates.set(topic, t);
    }
    const size = t.bytes.length;
    if (this.at + size > this.slab.length) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
      this.at = 0;
    }
    const buffer = this.slab;
    const at = this.at;
    this.at += size;
    buffer.set(t.bytes, at);
    writeEventId(buffer, at + t.idAt, this.seed, source, seq, intended_us);
    writeDigits(buffer, at + t.seqAt, seq, seqDigits);
    writeIsoMicros(buffer, at + t.tsAt, intended_us);
    writeDigits(buffer, at + t.intendedAt, intended_us, intendedDigits);
    return buffer.subarray(at, at + size);
  }

  private template(source: string, topic: string, seqDigits: number, intendedDigits: number): Template {
    const pieces = [
      '{"v":1,"event_id":"',
      ' '.repeat(EVENT_ID_BYTES),
      `","source":${JSON.stringify(source)},"seq":`,
      ' '.repeat(seqDigits),
      `,"topic":${JSON.stringify(topic)},"ts":"`,
      ' '.repeat(ISO_MICROS_BYTES),
      this.afterTs,
      ' '.repeat(intendedDigits),
      '}}',
    ].map((piece) => Buffer.from(piece, 'utf8'));
    const offsets: number[] = [];
    let at = 0;
    for (const piece of pieces) {
      offsets.push(at);
      at += piece.length;
    }
    return { source, seqDigits, intendedDigits, bytes: Buffer.concat(pieces), idAt: offsets[1]!, seqAt: offsets[3]!, tsAt: offsets[5]!, intendedAt: offsets[7]! };
  }
}
/** Decimal digits of a whole number ≥ 0. */
function digits(n: number): number {
  let count = 1;
  while (n >= 100_000_000) {
    n = Math.floor(n / 100_000_000);
    count += 8;
  }
  let small = n | 0;
  while (small >= 10) {
    small = (small / 10) | 0;
    count++;
  }
  return count;
}

function writeDigits(buffer: Buffer, at: number, n: number, count: number): void {
  // Eight digits at a time in 32-bit integer arithmetic (a µs timestamp has 16: floating-point % and / per digit cost ~0.5 µs an event).
  let i = at + count - 1;
  while (i >= at) {
    let low = n % 100_000_000 | 0;
    n = (n - low) / 100_000_000;
    for (let k = 0; k < 8 && i >= at; k++, i--) {
      const next = (low / 10) | 0;
      buffer[i] = 48 + low - next * 10;
      low = next;
    }
  }
}
