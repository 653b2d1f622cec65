// Unit tests of the publish faults (reorder, poison, clock-skew, duplicate) against a fake
// PublishFaultContext that drives the hooks the way the load worker does (harness/load/worker.ts):
// for each event, reshape hooks, then intercept hooks (the first returning true takes the event,
// otherwise it is sent at once), then the onPublished listeners. No broker, no process, no real timer.

import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoMicros } from '../../aggregator/clock.ts';
import { parseEvent, serializeEvent } from '../../aggregator/event/parse.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type Event, type ParseOptions } from '../../aggregator/event/types.ts';
import { deriveSeed, seededRandom, type Random } from '../../aggregator/random.ts';
import type { DuplicateFault, PoisonShape, ReorderFault } from '../../scenarios/schema.ts';
import { eventIdFor } from '../load/identity.ts';
import { SourceRecord } from '../load/log.ts';
import type { Outgoing } from '../load/publishers.ts';
import { clockSkewFault } from './clock-skew.ts';
import { duplicateFault } from './duplicate.ts';
import type { PublishFault, PublishFaultContext } from './index.ts';
import { poisonFault, poisonPayload } from './poison.ts';
import { reorderFault } from './reorder.ts';

// ---------------------------------------------------------------------------------------------
// The fake worker
// ---------------------------------------------------------------------------------------------

type Via = { publisher: number } | 'other-connection';

interface Sent {
  publisher: number;
  seq: number;
  item: Outgoing;
  /** The publisher whose event was being published when this send happened (undefined: during stop()). */
  during: number | undefined;
}

/** 2026-01-01T00:00:00.123456Z, a realistic intended send time. */
const T0_US = Date.UTC(2026, 0, 1) * 1000 + 123_456;

class FakeWorker {
  readonly listeners = new Set<(item: Outgoing, publisher: number) => void>();
  readonly interceptors = new Set<(item: Outgoing, publisher: number, send: () => void) => boolean>();
  readonly reshapers = new Set<(event: Event, publisher: number) => Event>();
  readonly calls = { onPublished: 0, intercept: 0, reshape: 0 };
  readonly republished: { item: Outgoing; via: Via; at_ms: number; during: number | undefined }[] = [];
  readonly raw: { subtopic: string; payload: Buffer }[] = [];
  /** Originals actually handed to a connection, in order. */
  readonly sent: Sent[] = [];
  /** Originals in publish order, with the event as serialised (after reshape). */
  readonly published: { publisher: number; seq: number; event: Event; item: Outgoing; taken: boolean }[] = [];
  private readonly records = new Map<number, SourceRecord>();
  private readonly nextSeq = new Map<number, number>();
  private current: number | undefined;
  /** How many times each original's send closure ran, keyed by "publisher/seq". */
  readonly sendCalls = new Map<string, number>();

  constructor(readonly random: Random) {}

  context(): PublishFaultContext {
    const subscribe = <T>(set: Set<T>, hook: T) => {
      set.add(hook);
      return () => void set.delete(hook);
    };
    return {
      random: this.random,
      onPublished: (listener) => {
        this.calls.onPublished++;
        return subscribe(this.listeners, listener);
      },
      intercept: (hook) => {
        this.calls.intercept++;
        return subscribe(this.interceptors, hook);
      },
      reshape: (hook) => {
        this.calls.reshape++;
        return subscribe(this.reshapers, hook);
      },
      republish: (item, via) => this.republished.push({ item, via, at_ms: Date.now(), during: this.current }),
      publishRaw: (subtopic, payload) => this.raw.push({ subtopic, payload }),
    };
  }

  /** Publish the next event of publisher `p`, as the worker's publish() does. */
  publish(p: number, intended_us = T0_US): { seq: number; item: Outgoing; taken: boolean } {
    const seq = this.nextSeq.get(p) ?? 0;
    this.nextSeq.set(p, seq + 1);
    let record = this.records.get(p);
    if (!record) this.records.set(p, (record = new SourceRecord(`pub-${p}`)));
    const source = `pub-${p}`;
    let event: Event = {
      v: 1,
      event_id: eventIdFor(1, source, seq, intended_us),
      source,
      seq,
      topic: `bench/${source}`,
      ts: isoMicros(intended_us),
      payload: { data: 'x' },
      bench: { intended_us },
    };
    for (const reshape of this.reshapers) event = reshape(event, p);
    const item: Outgoing = { record, seq, topic: event.topic, payload: Buffer.from(serializeEvent(event)), copy: false };
    const key = `${p}/${seq}`;
    const send = () => {
      this.sendCalls.set(key, (this.sendCalls.get(key) ?? 0) + 1);
      this.sent.push({ publisher: p, seq, item, during: this.current });
    };
    this.current = p;
    try {
      let taken = false;
      for (const intercept of this.interceptors) if (!taken) taken = intercept(item, p, send);
      if (!taken) send();
      for (const listener of this.listeners) listener(item, p);
      this.published.push({ publisher: p, seq, event, item, taken });
      return { seq, item, taken };
    } finally {
      this.current = undefined;
    }
  }

  /** Publish a list of publisher indexes in order. */
  publishAll(publishers: readonly number[]): void {
    for (const p of publishers) this.publish(p);
  }
}

function started(fault: PublishFault, seed: number): FakeWorker {
  const worker = new FakeWorker(seededRandom(deriveSeed(seed, 'worker0.test')));
  fault.start(worker.context());
  return worker;
}

/** Events sent after a higher seq of the same publisher had already been sent. */
function reorderedCount(sent: readonly { publisher: number; seq: number }[]): number {
  const highest = new Map<number, number>();
  let count = 0;
  for (const { publisher, seq } of sent) {
    const top = highest.get(publisher) ?? -1;
    if (seq < top) count++;
    highest.set(publisher, Math.max(top, seq));
  }
  return count;
}

/** For each original: how many later events of its publisher had been sent before it was. */
function laterSentBefore(sent: readonly Sent[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [i, s] of sent.entries()) {
    const later = sent.slice(0, i).filter((o) => o.publisher === s.publisher && o.seq > s.seq).length;
    out.set(`${s.publisher}/${s.seq}`, later);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// reorder
// ---------------------------------------------------------------------------------------------

describe('reorder fault', () => {
  const reorder = (fraction: number, window: number): ReorderFault => ({ kind: 'reorder', fraction, window });

  it('registers one intercept hook and removes it on stop()', async () => {
    const fault = reorderFault(reorder(0.5, 3));
    const worker = started(fault, 1);
    expect(worker.calls).toEqual({ onPublished: 0, intercept: 1, reshape: 0 });
    expect(worker.interceptors.size).toBe(1);
    await fault.stop();
    expect(worker.interceptors.size).toBe(0);
  });

  it('with fraction 0 holds nothing: every event is sent at once, in order', async () => {
    const fault = reorderFault(reorder(0, 5));
    const worker = started(fault, 11);
    worker.publishAll(Array.from({ length: 300 }, (_, i) => i % 3));
    expect(worker.published.every((p) => !p.taken)).toBe(true);
    expect(worker.sent.map((s) => `${s.publisher}/${s.seq}`)).toEqual(worker.published.map((p) => `${p.publisher}/${p.seq}`));
    await fault.stop();
    expect(worker.sent).toHaveLength(300);
    expect(fault.injected()).toEqual({ held: 0, released: 0, max_hold: 0 });
  });

  it('with fraction 1 and window W holds every event and releases each within W later publishes', async () => {
    const W = 4;
    const fault = reorderFault(reorder(1, W));
    const worker = started(fault, 12);
    const N = 200;
    for (let i = 0; i < N; i++) {
      const before = worker.sent.length;
      const { taken } = worker.publish(0);
      expect(taken).toBe(true);
      // Only releases of earlier events can happen during a publish, never the new event itself.
      for (const s of worker.sent.slice(before)) expect(s.seq).toBeLessThan(i);
      // Every event older than W publishes has been released by now.
      const sentSeqs = new Set(worker.sent.map((s) => s.seq));
      for (let old = 0; old < i - W; old++) expect(sentSeqs.has(old), `seq ${old} after publish ${i}`).toBe(true);
    }
    expect(worker.sent.length).toBeLessThan(N);
    await fault.stop();
    expect(worker.sent).toHaveLength(N);
    const counts = fault.injected();
    expect(counts.held).toBe(N);
    expect(counts.released).toBe(N);
    expect(counts.max_hold).toBeLessThanOrEqual(W);
    expect(counts.max_hold).toBeGreaterThanOrEqual(1);
  });

  it('after stop() every event has been sent exactly once, whatever the fraction, window and interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 250 }),
        async (seed, fraction, window, publishers) => {
          const fault = reorderFault(reorder(fraction, window));
          const worker = started(fault, seed);
          worker.publishAll(publishers);
          await fault.stop();
          expect(worker.sent).toHaveLength(publishers.length);
          expect([...worker.sendCalls.values()].every((n) => n === 1)).toBe(true);
          expect(worker.sendCalls.size).toBe(publishers.length);
          const sentKeys = worker.sent.map((s) => `${s.publisher}/${s.seq}`).sort();
          const publishedKeys = worker.published.map((p) => `${p.publisher}/${p.seq}`).sort();
          expect(sentKeys).toEqual(publishedKeys);
          // Each sent item is the original object published for that (publisher, seq).
          for (const s of worker.sent) {
            const original = worker.published.find((p) => p.publisher === s.publisher && p.seq === s.seq)!;
            expect(s.item).toBe(original.item);
          }
          const counts = fault.injected();
          expect(counts.held).toBe(worker.published.filter((p) => p.taken).length);
          expect(counts.released).toBe(counts.held);
          expect(counts.max_hold).toBeLessThanOrEqual(window);
          if (counts.held! > 0) expect(counts.max_hold).toBeGreaterThanOrEqual(1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('releases a held event only while its own publisher publishes, after 1..W of its later publishes, with at most W later events sent first', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 250 }),
        async (seed, fraction, window, publishers) => {
          const fault = reorderFault(reorder(fraction, window));
          const worker = started(fault, seed);
          // Position of each publish within its own publisher's stream, and of each send.
          const publishedAt = new Map<string, number>();
          const releasedAtCall = new Map<string, number>();
          const callsOf = new Map<number, number>();
          for (const p of publishers) {
            const call = (callsOf.get(p) ?? 0) + 1;
            callsOf.set(p, call);
            const before = worker.sent.length;
            const { seq } = worker.publish(p);
            publishedAt.set(`${p}/${seq}`, call);
            for (const s of worker.sent.slice(before)) {
              if (s.seq !== seq || s.publisher !== p) releasedAtCall.set(`${s.publisher}/${s.seq}`, call);
            }
          }
          await fault.stop();
          const later = laterSentBefore(worker.sent);
          for (const s of worker.sent) {
            const key = `${s.publisher}/${s.seq}`;
            expect(later.get(key)!, key).toBeLessThanOrEqual(window);
            const held = worker.published.find((p) => p.publisher === s.publisher && p.seq === s.seq)!.taken;
            if (!held) {
              // An event that was not held is sent during its own publish and never after a later one.
              expect(s.during).toBe(s.publisher);
              expect(later.get(key)).toBe(0);
              continue;
            }
            if (s.during === undefined) continue; // released by stop()
            // Publishers are independent: only a publish of the same publisher releases it ...
            expect(s.during, key).toBe(s.publisher);
            // ... after 1..W later publishes of that publisher (released at the start of the next one).
            const hold = releasedAtCall.get(key)! - publishedAt.get(key)! - 1;
            expect(hold, key).toBeGreaterThanOrEqual(1);
            expect(hold, key).toBeLessThanOrEqual(window);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps publishers independent: many events of another publisher never release a held event', async () => {
    const fault = reorderFault(reorder(1, 2));
    const worker = started(fault, 3);
    worker.publish(0); // held (fraction 1)
    worker.publishAll(Array.from({ length: 100 }, () => 1));
    expect(worker.sent.some((s) => s.publisher === 0)).toBe(false);
    worker.publishAll([0, 0, 0]); // after at most 2 later publishes of publisher 0, seq 0 is out
    expect(worker.sent.some((s) => s.publisher === 0 && s.seq === 0)).toBe(true);
    await fault.stop();
    expect(worker.sent.filter((s) => s.publisher === 0)).toHaveLength(4);
    expect(worker.sent.filter((s) => s.publisher === 1)).toHaveLength(100);
  });

  it('is reproducible: the same seed gives the same send order', async () => {
    const run = async (seed: number) => {
      const fault = reorderFault(reorder(0.3, 5));
      const worker = started(fault, seed);
      worker.publishAll(Array.from({ length: 400 }, (_, i) => (i * 7) % 3));
      await fault.stop();
      return { order: worker.sent.map((s) => `${s.publisher}/${s.seq}`), counts: fault.injected() };
    };
    expect(await run(99)).toEqual(await run(99));
    expect((await run(99)).order).not.toEqual((await run(100)).order);
  });

  it('never reports fewer held events than there are events sent out of seq order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 300 }),
        async (seed, fraction, window, publishers) => {
          const fault = reorderFault(reorder(fraction, window));
          const worker = started(fault, seed);
          worker.publishAll(publishers);
          await fault.stop();
          expect(reorderedCount(worker.sent)).toBeLessThanOrEqual(fault.injected().held!);
        },
      ),
      { numRuns: 200 },
    );
  });

  // BUG (documented, not fixed here): a held event is released at the start of its publisher's
  // (hold+1)-th later publish, *before* that publish is sent; if every one of the `hold` events
  // published in between was itself held, the event goes out before any later seq, i.e. it is
  // not reordered at all, yet it is counted in injected().held. The header's promise ("release
  // each one after 1..window later events of the same source have been sent") does not hold, and
  // held overstates what the aggregator sees. Extreme case: fraction 1, window 1 reorders nothing.
  it.fails('BUG: fraction 1, window 1 holds every event yet delivers the stream in seq order (held != reordered)', async () => {
    const fault = reorderFault(reorder(1, 1));
    const worker = started(fault, 5);
    worker.publishAll(Array.from({ length: 50 }, () => 0));
    await fault.stop();
    expect(fault.injected().held).toBe(50);
    expect(worker.sent.map((s) => s.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i)); // in order: nothing reordered
    expect(reorderedCount(worker.sent)).toBe(fault.injected().held); // fails: 0 != 50
  });

  it.fails('BUG: the number of events sent after a higher seq equals injected().held (fails for the shipped 5 % / window 20)', async () => {
    const fault = reorderFault(reorder(0.05, 20));
    const worker = new FakeWorker(seededRandom(7));
    fault.start(worker.context());
    worker.publishAll(Array.from({ length: 20_000 }, () => 0));
    await fault.stop();
    // With seed 7: held 984, but only 982 events are sent after a higher seq.
    expect(reorderedCount(worker.sent)).toBe(fault.injected().held);
  });

  it.fails('BUG: every held event released during the run is sent after at least one later event of its publisher', async () => {
    const fault = reorderFault(reorder(1, 3));
    const worker = started(fault, 8);
    worker.publishAll(Array.from({ length: 100 }, () => 0));
    const releasedDuringRun = worker.sent.map((s) => `${s.publisher}/${s.seq}`);
    await fault.stop();
    const later = laterSentBefore(worker.sent);
    for (const key of releasedDuringRun) expect(later.get(key), key).toBeGreaterThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------
// poison
// ---------------------------------------------------------------------------------------------

describe('poison fault', () => {
  const ALL: PoisonShape[] = ['not-json', 'oversized', 'schema'];
  const parseOptions: ParseOptions = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES };

  /** The shape of the n-th (1-based) poison message, recognised by its bytes. */
  function shapeOf(payload: Buffer, n: number): PoisonShape {
    const matches = ALL.filter((shape) => poisonPayload(shape, n).equals(payload));
    expect(matches).toHaveLength(1);
    return matches[0]!;
  }

  async function run(seed: number, fraction: number, shapes: PoisonShape[], events: number) {
    const fault = poisonFault({ kind: 'poison', fraction, shapes });
    const worker = started(fault, seed);
    worker.publishAll(Array.from({ length: events }, (_, i) => i % 2));
    await fault.stop();
    return { fault, worker, shapes: worker.raw.map((r, i) => shapeOf(r.payload, i + 1)) };
  }

  it('registers one onPublished listener, removes it on stop() and leaves the originals alone', async () => {
    const fault = poisonFault({ kind: 'poison', fraction: 1, shapes: ALL });
    const worker = started(fault, 1);
    expect(worker.calls).toEqual({ onPublished: 1, intercept: 0, reshape: 0 });
    worker.publishAll([0, 1, 0]);
    expect(worker.sent).toHaveLength(3);
    expect(worker.republished).toHaveLength(0);
    await fault.stop();
    expect(worker.listeners.size).toBe(0);
    worker.publishAll([0]);
    expect(worker.raw).toHaveLength(3);
  });

  it('with fraction 0 publishes nothing', async () => {
    const { fault, worker } = await run(2, 0, ALL, 500);
    expect(worker.raw).toHaveLength(0);
    expect(fault.injected()).toEqual({ poison: 0, 'not-json': 0, oversized: 0, schema: 0 });
  });

  it('with fraction 1 publishes one raw message per event, on the poison subtopic', async () => {
    const { fault, worker } = await run(3, 1, ALL, 300);
    expect(worker.raw).toHaveLength(300);
    expect(worker.raw.every((r) => r.subtopic === 'poison')).toBe(true);
    expect(fault.injected().poison).toBe(300);
  });

  it('counts per shape sum to poison and match the shapes actually published', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.subarray(ALL, { minLength: 1 }),
        fc.integer({ min: 0, max: 120 }),
        async (seed, fraction, shapes, events) => {
          const { fault, worker, shapes: seen } = await run(seed, fraction, shapes, events);
          const counts = fault.injected();
          expect(Object.keys(counts).sort()).toEqual(['poison', ...shapes].sort());
          expect(shapes.reduce((sum, s) => sum + counts[s]!, 0)).toBe(counts.poison);
          expect(counts.poison).toBe(worker.raw.length);
          for (const shape of shapes) expect(counts[shape]).toBe(seen.filter((s) => s === shape).length);
          expect(seen.every((s) => shapes.includes(s))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('uses every configured shape (roughly uniformly) and only those', async () => {
    const { fault } = await run(4, 1, ALL, 3000);
    for (const shape of ALL) {
      expect(fault.injected()[shape]).toBeGreaterThan(850);
      expect(fault.injected()[shape]).toBeLessThan(1150);
    }
    const only = await run(4, 1, ['schema'], 50);
    expect(only.shapes.every((s) => s === 'schema')).toBe(true);
  });

  it('publishes about `fraction` poison messages per event', async () => {
    const { fault } = await run(5, 0.1, ALL, 5000);
    // Binomial(5000, 0.1): mean 500, sd ~21.
    expect(fault.injected().poison).toBeGreaterThan(400);
    expect(fault.injected().poison).toBeLessThan(600);
  });

  it('is reproducible: the same seed gives the same sequence of shapes (and bytes)', async () => {
    const a = await run(77, 0.5, ALL, 400);
    const b = await run(77, 0.5, ALL, 400);
    const c = await run(78, 0.5, ALL, 400);
    expect(a.shapes.length).toBeGreaterThan(100);
    expect(a.shapes).toEqual(b.shapes);
    expect(a.worker.raw.map((r) => r.payload.toString('base64'))).toEqual(b.worker.raw.map((r) => r.payload.toString('base64')));
    expect(c.shapes).not.toEqual(a.shapes);
  });

  it('poisonPayload is pure and distinct per n', () => {
    for (const shape of ALL) {
      expect(poisonPayload(shape, 5).equals(poisonPayload(shape, 5))).toBe(true);
      expect(poisonPayload(shape, 5).equals(poisonPayload(shape, 6))).toBe(false);
    }
  });

  it('every poison payload is rejected by parseEvent (at the default size limit)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALL), fc.integer({ min: 0, max: 1_000_000 }), (shape, n) => {
        const result = parseEvent(poisonPayload(shape, n), parseOptions);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it("'not-json' is rejected as not JSON", () => {
    const result = parseEvent(poisonPayload('not-json', 3), parseOptions);
    if (result.ok) throw new Error('accepted');
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.field).toBe('');
    expect(result.errors[0]!.message).toMatch(/not valid JSON/);
  });

  it("'oversized' is rejected for its size only", () => {
    for (const n of [1, 2, 1000, 123_456]) {
      const payload = poisonPayload('oversized', n);
      const result = parseEvent(payload, parseOptions);
      if (result.ok) throw new Error('accepted');
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]!.message).toMatch(/bytes/);
      expect(result.errors[0]!.message).toMatch(/larger than the limit/);
      // Size is the one reason: with a larger limit it is a valid event.
      const relaxed = parseEvent(payload, { maxPayloadBytes: 4 * DEFAULT_MAX_PAYLOAD_BYTES });
      expect(relaxed.ok).toBe(true);
    }
  });

  it("'schema' parses as JSON but is rejected for its fields, not for its size", () => {
    const result = parseEvent(poisonPayload('schema', 9), parseOptions);
    if (result.ok) throw new Error('accepted');
    const fields = result.errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['event_id', 'seq', 'ts']));
    expect(fields).not.toContain('');
    expect(fields).not.toContain('payload');
    for (const e of result.errors) expect(e.message).not.toMatch(/larger than the limit/);
    expect(() => JSON.parse(poisonPayload('schema', 9).toString())).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// clock-skew
// ---------------------------------------------------------------------------------------------

describe('clock-skew fault', () => {
  const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

  it('registers one reshape hook and removes it on stop()', async () => {
    const fault = clockSkewFault({ kind: 'clock-skew', publisher: 1, skew_ms: 5 });
    const worker = started(fault, 1);
    expect(worker.calls).toEqual({ onPublished: 0, intercept: 0, reshape: 1 });
    await fault.stop();
    expect(worker.reshapers.size).toBe(0);
  });

  it("shifts only the configured publisher's ts by skew_ms, leaving every other field and publisher untouched", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: -3_600_000, max: 3_600_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 10_000_000_000 })), { maxLength: 60 }),
        async (target, skew_ms, events) => {
          const fault = clockSkewFault({ kind: 'clock-skew', publisher: target, skew_ms });
          const worker = started(fault, 1);
          const reference = new FakeWorker(seededRandom(1)); // same events, no fault
          for (const [p, offset] of events) {
            worker.publish(p, T0_US + offset);
            reference.publish(p, T0_US + offset);
          }
          await fault.stop();
          for (const [i, { publisher, event }] of worker.published.entries()) {
            const original = reference.published[i]!.event;
            if (publisher !== target) {
              expect(event).toEqual(original);
              continue;
            }
            const { ts, ...rest } = event;
            const { ts: originalTs, ...originalRest } = original;
            expect(rest).toEqual(originalRest);
            expect(ts).toMatch(ISO_MICROS);
            expect(ts).toBe(isoMicros(original.bench!.intended_us + skew_ms * 1000));
            expect(Date.parse(ts) - Date.parse(originalTs)).toBe(skew_ms);
            // What goes on the wire is the reshaped event, and it is a valid event.
            const parsed = parseEvent(worker.published[i]!.item.payload);
            expect(parsed).toEqual({ ok: true, event });
          }
          expect(fault.injected()).toEqual({ skewed: worker.published.filter((p) => p.publisher === target).length });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('returns the very same event object for other publishers and for events without a bench stamp', () => {
    const fault = clockSkewFault({ kind: 'clock-skew', publisher: 2, skew_ms: 100 });
    const worker = new FakeWorker(seededRandom(1));
    fault.start(worker.context());
    const hook = [...worker.reshapers][0]!;
    const event: Event = { v: 1, event_id: 'x', source: 'pub-1', seq: 0, topic: 't', ts: isoMicros(T0_US), payload: null, bench: { intended_us: T0_US } };
    expect(hook(event, 1)).toBe(event);
    const unstamped: Event = { ...event, bench: undefined };
    delete unstamped.bench;
    expect(hook(unstamped, 2)).toBe(unstamped);
    expect(fault.injected()).toEqual({ skewed: 0 });
    const skewed = hook(event, 2);
    expect(skewed).not.toBe(event);
    expect(event.ts).toBe(isoMicros(T0_US)); // the input is not mutated
    expect(skewed.ts).toBe('2026-01-01T00:00:00.223456Z');
    expect(fault.injected()).toEqual({ skewed: 1 });
  });

  it('a negative skew moves ts back, across a second boundary', () => {
    const fault = clockSkewFault({ kind: 'clock-skew', publisher: 0, skew_ms: -500 });
    const worker = started(fault, 1);
    worker.publish(0, T0_US);
    expect(worker.published[0]!.event.ts).toBe('2025-12-31T23:59:59.623456Z');
  });

  // BUG (documented, not fixed here): the validator accepts any finite skew_ms, but a skew with a
  // sub-microsecond part (e.g. 1.2345 ms = 1234.5 µs) makes isoMicros() produce a ts like
  // "2026-01-01T00:00:00.124690.5Z", which parseEvent rejects: every event of that publisher would
  // land in the DLQ instead of being merely mistimed.
  it.fails('BUG: a fractional skew_ms (1.2345) still yields a valid ISO ts with microseconds', () => {
    const fault = clockSkewFault({ kind: 'clock-skew', publisher: 0, skew_ms: 1.2345 });
    const worker = started(fault, 1);
    worker.publish(0, T0_US);
    const { event, item } = worker.published[0]!;
    expect(event.ts).toMatch(ISO_MICROS); // actual: 2026-01-01T00:00:00.124690.5Z
    expect(parseEvent(item.payload).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// duplicate
// ---------------------------------------------------------------------------------------------

describe('duplicate fault', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const spec = (overrides: Partial<DuplicateFault> = {}): DuplicateFault => ({
    kind: 'duplicate',
    fraction: 0.2,
    immediate_share: 0.5,
    delay_ms: 250,
    other_connection_share: 0.3,
    ...overrides,
  });

  /** Publish `events` originals 10 ms apart (fake time), then stop and flush the delayed copies. */
  async function run(seed: number, s: DuplicateFault, events: number) {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2026, 0, 1)); // so that two runs see the same times
    const fault = duplicateFault(s);
    const worker = started(fault, seed);
    const publishedAt: number[] = [];
    const syncCopies: number[] = []; // republishes that happened during each publish
    for (let i = 0; i < events; i++) {
      const before = worker.republished.length;
      publishedAt.push(Date.now());
      worker.publish(i % 4);
      syncCopies.push(worker.republished.length - before);
      vi.advanceTimersByTime(10);
    }
    const stopped = fault.stop();
    await vi.runAllTimersAsync();
    await stopped;
    return { fault, worker, publishedAt, syncCopies };
  }

  it('registers one onPublished listener, removes it on stop() and never touches the originals', async () => {
    const { fault, worker } = await run(1, spec({ fraction: 1 }), 40);
    expect(worker.calls).toEqual({ onPublished: 1, intercept: 0, reshape: 0 });
    expect(worker.listeners.size).toBe(0);
    expect(worker.sent).toHaveLength(40);
    expect(worker.published.every((p) => !p.taken && p.item.copy === false)).toBe(true);
    expect(fault.injected().copies).toBe(40);
  });

  it('with fraction 0 republishes nothing', async () => {
    const { fault, worker } = await run(2, spec({ fraction: 0 }), 300);
    expect(worker.republished).toHaveLength(0);
    expect(fault.injected()).toEqual({ copies: 0, immediate: 0, delayed: 0, same_connection: 0, other_connection: 0 });
  });

  it('publishes about `fraction` copies per event, exactly the same number for the same seed', async () => {
    const a = await run(42, spec(), 2000);
    const b = await run(42, spec(), 2000);
    expect(a.fault.injected()).toEqual(b.fault.injected());
    expect(a.worker.republished.map((r) => [r.item.seq, r.via, r.at_ms])).toEqual(b.worker.republished.map((r) => [r.item.seq, r.via, r.at_ms]));
    // Binomial(2000, 0.2): mean 400, sd ~18.
    const copies = a.fault.injected().copies!;
    expect(copies).toBeGreaterThan(310);
    expect(copies).toBeLessThan(490);
    expect(a.worker.republished).toHaveLength(copies);
  });

  it('each copy is the original with copy: true (same bytes, so the same event_id), sent once', async () => {
    const { worker } = await run(3, spec({ fraction: 0.5 }), 200);
    const seen = new Set<string>();
    for (const { item } of worker.republished) {
      const original = worker.published.find((p) => p.item.record === item.record && p.seq === item.seq)!;
      expect(item).not.toBe(original.item);
      expect(item).toEqual({ ...original.item, copy: true });
      expect(original.item.copy).toBe(false);
      const key = `${item.record.source}/${item.seq}`;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
    }
  });

  it('sends immediate copies synchronously and delayed ones exactly delay_ms after the original', async () => {
    const s = spec({ fraction: 0.6, immediate_share: 0.4, delay_ms: 250 });
    const { fault, worker, publishedAt, syncCopies } = await run(4, s, 500);
    const counts = fault.injected();
    expect(syncCopies.reduce((a, b) => a + b, 0)).toBe(counts.immediate);
    expect(syncCopies.every((n) => n <= 1)).toBe(true);
    expect(counts.immediate! + counts.delayed!).toBe(counts.copies);
    expect(counts.immediate).toBeGreaterThan(0);
    expect(counts.delayed).toBeGreaterThan(0);
    for (const r of worker.republished) {
      const index = worker.published.findIndex((p) => p.item.record === r.item.record && p.seq === r.item.seq);
      const wasImmediate = syncCopies[index] === 1;
      if (wasImmediate) {
        expect(r.during).toBe(worker.published[index]!.publisher);
        expect(r.at_ms).toBe(publishedAt[index]);
      } else {
        expect(r.during).toBeUndefined();
        expect(r.at_ms - publishedAt[index]!).toBe(s.delay_ms);
      }
    }
  });

  it('does not send a delayed copy before delay_ms', async () => {
    vi.useFakeTimers();
    const fault = duplicateFault(spec({ fraction: 1, immediate_share: 0, delay_ms: 100 }));
    const worker = started(fault, 5);
    worker.publish(0);
    expect(worker.republished).toHaveLength(0);
    vi.advanceTimersByTime(99);
    expect(worker.republished).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(worker.republished).toHaveLength(1);
    await fault.stop();
  });

  it('stop() resolves only after every pending delayed copy was sent', async () => {
    vi.useFakeTimers();
    const fault = duplicateFault(spec({ fraction: 1, immediate_share: 0, delay_ms: 1000 }));
    const worker = started(fault, 6);
    worker.publish(0);
    vi.advanceTimersByTime(400);
    worker.publish(1);
    let done = false;
    const stopped = fault.stop().then(() => (done = true));
    // No new copies after stop(), but the pending ones still go out.
    worker.publish(2);
    await vi.advanceTimersByTimeAsync(599);
    expect(done).toBe(false);
    expect(worker.republished).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(worker.republished).toHaveLength(1);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(399);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopped;
    expect(done).toBe(true);
    expect(worker.republished.map((r) => r.item.seq)).toEqual([0, 0]);
    expect(worker.republished.map((r) => r.item.record.source)).toEqual(['pub-0', 'pub-1']);
    expect(fault.injected().copies).toBe(2);
  });

  it('stop() resolves at once when nothing is pending', async () => {
    vi.useFakeTimers();
    const fault = duplicateFault(spec({ fraction: 1, immediate_share: 1 }));
    const worker = started(fault, 7);
    worker.publishAll([0, 1, 2]);
    await expect(fault.stop()).resolves.toBeUndefined();
    expect(worker.republished).toHaveLength(3);
  });

  it('sends other-connection copies from the other connection and the rest from the original publisher, as counted', async () => {
    const s = spec({ fraction: 0.5, other_connection_share: 0.3 });
    const { fault, worker } = await run(8, s, 1500);
    const counts = fault.injected();
    const other = worker.republished.filter((r) => r.via === 'other-connection');
    const same = worker.republished.filter((r) => r.via !== 'other-connection');
    expect(other).toHaveLength(counts.other_connection!);
    expect(same).toHaveLength(counts.same_connection!);
    expect(counts.other_connection! + counts.same_connection!).toBe(counts.copies);
    for (const r of same) expect(r.via).toEqual({ publisher: Number(r.item.record.source.slice('pub-'.length)) });
    // Share ~0.3 of ~750 copies (sd ~13).
    const share = counts.other_connection! / counts.copies!;
    expect(share).toBeGreaterThan(0.22);
    expect(share).toBeLessThan(0.38);
  });

  it('honours the extreme shares', async () => {
    const allOther = await run(9, spec({ fraction: 1, immediate_share: 1, other_connection_share: 1 }), 50);
    expect(allOther.worker.republished.every((r) => r.via === 'other-connection')).toBe(true);
    expect(allOther.fault.injected()).toMatchObject({ copies: 50, immediate: 50, delayed: 0, other_connection: 50, same_connection: 0 });
    const allSame = await run(9, spec({ fraction: 1, immediate_share: 0, other_connection_share: 0 }), 50);
    expect(allSame.worker.republished.every((r) => r.via !== 'other-connection')).toBe(true);
    expect(allSame.fault.injected()).toMatchObject({ copies: 50, immediate: 0, delayed: 50, other_connection: 0, same_connection: 50 });
  });
});
