// Unit tests of the publish faults (reorder, poison, clock-skew, duplicate) against a fake
// PublishFaultContext that drives the hooks the way the load worker does (engine/load/worker.ts):
// for each event, reshape hooks, then intercept hooks (the first returning true takes the event,
// otherwise it is sent at once), then the onPublished listeners. No broker, no process, no real timer.

import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoMicros } from '../../aggregator/clock.ts';
import { parseEvent, serializeEvent } from '../../aggregator/event/parse.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type Event, type ParseOptions } from '../../aggregator/event/types.ts';
import { deriveSeed, seededRandom, type Random } from '../../aggregator/random.ts';
import { DUPLICATE_EXPONENTIAL_CAP, type DuplicateFault, type PoisonShape, type ReorderFault } from '../../scenarios/schema.ts';
import { eventIdFor } from '../load/identity.ts';
import { SourceRecord } from '../load/log.ts';
import type { Outgoing } from '../load/publishers.ts';
import { clockSkewFault } from './clock-skew.ts';
import { duplicateDelayBeyond, duplicateFault, sampleDuplicateDelay } from './duplicate.ts';
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
      // A plain timer: exact under fake time (the worker's wake-up queue batches: engine/load/wakeups.test.ts).
      later: (delay_ms, task) => void setTimeout(task, delay_ms),
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

const keyOf = (s: { publisher: number; seq: number }) => `${s.publisher}/${s.seq}`;

interface ReorderPublish {
  publisher: number;
  seq: number;
  /** The intercept hook took the event (the worker did not send it). */
  taken: boolean;
  /** Not sent during its own publish: held back by the fault. */
  held: boolean;
  /** Held events of this publisher not yet sent when the publish began. */
  pendingBefore: number;
  /** Originals sent during this publish, in order. */
  sends: Sent[];
}

interface ReorderRun {
  fault: PublishFault;
  worker: FakeWorker;
  publishes: ReorderPublish[];
  /** The hold drawn for each held original ("publisher/seq"). */
  hold: Map<string, number>;
  /** Originals sent before stop(). */
  sentDuringRun: Set<string>;
  /** For each original: later events of its publisher sent before it (from the observed send order). */
  later: Map<string, number>;
}

/**
 * Publish `publishers` in order through a reorder fault, then stop it, observing everything that
 * happens during each publish. Holds are recovered from the fault's draws on the worker's random:
 * one draw per event decides (held iff < fraction), a held event draws once more for its hold,
 * 1 + floor(r * window). The observed held/not-held split is checked against the first draw.
 */
async function runReorder(seed: number, spec: ReorderFault, publishers: readonly number[]): Promise<ReorderRun> {
  const base = seededRandom(deriveSeed(seed, 'worker0.test'));
  let draws: number[] = [];
  const worker = new FakeWorker(() => {
    const r = base();
    draws.push(r);
    return r;
  });
  const fault = reorderFault(spec);
  fault.start(worker.context());
  const pending = new Map<number, Set<string>>();
  const hold = new Map<string, number>();
  const publishes: ReorderPublish[] = [];
  for (const p of publishers) {
    draws = [];
    const before = worker.sent.length;
    const pendingBefore = pending.get(p)?.size ?? 0;
    const { seq, taken } = worker.publish(p);
    const sends = worker.sent.slice(before);
    const key = keyOf({ publisher: p, seq });
    const held = !sends.some((s) => keyOf(s) === key);
    expect(draws.length, key).toBe(held ? 2 : 1);
    if (held) {
      expect(draws[0], key).toBeLessThan(spec.fraction);
      hold.set(key, 1 + Math.floor(draws[1]! * spec.window));
      if (!pending.has(p)) pending.set(p, new Set());
      pending.get(p)!.add(key);
    } else {
      expect(draws[0], key).toBeGreaterThanOrEqual(spec.fraction);
    }
    for (const s of sends) pending.get(s.publisher)?.delete(keyOf(s));
    publishes.push({ publisher: p, seq, taken, held, pendingBefore, sends });
  }
  const sentDuringRun = new Set(worker.sent.map(keyOf));
  await fault.stop();
  return { fault, worker, publishes, hold, sentDuringRun, later: laterSentBefore(worker.sent) };
}

describe('reorder fault', () => {
  const reorder = (fraction: number, window: number): ReorderFault => ({ kind: 'reorder', fraction, window });
  const anySeed = fc.integer({ min: 0, max: 2 ** 32 - 1 });

  it('registers one intercept hook and removes it on stop()', async () => {
    const fault = reorderFault(reorder(0.5, 3));
    const worker = started(fault, 1);
    expect(worker.calls).toEqual({ onPublished: 0, intercept: 1, reshape: 0 });
    expect(worker.interceptors.size).toBe(1);
    await fault.stop();
    expect(worker.interceptors.size).toBe(0);
  });

  it('with fraction 0 the intercept hook never takes an event: each is sent at once by the worker, in publish order', async () => {
    const fault = reorderFault(reorder(0, 5));
    const worker = started(fault, 11);
    worker.publishAll(Array.from({ length: 300 }, (_, i) => i % 3));
    expect(worker.published.every((p) => !p.taken)).toBe(true);
    expect(worker.sent.map(keyOf)).toEqual(worker.published.map(keyOf));
    await fault.stop();
    expect(worker.sent).toHaveLength(300);
    expect(fault.injected()).toEqual({ held: 0, reordered: 0, in_order: 0, max_hold: 0 });

    await fc.assert(
      fc.asyncProperty(anySeed, fc.integer({ min: 1, max: 12 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 200 }), async (seed, window, publishers) => {
        const run = await runReorder(seed, reorder(0, window), publishers);
        for (const p of run.publishes) {
          expect(p.taken).toBe(false);
          expect(p.sends.map(keyOf)).toEqual([keyOf(p)]);
        }
        expect(run.worker.sent.map(keyOf)).toEqual(run.worker.published.map(keyOf));
        expect(run.fault.injected()).toEqual({ held: 0, reordered: 0, in_order: 0, max_hold: 0 });
      }),
      { numRuns: 100 },
    );
  });

  // With fraction 1 no event of a publisher is ever sent during the run, so no held event has a
  // later one sent before it: stop() sends them all in seq order and none is counted as reordered.
  it('with fraction 1 holds every event, sends none before stop(), and stop() sends them in seq order (in_order, not reordered)', async () => {
    for (const window of [1, 4]) {
      const fault = reorderFault(reorder(1, window));
      const worker = started(fault, 5);
      const publishers = Array.from({ length: 150 }, (_, i) => (i * 5) % 3);
      for (const p of publishers) expect(worker.publish(p).taken).toBe(true);
      expect(worker.sent).toHaveLength(0);
      await fault.stop();
      expect(worker.sent.every((s) => s.during === undefined)).toBe(true);
      for (const p of [0, 1, 2]) expect(worker.sent.filter((s) => s.publisher === p).map((s) => s.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(reorderedCount(worker.sent)).toBe(0);
      const counts = fault.injected();
      expect(counts).toMatchObject({ held: 150, reordered: 0, in_order: 150 });
      expect(counts.max_hold).toBeGreaterThanOrEqual(1);
      expect(counts.max_hold).toBeLessThanOrEqual(window);
    }
  });

  it('after stop() every event has been sent exactly once, whatever the fraction, window and interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        anySeed,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 250 }),
        async (seed, fraction, window, publishers) => {
          const { fault, worker, publishes, hold } = await runReorder(seed, reorder(fraction, window), publishers);
          expect(worker.sent).toHaveLength(publishers.length);
          expect([...worker.sendCalls.values()].every((n) => n === 1)).toBe(true);
          expect(worker.sendCalls.size).toBe(publishers.length);
          expect(worker.sent.map(keyOf).sort()).toEqual(worker.published.map(keyOf).sort());
          // Each sent item is the original object published for that (publisher, seq).
          for (const s of worker.sent) expect(s.item).toBe(worker.published.find((p) => keyOf(p) === keyOf(s))!.item);
          const counts = fault.injected();
          expect(Object.keys(counts).sort()).toEqual(['held', 'in_order', 'max_hold', 'reordered']);
          expect(counts.held).toBe(publishes.filter((p) => p.held).length);
          expect(counts.reordered! + counts.in_order!).toBe(counts.held);
          expect(counts.max_hold).toBe(Math.max(0, ...hold.values()));
          expect(counts.max_hold).toBeLessThanOrEqual(window);
          if (counts.held! > 0) expect(counts.max_hold).toBeGreaterThanOrEqual(1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('takes an event exactly when it holds it or its publisher has held events, and then sends that event first, itself', async () => {
    await fc.assert(
      fc.asyncProperty(
        anySeed,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 250 }),
        async (seed, fraction, window, publishers) => {
          const { publishes } = await runReorder(seed, reorder(fraction, window), publishers);
          for (const p of publishes) {
            const key = keyOf(p);
            expect(p.taken, key).toBe(p.held || p.pendingBefore > 0);
            // A publish only ever sends events of its own publisher.
            for (const s of p.sends) {
              expect(s.publisher, key).toBe(p.publisher);
              expect(s.during, key).toBe(p.publisher);
            }
            if (p.held) expect(p.sends, key).toHaveLength(0); // nothing later was sent, so nothing is due
            else if (!p.taken) expect(p.sends.map(keyOf), key).toEqual([key]); // sent by the worker, alone
            else expect(keyOf(p.sends[0]!), key).toBe(key); // sent by the fault, before any release
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sends each held event released during the run after 1..hold (<= window) later events of its own publisher', async () => {
    await fc.assert(
      fc.asyncProperty(
        anySeed,
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 250 }),
        async (seed, fraction, window, publishers) => {
          const { worker, hold, sentDuringRun, later } = await runReorder(seed, reorder(fraction, window), publishers);
          for (const s of worker.sent) {
            const key = keyOf(s);
            const n = later.get(key)!;
            expect(n, key).toBeLessThanOrEqual(window);
            const h = hold.get(key);
            if (h === undefined) {
              // Not held: sent during its own publish, before any later event of its publisher.
              expect(s.during, key).toBe(s.publisher);
              expect(n, key).toBe(0);
              continue;
            }
            expect(h, key).toBeGreaterThanOrEqual(1);
            expect(h, key).toBeLessThanOrEqual(window);
            if (sentDuringRun.has(key)) {
              // Released by a publish of its own publisher, once `hold` later events had gone out.
              expect(s.during, key).toBe(s.publisher);
              expect(n, key).toBeGreaterThanOrEqual(1);
              expect(n, key).toBeLessThanOrEqual(h);
            } else {
              // Still held at stop(): its hold was not reached.
              expect(s.during, key).toBeUndefined();
              expect(n, key).toBeLessThan(h);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  // The same bound on fixed seeds (the property above only finds a violation on some runs), and
  // on a hand-written trace. A release is itself a later event sent: in the trace, E (hold 2) has
  // X1 and then F (hold 1, released by X1) go out before it, so its hold is reached right there.
  it('the hold bound holds on fixed seeds, counting released held events as later events sent', async () => {
    for (const [fraction, window] of [[0.05, 20], [0.3, 3], [0.5, 2]] as const) {
      for (let seed = 1; seed <= 10; seed++) {
        const { hold, sentDuringRun, later } = await runReorder(seed, reorder(fraction, window), Array.from({ length: 300 }, (_, i) => i % 2));
        for (const [key, h] of hold) if (sentDuringRun.has(key)) expect(later.get(key), `${fraction}/${window} seed ${seed}: ${key} (hold ${h})`).toBeLessThanOrEqual(h);
      }
    }
  });

  it('a held event whose hold is reached by the release of a later held event goes out right after it (trace)', async () => {
    // Draws: decide (held iff < 0.5), then for a held event its hold, 1 + floor(r * 2).
    const script = [0, 0.99, /* E: held, hold 2 */ 0, 0, /* F: held, hold 1 */ 0.9, /* X1 */ 0, 0, /* G: held, hold 1 */ 0.9 /* X2 */];
    const worker = new FakeWorker(() => script.shift()!);
    const fault = reorderFault(reorder(0.5, 2));
    fault.start(worker.context());
    const names = ['E', 'F', 'X1', 'G', 'X2'];
    worker.publishAll([0, 0, 0, 0, 0]);
    await fault.stop();
    expect(script).toHaveLength(0);
    expect(worker.sent.map((s) => names[s.seq])).toEqual(['X1', 'F', 'E', 'X2', 'G']); // E after X1, F: its 2 later events
    expect(fault.injected()).toEqual({ held: 3, reordered: 3, in_order: 0, max_hold: 2 });
  });

  it('every held event released during the run is sent after at least one later event of its publisher', async () => {
    const { worker, hold, sentDuringRun, later } = await runReorder(8, reorder(0.3, 3), Array.from({ length: 300 }, () => 0));
    const releasedDuringRun = [...hold.keys()].filter((key) => sentDuringRun.has(key));
    expect(releasedDuringRun.length).toBeGreaterThan(50);
    for (const key of releasedDuringRun) expect(later.get(key), key).toBeGreaterThanOrEqual(1);
    expect(worker.sent).toHaveLength(300);
  });

  it('counts as reordered exactly the events sent after a higher seq of their publisher, and the other held ones as in_order', async () => {
    await fc.assert(
      fc.asyncProperty(
        anySeed,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 300 }),
        async (seed, fraction, window, publishers) => {
          const { fault, worker, hold, later } = await runReorder(seed, reorder(fraction, window), publishers);
          const counts = fault.injected();
          expect(reorderedCount(worker.sent)).toBe(counts.reordered);
          const heldKeys = [...hold.keys()];
          expect(heldKeys.filter((key) => later.get(key)! >= 1)).toHaveLength(counts.reordered!);
          expect(heldKeys.filter((key) => later.get(key) === 0)).toHaveLength(counts.in_order!);
          expect(counts.held).toBe(counts.reordered! + counts.in_order!);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the shipped 5 % / window 20: injected().reordered equals the number of events sent after a higher seq', async () => {
    const fault = reorderFault(reorder(0.05, 20));
    const worker = new FakeWorker(seededRandom(7));
    fault.start(worker.context());
    worker.publishAll(Array.from({ length: 20_000 }, () => 0));
    await fault.stop();
    const counts = fault.injected();
    expect(counts.held).toBeGreaterThan(900); // Binomial(20000, 0.05): ~1000
    expect(reorderedCount(worker.sent)).toBe(counts.reordered);
    expect(counts.held).toBe(counts.reordered! + counts.in_order!);
    expect(counts.in_order).toBeLessThanOrEqual(20); // only the tail can still be held at stop()
    expect(counts.max_hold).toBe(20);
  });

  it('fraction 1, window 1 holds every event and reports none of them as reordered', async () => {
    const fault = reorderFault(reorder(1, 1));
    const worker = started(fault, 5);
    worker.publishAll(Array.from({ length: 50 }, () => 0));
    await fault.stop();
    expect(worker.sent.map((s) => s.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(fault.injected()).toEqual({ held: 50, reordered: 0, in_order: 50, max_hold: 1 });
    expect(reorderedCount(worker.sent)).toBe(fault.injected().reordered);
  });

  it('keeps publishers independent: many events of another publisher never release (or count towards) a held event', async () => {
    // The first seed (from 0) whose first event of publisher 0 is held at fraction 0.5.
    let seed = 0;
    for (; ; seed++) {
      const probe = reorderFault(reorder(0.5, 2));
      if (started(probe, seed).publish(0).taken) break;
    }
    const fault = reorderFault(reorder(0.5, 2));
    const worker = started(fault, seed);
    expect(worker.publish(0).taken).toBe(true); // held
    worker.publishAll(Array.from({ length: 100 }, () => 1));
    expect(worker.sent.some((s) => s.publisher === 0)).toBe(false);
    expect(worker.sent.filter((s) => s.publisher === 1).every((s) => s.during === 1)).toBe(true);
    // Publisher 0's own later events release it, once 1..2 of them have been sent.
    for (let i = 0; i < 40 && !worker.sent.some((s) => s.publisher === 0 && s.seq === 0); i++) worker.publish(0);
    const released = worker.sent.findIndex((s) => s.publisher === 0 && s.seq === 0);
    expect(released).toBeGreaterThanOrEqual(0);
    expect(worker.sent[released]!.during).toBe(0);
    const laterFirst = worker.sent.slice(0, released).filter((s) => s.publisher === 0 && s.seq > 0).length;
    expect(laterFirst).toBeGreaterThanOrEqual(1);
    expect(laterFirst).toBeLessThanOrEqual(2);
    const published0 = worker.published.filter((p) => p.publisher === 0).length;
    await fault.stop();
    expect(worker.sent.filter((s) => s.publisher === 0)).toHaveLength(published0);
    expect(worker.sent.filter((s) => s.publisher === 1)).toHaveLength(100);
  });

  it('is reproducible: the same seed gives the same send order', async () => {
    const run = async (seed: number) => {
      const fault = reorderFault(reorder(0.3, 5));
      const worker = started(fault, seed);
      worker.publishAll(Array.from({ length: 400 }, (_, i) => (i * 7) % 3));
      await fault.stop();
      return { order: worker.sent.map(keyOf), counts: fault.injected() };
    };
    expect(await run(99)).toEqual(await run(99));
    expect((await run(99)).order).not.toEqual((await run(100)).order);
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

  // The validator accepts any finite skew_ms; a sub-microsecond part (1.2345 ms = 1234.5 µs) must
  // still give a valid ts (rounded to whole microseconds), or every event of that publisher would
  // land in the DLQ instead of being merely mistimed.
  it('a fractional skew_ms (1.2345) still yields a valid ISO ts with microseconds', () => {
    const fault = clockSkewFault({ kind: 'clock-skew', publisher: 0, skew_ms: 1.2345 });
    const worker = started(fault, 1);
    worker.publish(0, T0_US);
    const { event, item } = worker.published[0]!;
    expect(event.ts).toMatch(ISO_MICROS); // was 2026-01-01T00:00:00.124690.5Z
    expect(parseEvent(item.payload)).toEqual({ ok: true, event });
    // 1234.5 µs rounds to 1235 µs (whole microseconds), never more than half a microsecond off.
    expect(event.ts).toBe(isoMicros(T0_US + 1235));
  });

  it('any finite fractional skew_ms yields a valid ts within half a microsecond of the exact skew', () => {
    fc.assert(
      fc.property(fc.double({ min: -3_600_000, max: 3_600_000, noNaN: true }), fc.integer({ min: 0, max: 10_000_000_000 }), (skew_ms, offset) => {
        const fault = clockSkewFault({ kind: 'clock-skew', publisher: 0, skew_ms });
        const worker = started(fault, 1);
        const intended = T0_US + offset;
        worker.publish(0, intended);
        const { event, item } = worker.published[0]!;
        expect(event.ts).toMatch(ISO_MICROS);
        expect(parseEvent(item.payload)).toEqual({ ok: true, event });
        const us = Number(event.ts.slice(20, 26));
        const shiftedUs = Date.parse(event.ts) * 1000 + (us % 1000);
        expect(Math.abs(shiftedUs - (intended + skew_ms * 1000))).toBeLessThanOrEqual(0.5 + 1e-6);
        expect(event.bench).toEqual({ intended_us: intended }); // the true send time is untouched
      }),
      { numRuns: 200 },
    );
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

  it("waits out its delays on the worker's wake-ups (context.later), not on a timer per copy", async () => {
    vi.useFakeTimers();
    const fault = duplicateFault(spec({ fraction: 1, immediate_share: 0, delay_ms: 300 }));
    const worker = new FakeWorker(seededRandom(9));
    const queued: { delay_ms: number; task: () => void }[] = [];
    fault.start({ ...worker.context(), later: (delay_ms, task) => void queued.push({ delay_ms, task }) });
    worker.publishAll([0, 1, 2]);
    let done = false;
    const stopped = fault.stop().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(worker.republished).toHaveLength(0); // nothing of its own fired
    expect(queued.map((q) => q.delay_ms)).toEqual([300, 300, 300]);
    for (const { task } of queued.splice(0, 2)) task();
    await vi.advanceTimersByTimeAsync(0);
    expect(worker.republished).toHaveLength(2);
    expect(done).toBe(false);
    queued.shift()!.task();
    await stopped;
    expect(worker.republished.map((r) => r.item.record.source)).toEqual(['pub-0', 'pub-1', 'pub-2']);
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

  describe('delay distributions', () => {
    /** Delays of the delayed copies of a run, each measured from its original's publish (fake ms). */
    function delaysOf(r: Awaited<ReturnType<typeof run>>): number[] {
      return r.worker.republished.map((copy) => {
        const index = r.worker.published.findIndex((p) => p.item.record === copy.item.record && p.seq === copy.item.seq);
        return copy.at_ms - r.publishedAt[index]!;
      });
    }

    it("'fixed' is the default and draws nothing more: the same copies at the same times as without the field", async () => {
      const without = await run(11, spec({ fraction: 0.5, immediate_share: 0.3 }), 400);
      const fixed = await run(11, spec({ fraction: 0.5, immediate_share: 0.3, delay_distribution: 'fixed' }), 400);
      expect(fixed.worker.republished.map((r) => [r.item.seq, r.via, r.at_ms])).toEqual(without.worker.republished.map((r) => [r.item.seq, r.via, r.at_ms]));
      expect(fixed.fault.injected()).toEqual(without.fault.injected());
      let draws = 0;
      expect(sampleDuplicateDelay({ delay_ms: 70 }, () => (draws++, 0.5))).toBe(70);
      expect(draws).toBe(0);
    });

    it("'uniform' spreads delays over [0, delay_ms) with the uniform's quartiles", () => {
      const random = seededRandom(12);
      const delays = Array.from({ length: 20_000 }, () => sampleDuplicateDelay({ delay_ms: 400, delay_distribution: 'uniform' }, random));
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...delays)).toBeLessThan(400);
      for (const q of [100, 200, 300]) {
        const share = delays.filter((d) => d > q).length / delays.length;
        expect(Math.abs(share - duplicateDelayBeyond({ delay_ms: 400, delay_distribution: 'uniform' }, q))).toBeLessThan(0.015);
      }
    });

    it("'exponential' has mean ≈ delay_ms, the exponential's tail, and is capped at DUPLICATE_EXPONENTIAL_CAP means", () => {
      const random = seededRandom(13);
      const s = { delay_ms: 1_000, delay_distribution: 'exponential' } as const;
      const delays = Array.from({ length: 40_000 }, () => sampleDuplicateDelay(s, random));
      const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
      // Capped mean: (1 - e^-5) × 1000 ≈ 993; sd of the mean ≈ 5.
      expect(mean).toBeGreaterThan(970);
      expect(mean).toBeLessThan(1_015);
      expect(Math.max(...delays)).toBe(DUPLICATE_EXPONENTIAL_CAP * 1_000);
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
      for (const t of [100, 300, 1_000, 3_000]) {
        const share = delays.filter((d) => d > t).length / delays.length;
        expect(Math.abs(share - duplicateDelayBeyond(s, t)), `P(delay > ${t})`).toBeLessThan(0.01);
      }
      expect(duplicateDelayBeyond(s, 1_000)).toBeCloseTo(Math.exp(-1), 12);
      expect(duplicateDelayBeyond(s, 5_000)).toBe(0);
      expect(duplicateDelayBeyond(s, 10_000)).toBe(0);
    });

    it('duplicateDelayBeyond: a fixed delay is all-or-nothing, a uniform one linear', () => {
      expect(duplicateDelayBeyond({ delay_ms: 500 }, 499)).toBe(1);
      expect(duplicateDelayBeyond({ delay_ms: 500 }, 500)).toBe(0);
      expect(duplicateDelayBeyond({ delay_ms: 500, delay_distribution: 'uniform' }, 125)).toBe(0.75);
      expect(duplicateDelayBeyond({ delay_ms: 500, delay_distribution: 'uniform' }, 600)).toBe(0);
      expect(duplicateDelayBeyond({ delay_ms: 500, delay_distribution: 'exponential' }, -1)).toBe(1);
    });

    it('draws each copy its own seeded delay: the same for the same seed, spread otherwise', async () => {
      const s = spec({ fraction: 0.5, immediate_share: 0, delay_ms: 200, delay_distribution: 'exponential' });
      const a = await run(14, s, 300);
      const b = await run(14, s, 300);
      expect(delaysOf(a)).toEqual(delaysOf(b));
      const delays = delaysOf(a);
      expect(new Set(delays).size).toBeGreaterThan(50);
      expect(Math.max(...delays)).toBeLessThanOrEqual(Math.ceil(DUPLICATE_EXPONENTIAL_CAP * 200));
      expect(a.fault.injected().delayed).toBe(delays.length);
    });

    it('stop() waits for the latest exponential copy, which the cap bounds', async () => {
      vi.useFakeTimers();
      // A random source that lands the first delay on the cap: u → 1 gives -ln(1 - u) → ∞.
      const draws = [0, 0.5, 0.5, 1 - 1e-12, 0, 0.5, 0.5, 0.1];
      const fault = duplicateFault(spec({ fraction: 1, immediate_share: 0.4, delay_ms: 100, delay_distribution: 'exponential' }));
      const worker = new FakeWorker(() => draws.shift() ?? 0);
      fault.start(worker.context());
      worker.publish(0); // delayed by the cap, 500 ms
      worker.publish(1); // delayed by -100 ln(0.9) ≈ 10.5 ms
      let done = false;
      const stopped = fault.stop().then(() => (done = true));
      await vi.advanceTimersByTimeAsync(100);
      expect(worker.republished).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(399);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await stopped;
      expect(done).toBe(true);
      expect(worker.republished.map((r) => r.item.record.source)).toEqual(['pub-1', 'pub-0']);
    });
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
