import { describe, expect, it } from 'vitest';
import { ACKED, COPIES_ACKED_SHIFT, FAILED, PublishLog, QUEUED, SENT, SourceRecord, TIMED_OUT, emptyPublishCounters, type PublishLogSnapshot } from './log.ts';

const T0 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z in µs

const intendedAt = (seq: number) => T0 + seq * 500;

/** A log of `n` events of `source`, every third acked, as a worker fills it. */
function filled(log: PublishLog, source: string, n: number): void {
  const record = log.record(source);
  for (let seq = 0; seq < n; seq++) {
    log.add(record, seq, intendedAt(seq));
    log.sent(record, seq, false);
    if (seq % 3 === 0) log.acked(record, seq, false);
  }
}

function expectData(record: { count: number; flags: Uint8Array; intended_us: Float64Array }, n: number): void {
  expect(record.count).toBe(n);
  for (let seq = 0; seq < n; seq++) {
    // The original's own flags; bits from COPIES_ACKED_SHIFT up count its acked copies.
    expect(record.flags[seq]! & ((1 << COPIES_ACKED_SHIFT) - 1)).toBe(seq % 3 === 0 ? QUEUED | SENT | ACKED : QUEUED | SENT);
    expect(record.intended_us[seq]).toBe(intendedAt(seq));
  }
}

describe('SourceRecord', () => {
  it('grows beyond its initial capacity and keeps what it held', () => {
    const record = new SourceRecord('pub-0', 4);
    expect(record.flags.length).toBe(4);
    for (let seq = 0; seq < 4; seq++) {
      record.add(seq, intendedAt(seq));
      record.flags[seq] = seq + 1;
    }
    record.add(4, intendedAt(4)); // one past the capacity
    expect(record.flags.length).toBeGreaterThanOrEqual(5);
    expect(record.intended_us.length).toBe(record.flags.length);
    expect(record.count).toBe(5);
    expect([...record.flags.subarray(0, 5)]).toEqual([1, 2, 3, 4, 0]);
    expect([...record.intended_us.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4].map(intendedAt));

    record.add(100, intendedAt(100)); // far past it, leaving a gap
    expect(record.flags.length).toBeGreaterThanOrEqual(101);
    expect(record.count).toBe(101);
    expect([...record.flags.subarray(0, 5)]).toEqual([1, 2, 3, 4, 0]);
    expect(record.flags[50]).toBe(0);
    expect(record.intended_us[50]).toBe(0);
    expect(record.intended_us[100]).toBe(intendedAt(100));
  });

  it('grows from a capacity of 0 on its first add (and keeps growing)', () => {
    const record = new SourceRecord('pub-0', 0);
    expect(record.flags.length).toBe(0);
    expect(record.intended_us.length).toBe(0);
    record.add(0, intendedAt(0));
    expect(record.flags.length).toBeGreaterThanOrEqual(1);
    expect(record.intended_us.length).toBe(record.flags.length);
    expect(record.count).toBe(1);
    expect(record.intended_us[0]).toBe(intendedAt(0));
    record.flags[0] = 7;
    record.add(9, intendedAt(9));
    expect(record.flags.length).toBeGreaterThanOrEqual(10);
    expect(record.intended_us.length).toBe(record.flags.length);
    expect(record.count).toBe(10);
    expect(record.flags[0]).toBe(7);
    expect(record.intended_us[0]).toBe(intendedAt(0));
    expect(record.intended_us[9]).toBe(intendedAt(9));
    // Through the log too: an empty record sets QUEUED on the grown slot.
    const log = new PublishLog();
    const empty = new SourceRecord('pub-1', 0);
    log.add(empty, 2, intendedAt(2));
    expect(empty.count).toBe(3);
    expect([...empty.flags.subarray(0, 3)]).toEqual([0, 0, QUEUED]);
    expect(log.counters.published).toBe(1);
  });

  it('takes seqs out of order: count is one past the highest seq, lower ones fill in', () => {
    const record = new SourceRecord('pub-0', 2);
    record.add(9, intendedAt(9));
    record.add(3, intendedAt(3));
    record.add(0, intendedAt(0));
    expect(record.count).toBe(10);
    expect(record.intended_us[3]).toBe(intendedAt(3));
    expect(record.intended_us[9]).toBe(intendedAt(9));
    expect(record.intended_us[5]).toBe(0);
  });

  it('keeps a full log of thousands of events through many doublings of the default capacity', () => {
    const log = new PublishLog();
    filled(log, 'pub-0', 5_000);
    const record = log.sources.get('pub-0')!;
    expect(record.flags.length).toBeGreaterThanOrEqual(5_000);
    expectData(record, 5_000);
  });
});

describe('PublishLog', () => {
  it('keeps one record per source', () => {
    const log = new PublishLog();
    const a = log.record('pub-a');
    expect(log.record('pub-a')).toBe(a);
    const b = log.record('pub-b');
    expect(b).not.toBe(a);
    expect([...log.sources.keys()]).toEqual(['pub-a', 'pub-b']);
    expect(a.source).toBe('pub-a');
  });

  it('sets the flags of originals: queued, sent, acked, failed, timed out (and a late PUBACK after a timeout)', () => {
    const log = new PublishLog();
    const record = log.record('pub-0');
    for (let seq = 0; seq < 6; seq++) log.add(record, seq, intendedAt(seq));
    // Queued as soon as it is handed to a connection, before it is sent.
    expect([...record.flags.subarray(0, 6)]).toEqual([QUEUED, QUEUED, QUEUED, QUEUED, QUEUED, QUEUED]);

    for (let seq = 0; seq < 5; seq++) log.sent(record, seq, false); // seq 5 never leaves
    log.acked(record, 1, false);
    log.failed(record, 2, false, false);
    log.failed(record, 3, false, true);
    log.failed(record, 4, false, true);
    log.acked(record, 4, false);

    expect([...record.flags.subarray(0, 6)]).toEqual([
      QUEUED | SENT,
      QUEUED | SENT | ACKED,
      QUEUED | SENT | FAILED,
      QUEUED | SENT | TIMED_OUT,
      QUEUED | SENT | TIMED_OUT | ACKED,
      QUEUED, // never left the window: still published
    ]);
    expect(QUEUED).toBe(16);
    const all = [QUEUED, SENT, ACKED, FAILED, TIMED_OUT];
    for (const flag of all) expect(flag & (flag - 1)).toBe(0); // single bits
    expect(all.reduce((acc, flag) => acc | flag, 0)).toBe(all.reduce((acc, flag) => acc + flag, 0)); // distinct bits
    expect(all.reduce((acc, flag) => acc | flag, 0)).toBeLessThan(256); // fits the flag byte
  });

  it("counts copies without touching their original's own flags; acked copies are counted in bits 5-7, saturating at 7", () => {
    const log = new PublishLog();
    const record = log.record('pub-0');
    log.add(record, 0, intendedAt(0));
    log.sent(record, 0, false);
    log.sent(record, 0, true);
    log.sent(record, 0, true);
    log.acked(record, 0, true);
    const own = QUEUED | SENT | ACKED | FAILED | TIMED_OUT;
    expect(record.flags[0]! & own).toBe(QUEUED | SENT); // the original itself is not acked
    expect(record.flags[0]! >> COPIES_ACKED_SHIFT).toBe(1);
    log.failed(record, 0, true, false);
    log.failed(record, 0, true, true);
    expect(record.flags[0]! & own).toBe(QUEUED | SENT);
    for (let copy = 0; copy < 9; copy++) log.acked(record, 0, true);
    expect(record.flags[0]! >> COPIES_ACKED_SHIFT).toBe(7);
    log.acked(record, 0, false);
    expect(record.flags[0]).toBe(QUEUED | SENT | ACKED | (7 << COPIES_ACKED_SHIFT));
    expect(log.counters.copies_acked).toBe(10);
  });

  it('counts published originals, acks of originals and copies, copies, errors and timeouts', () => {
    const log = new PublishLog();
    expect(log.counters).toEqual(emptyPublishCounters());
    expect(emptyPublishCounters()).toEqual({ published: 0, acked: 0, copies_sent: 0, copies_acked: 0, publish_errors: 0, puback_timeouts: 0, raw_acked: 0 });
    const a = log.record('pub-a');
    const b = log.record('pub-b');
    for (let seq = 0; seq < 4; seq++) {
      log.add(a, seq, intendedAt(seq));
      log.sent(a, seq, false);
    }
    log.add(b, 0, intendedAt(0));
    log.sent(b, 0, false);

    log.acked(a, 0, false);
    log.acked(a, 1, false);
    log.failed(a, 2, false, false);
    log.failed(a, 3, false, true);
    log.acked(a, 3, false); // late PUBACK
    log.sent(b, 0, true);
    log.sent(b, 0, true);
    log.acked(b, 0, true);
    log.failed(b, 0, true, true);

    expect(log.counters).toEqual({ published: 5, acked: 4, copies_sent: 2, copies_acked: 1, publish_errors: 1, puback_timeouts: 2, raw_acked: 0 });
    expect(log.events).toBe(5);
  });

  it('counts events as the seqs each source spans, gaps included', () => {
    const log = new PublishLog();
    expect(log.events).toBe(0);
    const record = log.record('pub-0');
    log.add(record, 0, intendedAt(0));
    log.add(record, 3, intendedAt(3));
    log.record('pub-1'); // a source with nothing yet
    expect(log.events).toBe(4);
    expect(log.counters.published).toBe(2);
    // The seqs never added stay 0: a gap, told apart from a queued seq by its flags alone.
    expect([...record.flags.subarray(0, 4)]).toEqual([QUEUED, 0, 0, QUEUED]);
  });

  describe('snapshot', () => {
    it('hands over the log\'s own buffers (no copy) with counts and a copy of the counters, listing each buffer to transfer', () => {
      const log = new PublishLog();
      filled(log, 'pub-a', 1_500);
      filled(log, 'pub-b', 3);
      log.record('pub-c'); // empty
      const { snapshot, transferList } = log.snapshot();

      expect(snapshot.sources.map((s) => [s.source, s.count])).toEqual([
        ['pub-a', 1_500],
        ['pub-b', 3],
        ['pub-c', 0],
      ]);
      for (const s of snapshot.sources) {
        // The very arrays of the log: a long run's log is never held twice.
        expect(s.flags).toBe(log.sources.get(s.source)!.flags);
        expect(s.intended_us).toBe(log.sources.get(s.source)!.intended_us);
        expect(s.flags.length).toBeGreaterThanOrEqual(s.count);
        expectData(s, s.count);
      }
      expect(snapshot.counters).toEqual(log.counters);
      expect(snapshot.counters).not.toBe(log.counters);

      expect(transferList).toHaveLength(6);
      expect(new Set(transferList).size).toBe(6);
      expect(transferList).toEqual(snapshot.sources.flatMap((s) => [s.flags.buffer, s.intended_us.buffer]));
    });

    it('survives a transfer to another thread (structured clone with its transfer list); the sender\'s buffers are detached', () => {
      const log = new PublishLog();
      filled(log, 'pub-a', 10);
      log.record('pub-empty');
      const { snapshot, transferList } = log.snapshot();
      const received = structuredClone(snapshot, { transfer: transferList });
      expect(snapshot.sources[0]!.flags.length).toBe(0);
      expect(log.sources.get('pub-a')!.flags.length).toBe(0);
      expectData(received.sources[0]!, 10);
      const merged = PublishLog.merge([received]);
      expect(merged.sources.get('pub-a')!.count).toBe(10);
      expectData(merged.sources.get('pub-a')!, 10);
      expect(merged.sources.get('pub-empty')!.count).toBe(0);
    });
  });

  describe('merge', () => {
    it('of snapshots with disjoint sources reproduces the data and sums the counters', () => {
      const one = new PublishLog();
      filled(one, 'pub-0', 2_000);
      filled(one, 'pub-2', 7);
      one.sent(one.record('pub-0'), 5, true);
      one.failed(one.record('pub-2'), 1, false, true);
      one.failed(one.record('pub-2'), 2, false, false);
      const two = new PublishLog();
      filled(two, 'pub-1', 30);
      two.record('pub-3'); // a source that published nothing
      two.sent(two.record('pub-1'), 2, true);
      two.acked(two.record('pub-1'), 2, true);
      two.failed(two.record('pub-1'), 4, true, false); // a copy's error: no flag

      const merged = PublishLog.merge([one.snapshot().snapshot, two.snapshot().snapshot]);
      expect([...merged.sources.keys()].sort()).toEqual(['pub-0', 'pub-1', 'pub-2', 'pub-3']);
      expectData(merged.sources.get('pub-0')!, 2_000);
      expectData(merged.sources.get('pub-1')!, 30);
      expect(merged.sources.get('pub-1')!.flags[2]! >> COPIES_ACKED_SHIFT).toBe(1); // its acked copy travels with it
      expect(merged.sources.get('pub-2')!.count).toBe(7);
      expect(merged.sources.get('pub-2')!.flags[1]).toBe(QUEUED | SENT | TIMED_OUT);
      expect(merged.sources.get('pub-2')!.flags[2]).toBe(QUEUED | SENT | FAILED);
      expect(merged.sources.get('pub-3')!.count).toBe(0);
      for (const [source, record] of merged.sources) expect(record.source).toBe(source);

      const sum = emptyPublishCounters();
      for (const counters of [one.counters, two.counters]) {
        for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += counters[k];
      }
      expect(merged.counters).toEqual(sum);
      expect(merged.counters).toMatchObject({ published: 2_037, copies_sent: 2, copies_acked: 1, publish_errors: 2, puback_timeouts: 1 });
      expect(merged.events).toBe(2_037);
    });

    it('gives records that keep working: a merged source grows as before', () => {
      const one = new PublishLog();
      filled(one, 'pub-0', 3);
      const merged = PublishLog.merge([one.snapshot().snapshot]);
      const record = merged.record('pub-0');
      merged.add(record, 3, intendedAt(3));
      merged.sent(record, 3, false);
      merged.add(record, 40, intendedAt(40));
      expect(record.count).toBe(41);
      expect(record.flags[0]).toBe(QUEUED | SENT | ACKED);
      expect(record.flags[3]).toBe(QUEUED | SENT);
      expect(record.flags[40]).toBe(QUEUED);
      expect([...record.flags.subarray(4, 40)].every((f) => f === 0)).toBe(true);
      expect(record.intended_us[40]).toBe(intendedAt(40));
      // The empty source of a snapshot also gets a usable record.
      const empty = new PublishLog();
      empty.record('pub-9');
      const fromEmpty = PublishLog.merge([empty.snapshot().snapshot]).record('pub-9');
      fromEmpty.add(5, intendedAt(5));
      expect(fromEmpty.count).toBe(6);
      expect(fromEmpty.intended_us[5]).toBe(intendedAt(5));
    });

    it('of no snapshots is an empty log', () => {
      const merged = PublishLog.merge([]);
      expect(merged.sources.size).toBe(0);
      expect(merged.counters).toEqual(emptyPublishCounters());
    });

    it('throws when the same source appears in two snapshots', () => {
      const one = new PublishLog();
      filled(one, 'pub-0', 2);
      filled(one, 'pub-1', 2);
      const two = new PublishLog();
      filled(two, 'pub-1', 5);
      const snapshots: PublishLogSnapshot[] = [one.snapshot().snapshot, two.snapshot().snapshot];
      expect(() => PublishLog.merge(snapshots)).toThrow(/pub-1/);
      // Even the same snapshot twice.
      expect(() => PublishLog.merge([snapshots[0]!, snapshots[0]!])).toThrow(/more than one worker/);
    });
  });
});
