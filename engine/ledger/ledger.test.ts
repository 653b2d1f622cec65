import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SinkRow } from '../../aggregator/sink/index.ts';
import { ACKED, PublishLog, QUEUED, SENT } from '../load/log.ts';
import { buildLedger, buildLedgerAsync, deadLetterKey, type DeadLetterKey, type Ledger, type LedgerInput } from './index.ts';

const T0 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z in µs
/** Far enough after T0 that no generated warm-up event reaches it. */
const T1 = T0 + 1_000_000_000;
const ONLY_PHASE = [{ name: 'only', start_us: T0, end_us: T0 + 2_000_000_000 }];

/** The event_id the harness would have given (source, seq) due at intended_us (stands in for eventIdFor). */
function idOf(source: string, seq: number, intended_us: number): string {
  return `ev-${source}-${seq}@${intended_us}`;
}

/** What the harness did with one original event, as the publish log records it. */
interface Published {
  event_id: string;
  source: string;
  seq: number;
  intended_us: number;
  /**
   * Left the harness. One that did not was still handed to a connection (queued behind a full
   * window when the run stopped): published, flags QUEUED. A gap is a seq never added at all.
   */
  sent: boolean;
  acked: boolean;
  /** The original's publish failed or timed out (an ACKED late PUBACK can still follow a timeout). */
  failure: 'none' | 'error' | 'timeout';
  copies_sent: number;
  copies_acked: number;
}

function published(seq: number, overrides: Partial<Omit<Published, 'event_id'>> = {}): Published {
  const source = overrides.source ?? 'pub-0';
  const intended_us = overrides.intended_us ?? T0 + seq * 1_000;
  return {
    source,
    seq,
    intended_us,
    sent: true,
    acked: true,
    failure: 'none',
    copies_sent: 0,
    copies_acked: 0,
    ...overrides,
    event_id: idOf(source, seq, intended_us),
  };
}

/** A publish log holding these events, written through the log's own API as a worker does. */
function logOf(events: readonly Published[]): PublishLog {
  const log = new PublishLog();
  for (const e of events) {
    const record = log.record(e.source);
    log.add(record, e.seq, e.intended_us);
    if (!e.sent) continue;
    log.sent(record, e.seq, false);
    if (e.failure !== 'none') log.failed(record, e.seq, false, e.failure === 'timeout');
    if (e.acked) log.acked(record, e.seq, false);
    for (let c = 0; c < e.copies_sent; c++) log.sent(record, e.seq, true);
    for (let c = 0; c < e.copies_acked; c++) log.acked(record, e.seq, true);
  }
  return log;
}

function row(
  event: Pick<Published, 'event_id' | 'source' | 'seq' | 'intended_us'>,
  committed_us: number,
  deliveries = 1,
): SinkRow {
  return { event_id: event.event_id, source: event.source, seq: event.seq, committed_us, intended_us: event.intended_us, deliveries };
}

function key(event: Pick<Published, 'event_id' | 'source' | 'seq'>): DeadLetterKey {
  return { event_id: event.event_id, source: event.source, seq: event.seq, message: `message of ${event.event_id} (${event.source}#${event.seq})` };
}

/** A dead letter naming what it names, as a distinct message. */
let foreignMessages = 0;
function letter(event_id: string | null, source: string | null, seq: number | null): DeadLetterKey {
  return { event_id, source, seq, message: `foreign message ${++foreignMessages}` };
}

type LedgerOptions = Partial<Omit<LedgerInput, 'log'>> & { sink: Iterable<SinkRow> };

/** The ledger of these events against the sink, checking event ids as the harness does. */
function ledgerOf(events: readonly Published[], input: LedgerOptions) {
  return buildLedger({ log: logOf(events), dead_letters: [], phases: ONLY_PHASE, expected_id: idOf, ...input });
}

describe('buildLedger', () => {
  it('counts the first commits whose COMMIT return time was never recorded (their latency is a lower bound), not later deliveries', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const unrecorded = (r: SinkRow): SinkRow => ({ ...r, commit_unrecorded: 1 });
    const ledger = ledgerOf(events, {
      sink: [unrecorded(row(events[0]!, events[0]!.intended_us + 1_000)), row(events[1]!, events[1]!.intended_us + 2_000, 2), unrecorded(row(events[2]!, events[2]!.intended_us + 3_000))],
    });
    expect(ledger.commit_time_unrecorded).toBe(2);
    expect(ledger.latency.count).toBe(3);
    expect(ledgerOf(events, { sink: events.map((e) => row(e, e.intended_us + 2_000)) }).commit_time_unrecorded).toBe(0);
  });

  it('without commit times (a target whose query gives none) counts commits, duplicates and order, but records no latency and no commits per second', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const noTime = (e: Published) => row(e, Number.NaN);
    const sink = [noTime(events[1]!), noTime(events[0]!), noTime(events[1]!)];
    const ledger = ledgerOf(events, { sink, measures_latency: false, per_second_origin_us: T0 });
    expect(ledger.totals).toMatchObject({ unique_committed: 2, lost: 1, sink_duplicates: 1, reordered: 1 });
    expect(ledger.phases[0]).toMatchObject({ unique_committed: 2, lost: 1, sink_duplicates: 1 });
    expect(ledger.latency.count).toBe(0);
    expect(ledger.phases[0]!.latency.count).toBe(0);
    expect(ledger.per_second).toEqual([]);
    expect(ledger.last_commit_us).toBe(0);
    // The same rows with commit times: the same counts, and latency.
    const timed = ledgerOf(events, { sink: [row(events[1]!, T1), row(events[0]!, T1), row(events[1]!, T1)], per_second_origin_us: T0 });
    expect(timed.totals).toEqual(ledger.totals);
    expect(timed.latency.count).toBe(2);
  });

  it('counts every event committed exactly once as committed, nothing lost', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const ledger = ledgerOf(events, { sink: events.map((e) => row(e, e.intended_us + 2_000)) });
    expect(ledger.totals).toEqual({
      published: 3,
      acked_by_broker: 3,
      copies_published: 0,
      copies_acked: 0,
      copies_absorbed: 0,
      unique_committed: 3,
      lost: 0,
      dead_lettered: 0,
      lost_unacked: 0,
      never_sent: 0,
      sink_duplicates: 0,
      absorbed_by_sink: 0,
      unexpected: 0,
      reordered: 0,
      max_reorder_displacement: 0,
      dlq: 0,
    });
    expect(ledger.latency.count).toBe(3);
    expect(ledger).not.toHaveProperty('publish_ack');
    expect(ledger.last_commit_us).toBe(events[2]!.intended_us + 2_000);
    expect(ledger.phases).toHaveLength(1);
    expect(ledger.phases[0]).toMatchObject({ name: 'only', published: 3, unique_committed: 3, lost: 0 });
  });

  it('reads the sink once, as a stream', () => {
    const events = [0, 1].map((seq) => published(seq));
    let reads = 0;
    function* stream(): Generator<SinkRow> {
      reads++;
      for (const e of events) yield row(e, e.intended_us + 500);
    }
    const ledger = ledgerOf(events, { sink: stream() });
    expect(reads).toBe(1);
    expect(ledger.totals).toMatchObject({ unique_committed: 2, lost: 0 });
  });

  it('counts an acked event missing from the sink as lost, in its phase too', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const ledger = ledgerOf(events, { sink: [row(events[0]!, T0 + 5_000), row(events[2]!, T0 + 6_000)] });
    expect(ledger.totals).toMatchObject({ unique_committed: 2, lost: 1, lost_unacked: 0 });
    expect(ledger.phases[0]!.lost).toBe(1);
  });

  it('counts a never-acked event missing from the sink as lost_unacked, not lost; a late PUBACK after a timeout is acked', () => {
    const events = [
      published(0),
      published(1, { acked: false }), // sent, no PUBACK yet
      published(2, { acked: false, failure: 'error' }),
      published(3, { acked: false, failure: 'timeout' }),
      published(4, { acked: true, failure: 'timeout' }), // timed out, then the PUBACK came late
    ];
    const log = logOf(events);
    const ledger = buildLedger({ log, phases: ONLY_PHASE, sink: [row(events[0]!, T0 + 5_000)], dead_letters: [], expected_id: idOf });
    expect(ledger.totals).toMatchObject({ published: 5, acked_by_broker: 2, unique_committed: 1, lost: 1, lost_unacked: 3 });
    expect(ledger.phases[0]!.lost).toBe(1);
    // Publish errors and PUBACK timeouts live in the log's counters, not in the ledger.
    expect(ledger.totals).not.toHaveProperty('publish_errors');
    expect(log.counters).toMatchObject({ publish_errors: 1, puback_timeouts: 2 });
  });

  it('counts an event queued but never sent (the run stopped with it behind a full window) as published and never_sent, apart from lost_unacked', () => {
    const phases = [
      { name: 'warmup', start_us: T0, end_us: T1 },
      { name: 'steady', start_us: T1, end_us: T1 + 1_000_000_000 },
    ];
    const events = [
      published(0), // warm-up, committed
      published(1, { acked: false }), // warm-up, sent, no PUBACK
      published(2, { intended_us: T1 + 1_000, sent: false, acked: false }), // steady, queued, never sent
      published(3, { intended_us: T1 + 2_000 }), // steady, committed
    ];
    const log = logOf(events);
    expect([...log.sources.get('pub-0')!.flags.subarray(0, 4)]).toEqual([QUEUED | SENT | ACKED, QUEUED | SENT, QUEUED, QUEUED | SENT | ACKED]);
    expect(log.counters.published).toBe(4);
    for (const expected_id of [idOf, undefined]) {
      const ledger = buildLedger({
        log,
        phases,
        sink: [row(events[0]!, T0 + 5_000), row(events[3]!, T1 + 9_000)],
        dead_letters: [],
        expected_id,
      });
      expect(ledger.totals).toMatchObject({ published: 4, acked_by_broker: 2, unique_committed: 2, lost: 0, lost_unacked: 1, never_sent: 1, dead_lettered: 0, unexpected: 0 });
      expect(ledger.totals.published).toBe(log.counters.published);
      expect(ledger.phases.map((p) => [p.name, p.published, p.unique_committed, p.lost])).toEqual([
        ['warmup', 2, 1, 0],
        ['steady', 2, 1, 0], // the queued event is the steady phase's, and not acked: not lost
      ]);
    }
  });

  it('counts extra rows of one event (append mode) as sink_duplicates and the event once', () => {
    const events = [published(0), published(1)];
    const sink = [row(events[0]!, T0 + 5_000), row(events[1]!, T0 + 6_000), row(events[0]!, T0 + 7_000), row(events[0]!, T0 + 8_000)];
    const ledger = ledgerOf(events, { sink });
    expect(ledger.totals).toMatchObject({ unique_committed: 2, sink_duplicates: 2, lost: 0, reordered: 0 });
    // Latency and last commit come from the first commit of each event only.
    expect(ledger.latency.count).toBe(2);
    expect(ledger.last_commit_us).toBe(T0 + 6_000);
  });

  it("counts repeat deliveries absorbed by an idempotent sink from the rows' deliveries", () => {
    const events = [published(0), published(1)];
    const ledger = ledgerOf(events, { sink: [row(events[0]!, T0 + 5_000, 3), row(events[1]!, T0 + 6_000, 1)] });
    expect(ledger.totals).toMatchObject({ absorbed_by_sink: 2, sink_duplicates: 0, unique_committed: 2 });
  });

  it('counts a row this run never published (unknown source, or seq past the log) as unexpected, and nothing else', () => {
    const events = [published(0)];
    const pastTheLog = published(7);
    const otherSource = published(0, { source: 'pub-from-another-run' });
    const ledger = ledgerOf(events, {
      sink: [row(pastTheLog, T0 + 9_000), row(otherSource, T0 + 9_500), row(events[0]!, T0 + 5_000)],
    });
    expect(ledger.totals).toMatchObject({ published: 1, unexpected: 2, unique_committed: 1, sink_duplicates: 0, reordered: 0, absorbed_by_sink: 0 });
    expect(ledger.latency.count).toBe(1);
    expect(ledger.last_commit_us).toBe(T0 + 5_000);
  });

  it('counts a row past the end of a source, or with a seq that is no index, as unexpected even without expected_id', () => {
    const events = [published(0), published(1)];
    const strays = [2, 1_000_000, -1, 0.5, Number.NaN].map((seq) => ({ ...published(0), seq }));
    // A log merged from a worker's snapshot has buffers exactly as long as its count.
    const merged = PublishLog.merge([logOf(events).snapshot().snapshot]);
    for (const log of [logOf(events), merged]) {
      const ledger = buildLedger({
        log,
        phases: ONLY_PHASE,
        sink: [...strays.map((e) => row(e, T0 + 4_000)), ...events.map((e) => row(e, T0 + 5_000))],
        dead_letters: strays.map(key),
      });
      expect(ledger.totals).toMatchObject({ published: 2, unique_committed: 2, unexpected: strays.length, dead_lettered: 0, dlq: strays.length, reordered: 0 });
      expect(ledger.last_commit_us).toBe(T0 + 5_000);
    }
  });

  it('counts a row with a published (source, seq) but another event_id as unexpected when expected_id is given', () => {
    const events = [published(0), published(1)];
    const impostor = { ...events[1]!, event_id: 'ev-from-another-run' };
    // The id minted for the right (source, seq) at another intended time is not this run's either.
    const shifted = { ...events[0]!, event_id: idOf('pub-0', 0, events[0]!.intended_us + 1) };
    const sink = [row(impostor, T0 + 5_000, 2), row(shifted, T0 + 5_500), row(events[0]!, T0 + 6_000)];
    const ledger = ledgerOf(events, { sink });
    expect(ledger.totals).toMatchObject({ unexpected: 2, unique_committed: 1, lost: 1, absorbed_by_sink: 0, sink_duplicates: 0 });
    expect(ledger.last_commit_us).toBe(T0 + 6_000);

    // expected_id is called with the log's (source, seq, intended time).
    const calls: [string, number, number][] = [];
    buildLedger({
      log: logOf(events),
      phases: ONLY_PHASE,
      sink: [row(events[1]!, T0 + 5_000)],
      dead_letters: [],
      expected_id: (source, seq, intended) => {
        calls.push([source, seq, intended]);
        return idOf(source, seq, intended);
      },
    });
    expect(calls).toEqual([['pub-0', 1, events[1]!.intended_us]]);
  });

  it('without expected_id, identifies a row by (source, seq) alone', () => {
    const events = [published(0), published(1)];
    const ledger = buildLedger({
      log: logOf(events),
      phases: ONLY_PHASE,
      sink: [row({ ...events[0]!, event_id: 'any-id' }, T0 + 5_000), row({ ...published(2), event_id: 'any-id' }, T0 + 6_000)],
      dead_letters: [letter(null, 'pub-0', 1)],
    });
    expect(ledger.totals).toMatchObject({ unexpected: 1, unique_committed: 1, lost: 1, dlq: 1, dead_lettered: 1 });
  });

  it('treats a gap in a source\'s seqs (never published, flags 0) as not published, and a row for it as unexpected', () => {
    // Seqs 1 and 2 are never recorded: flags 0 below the source's count.
    const events = [published(0), published(3)];
    const log = logOf(events);
    expect(log.sources.get('pub-0')!.count).toBe(4);
    expect([...log.sources.get('pub-0')!.flags.subarray(0, 4)]).toEqual([QUEUED | SENT | ACKED, 0, 0, QUEUED | SENT | ACKED]);
    // Rows and dead letters for the gaps, carrying even the id expected_id gives an empty slot
    // (its intended time reads 0): the flags alone must reject them, with or without expected_id.
    const gaps = [1, 2].map((seq) => ({ ...published(seq), event_id: idOf('pub-0', seq, 0) }));
    expect(log.sources.get('pub-0')!.intended_us[1]).toBe(0);
    for (const expected_id of [idOf, undefined]) {
      const ledger = buildLedger({
        log,
        phases: ONLY_PHASE,
        sink: [row(events[0]!, T0 + 5_000), row(gaps[0]!, T0 + 5_500), row(gaps[1]!, T0 + 6_000), row(events[1]!, T0 + 7_000)],
        dead_letters: gaps.map(key),
        expected_id,
      });
      expect(ledger.totals).toMatchObject({
        published: 2,
        acked_by_broker: 2,
        unique_committed: 2,
        unexpected: 2,
        lost: 0,
        lost_unacked: 0,
        dead_lettered: 0,
        dlq: 2,
        reordered: 0,
      });
      expect(ledger.phases[0]).toMatchObject({ published: 2, unique_committed: 2 });
      expect(ledger.latency.count).toBe(2);
      expect(ledger.last_commit_us).toBe(T0 + 7_000);
    }
  });

  it('counts per-source reordering: seq 0, 2, 1 committed in that order is one reorder of displacement 1', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const sink = [row(events[0]!, T0 + 5_000), row(events[2]!, T0 + 6_000), row(events[1]!, T0 + 7_000)];
    const ledger = ledgerOf(events, { sink });
    expect(ledger.totals).toMatchObject({ reordered: 1, max_reorder_displacement: 1, unique_committed: 3 });
  });

  it('does not count interleaving across sources as reordering, and measures displacement from the highest seq', () => {
    const a = [0, 1, 2, 3, 4].map((seq) => published(seq, { source: 'pub-a' }));
    const b = [0, 1].map((seq) => published(seq, { source: 'pub-b' }));
    // b commits 1 then 0 (one reorder, displacement 1); a commits 0, 4, 1, 2, 3: three reorders,
    // the worst 4 − 1 = 3 behind. Interleaving a with b adds nothing.
    const order = [b[1]!, a[0]!, a[4]!, b[0]!, a[1]!, a[2]!, a[3]!];
    const ledger = ledgerOf([...a, ...b], { sink: order.map((e, i) => row(e, T0 + 10_000 + i)) });
    expect(ledger.totals).toMatchObject({ reordered: 4, max_reorder_displacement: 3, unique_committed: 7 });
  });

  it('counts a valid event found only in the DLQ as lost, and as dead_lettered beside it; poison and strangers only in dlq', () => {
    const events = [published(0), published(1), published(2, { acked: false }), published(3)];
    const ledger = ledgerOf(events, {
      sink: [row(events[0]!, T0 + 5_000)],
      dead_letters: [
        key(events[1]!),
        key(events[2]!),
        letter(null, null, null), // poison with no identity
        letter('not-from-this-run', 'pub-0', 3), // right (source, seq), wrong id
        letter(idOf('pub-9', 0, T0), 'pub-9', 0), // a source this run never had
      ],
    });
    // seq 1 and 2 reached the pipeline (the DLQ holds them) and are not in the sink; seq 3 was acked and is nowhere.
    expect(ledger.totals).toMatchObject({ unique_committed: 1, lost: 3, lost_unacked: 0, never_sent: 0, dead_lettered: 2, dlq: 5 });
    expect(ledger.phases[0]!.lost).toBe(3);
  });

  it('with expected_id, counts a dead letter too broken to name its event_id (null) by its (source, seq) as lost and dead_lettered', () => {
    const events = [published(0), published(1), published(2, { acked: false }), published(3, { sent: false, acked: false }), published(5)];
    const nameless = (seq: number): DeadLetterKey => deadLetterKey({ event_id: null, raw: JSON.stringify({ source: 'pub-0', seq }), topic: 'events/run/pub-0' });
    expect(nameless(1)).toEqual({ event_id: null, source: 'pub-0', seq: 1, message: expect.any(String) });
    const ledger = ledgerOf(events, {
      sink: [row(events[0]!, T0 + 5_000)],
      dead_letters: [
        nameless(1), // acked, uncommitted
        nameless(2), // sent, never acked, uncommitted
        nameless(3), // queued, never sent
        nameless(0), // committed: stays committed
        nameless(4), // a gap (never added): names nothing
        nameless(6), // past the end of the source
        letter(null, 'pub-9', 1), // a source this run never had
      ],
    });
    expect(ledger.totals).toMatchObject({
      published: 5,
      unique_committed: 1,
      dead_lettered: 3,
      lost: 4, // the three in the DLQ, and seq 5, acked and in neither the sink nor the DLQ
      lost_unacked: 0,
      never_sent: 0,
      unexpected: 0,
      dlq: 7,
    });
    expect(ledger.phases[0]).toMatchObject({ published: 5, unique_committed: 1, lost: 4 });
    // A dead letter that names another id for the same (source, seq) is still not this run's.
    const wrongId = ledgerOf(events, { sink: [row(events[0]!, T0 + 5_000)], dead_letters: [letter('not-from-this-run', 'pub-0', 1)] });
    expect(wrongId.totals).toMatchObject({ dead_lettered: 0, lost: 2, lost_unacked: 1, never_sent: 1, dlq: 1 });
  });

  it('counts a dead letter of an event that was also committed as committed, not dead_lettered', () => {
    const events = [published(0)];
    const ledger = ledgerOf(events, { sink: [row(events[0]!, T0 + 5_000)], dead_letters: [key(events[0]!)] });
    expect(ledger.totals).toMatchObject({ unique_committed: 1, dead_lettered: 0, dlq: 1 });
  });

  it('places events in the phase their intended time falls in, and leaves an excluded (warm-up) phase out of the overall latency', () => {
    const phases = [
      { name: 'warmup', start_us: T0, end_us: T0 + 2_000 },
      { name: 'steady', start_us: T0 + 2_000, end_us: T0 + 10_000 },
    ];
    const events = [0, 1, 2, 3, 4].map((seq) => published(seq)); // intended T0 + seq ms: 0, 1 warm-up; 2, 3, 4 steady
    const ledger = ledgerOf(events, {
      sink: events.map((e) => row(e, e.intended_us + (e.intended_us < phases[1]!.start_us ? 1_900 : 300))),
      phases,
      excluded_phases: new Set([0]),
    });
    expect(ledger.latency.count).toBe(3);
    expect(ledger.latency.summary().max_ms).toBe(0.3);
    expect(ledger.phases.map((p) => [p.name, p.published, p.unique_committed, p.latency.count])).toEqual([
      ['warmup', 2, 2, 2],
      ['steady', 3, 3, 3],
    ]);
    expect(ledger.phases[0]!.latency.summary().max_ms).toBe(1.9);
    expect(ledger.totals.unique_committed).toBe(5);

    // Not excluded: the overall latency has every event.
    const all = ledgerOf(events, { sink: events.map((e) => row(e, e.intended_us + 300)), phases });
    expect(all.latency.count).toBe(5);
  });

  it("measures latency as first commit − the log's intended send time (not the row's stamp, nor a later row)", () => {
    const late = published(0, { intended_us: T0 });
    // The row's own intended_us stamp is not trusted; the log's intended time is.
    const stamped = { ...row(late, T0 + 1_234), intended_us: T0 + 1_000 };
    const ledger = ledgerOf([late], { sink: [stamped, row(late, T0 + 1_900)] });
    expect(ledger.latency.summary()).toMatchObject({ count: 1, min_ms: 1.234, max_ms: 1.234 });
    expect(ledger.phases[0]!.latency.summary()).toMatchObject({ count: 1, max_ms: 1.234 });
    expect(ledger.last_commit_us).toBe(T0 + 1_234);
  });

  it("takes the copies from the log's counters", () => {
    const events = [published(0, { copies_sent: 2, copies_acked: 1 }), published(1, { copies_sent: 1, copies_acked: 1, acked: false, failure: 'error' })];
    const log = logOf(events);
    const ledger = buildLedger({ log, phases: ONLY_PHASE, sink: [], dead_letters: [] });
    expect(ledger.totals).toMatchObject({ published: 2, acked_by_broker: 1, copies_published: 3, copies_acked: 2, lost: 1, lost_unacked: 1 });
    expect(log.counters).toMatchObject({ published: 2, acked: 3, copies_sent: 3, copies_acked: 2, publish_errors: 1 });
    expect(ledger.last_commit_us).toBe(0);
  });

  it('counts as absorbed the acked copies of events in the sink exactly once: not those of lost events, nor of events with extra rows', () => {
    const events = [
      published(0, { copies_sent: 1, copies_acked: 1 }), // one row: the copy stopped before the sink (dedup)
      published(1, { copies_sent: 2, copies_acked: 2 }), // one row that says 2 deliveries: one copy stopped by the sink's key
      published(2, { copies_sent: 1, copies_acked: 1 }), // two rows (append): the copy was not absorbed
      published(3, { copies_sent: 1, copies_acked: 1 }), // lost: its copy did not make it either
      published(4, { copies_sent: 1, copies_acked: 0 }), // the copy was never acked: nothing to absorb
    ];
    const sink = [row(events[0]!, T0 + 5_000), row(events[1]!, T0 + 5_100, 2), row(events[2]!, T0 + 5_200), row(events[2]!, T0 + 5_300), row(events[4]!, T0 + 5_400)];
    const ledger = ledgerOf(events, { sink });
    expect(ledger.totals).toMatchObject({ copies_published: 6, copies_acked: 5, copies_absorbed: 3, absorbed_by_sink: 1, sink_duplicates: 1, lost: 1 });
  });

  it('counts a message the aggregator dead-lettered twice (the broker redelivered it) once in dlq, and its event once', () => {
    const events = [published(0), published(1)];
    const poison = deadLetterKey({ event_id: null, raw: 'not json', topic: 'events/run/poison-w0' });
    const again = deadLetterKey({ event_id: null, raw: 'not json', topic: 'events/run/poison-w0' });
    const other = deadLetterKey({ event_id: null, raw: 'not json either', topic: 'events/run/poison-w0' });
    const ledger = ledgerOf(events, { sink: [row(events[0]!, T0 + 5_000)], dead_letters: [poison, key(events[1]!), again, key(events[1]!), other] });
    expect(ledger.totals).toMatchObject({ dlq: 3, dead_lettered: 1, lost: 1, unique_committed: 1 });
  });

  it('is empty for an empty run', () => {
    const ledger = buildLedger({ log: new PublishLog(), phases: ONLY_PHASE, sink: [], dead_letters: [] });
    expect(ledger.totals).toEqual({
      published: 0,
      acked_by_broker: 0,
      copies_published: 0,
      copies_acked: 0,
      copies_absorbed: 0,
      unique_committed: 0,
      lost: 0,
      dead_lettered: 0,
      lost_unacked: 0,
      never_sent: 0,
      sink_duplicates: 0,
      absorbed_by_sink: 0,
      unexpected: 0,
      reordered: 0,
      max_reorder_displacement: 0,
      dlq: 0,
    });
    expect(ledger.latency.count).toBe(0);
    expect(ledger.last_commit_us).toBe(0);
    expect(ledger.phases.map((p) => [p.name, p.published])).toEqual([['only', 0]]);
  });
});

describe('deadLetterKey', () => {
  const TOPIC = 'events/run/pub-3';
  const named = (event_id: string | null, source: string | null, seq: number | null) => ({ event_id, source, seq, message: expect.any(String) });

  it('takes source and seq from the raw JSON of the dead letter', () => {
    const raw = JSON.stringify({ v: 1, event_id: 'ev-x', source: 'pub-3', seq: 42, payload: { data: 'x' } });
    expect(deadLetterKey({ event_id: 'ev-x', raw, topic: TOPIC })).toEqual(named('ev-x', 'pub-3', 42));
  });

  it('keeps the parts that parse and nulls the parts that do not', () => {
    expect(deadLetterKey({ event_id: null, raw: JSON.stringify({ source: 'pub-1', seq: '7' }), topic: TOPIC })).toEqual(named(null, 'pub-1', null));
    expect(deadLetterKey({ event_id: 'ev-y', raw: JSON.stringify({ source: 5, seq: 3 }), topic: TOPIC })).toEqual(named('ev-y', null, 3));
  });

  it('returns nulls for raw text that is not JSON or not an object', () => {
    for (const raw of ['', 'not json at all', '{"source": "pub-1", "seq": 1', '\u0000\u00ff', 'null', '42', '"pub-1"']) {
      expect(deadLetterKey({ event_id: null, raw, topic: TOPIC })).toEqual(named(null, null, null));
    }
    // The event_id the DLQ reported is kept even when the raw text says nothing.
    expect(deadLetterKey({ event_id: 'ev-z', raw: '<<binary>>', topic: TOPIC })).toEqual(named('ev-z', null, null));
  });

  it('gives the same message on the same topic one identity, and any other bytes or topic another', () => {
    const identity = (raw: string, topic = TOPIC) => deadLetterKey({ event_id: null, raw, topic }).message;
    expect(identity('not json')).toBe(identity('not json'));
    expect(identity('not json')).not.toBe(identity('not json!'));
    expect(identity('not json')).not.toBe(identity('not json', 'events/run/poison-w1'));
    // The topic and the bytes are kept apart: moving a byte from one to the other is another message.
    expect(identity('b', 'a')).not.toBe(identity('', 'ab'));
  });

  it('yields a key the ledger matches against the log', () => {
    const events = [published(0), published(1)];
    const raw = JSON.stringify({ event_id: events[1]!.event_id, source: 'pub-0', seq: 1 });
    const ledger = ledgerOf(events, {
      sink: [row(events[0]!, T0 + 5_000)],
      dead_letters: [deadLetterKey({ event_id: events[1]!.event_id, raw, topic: TOPIC }), deadLetterKey({ event_id: null, raw: 'garbage', topic: TOPIC })],
    });
    expect(ledger.totals).toMatchObject({ dead_lettered: 1, lost: 1, dlq: 2 });
  });
});

// ---------------------------------------------------------------------------------------------
// Property: for a random history whose truth is known by construction, the ledger classifies
// every event exactly.

type Outcome =
  | { kind: 'committed'; extra_rows: number; also_dead_lettered: boolean }
  | { kind: 'lost' }
  /** Never acked; `sent: false` is an event queued behind a full window when the run stopped. */
  | { kind: 'lost_unacked'; sent: boolean }
  /** `twice`: the broker redelivered it and the aggregator dead-lettered it again (one message, two rows). */
  | { kind: 'dead_lettered'; acked: boolean; twice: boolean }
  /** A seq the harness skipped (never passed to add()): flags 0, not published. */
  | { kind: 'gap'; row_in_sink: boolean; dead_letter: boolean };

interface GeneratedEvent {
  source: number;
  phase: number;
  sent: boolean;
  acked: boolean;
  /** How the original's publish went wrong, if it did (an acked one may have timed out first). */
  failure: 'none' | 'error' | 'timeout';
  outcome: Outcome;
  /** Sort keys placing this event's rows (first, then extras) in the commit order. */
  order_keys: number[];
  deliveries: number;
  latency_us: number;
  copies_sent: number;
  copies_acked: number;
}

const outcome: fc.Arbitrary<Outcome> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('committed' as const), extra_rows: fc.constant(0), also_dead_lettered: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('committed' as const), extra_rows: fc.integer({ min: 1, max: 3 }), also_dead_lettered: fc.constant(false) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lost' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lost_unacked' as const), sent: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dead_lettered' as const), acked: fc.boolean(), twice: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gap' as const), row_in_sink: fc.boolean(), dead_letter: fc.boolean() }) },
);

const generatedEvent: fc.Arbitrary<GeneratedEvent> = fc
  .record({
    source: fc.integer({ min: 0, max: 3 }),
    phase: fc.integer({ min: 0, max: 1 }),
    acked_if_committed: fc.boolean(),
    failure_if_acked: fc.constantFrom<'none' | 'timeout'>('none', 'timeout'),
    failure_if_unacked: fc.constantFrom<'none' | 'error' | 'timeout'>('none', 'error', 'timeout'),
    outcome,
    order_keys: fc.array(fc.nat({ max: 1_000 }), { minLength: 4, maxLength: 4 }),
    deliveries: fc.integer({ min: 1, max: 3 }),
    // The whole range the ledger must handle, µs to minutes: exact below 2,048 µs, rounded to the
    // histogram's 3 significant digits above (a clamp or a unit slip anywhere shows).
    latency_us: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 2_001, max: 1_000_000 }), fc.integer({ min: 1_000_001, max: 300_000_000 })),
    copies_sent: fc.integer({ min: 0, max: 2 }),
    copies_acked_share: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ acked_if_committed, failure_if_acked, failure_if_unacked, copies_acked_share, ...rest }) => {
    const gap = rest.outcome.kind === 'gap';
    // Only a lost_unacked event may be still queued; it then has no failure and no copies either.
    const unsent = rest.outcome.kind === 'lost_unacked' && !rest.outcome.sent;
    const acked =
      rest.outcome.kind === 'lost' ? true
      : rest.outcome.kind === 'lost_unacked' || gap ? false
      : rest.outcome.kind === 'dead_lettered' ? rest.outcome.acked
      : acked_if_committed;
    return {
      ...rest,
      sent: !unsent,
      acked,
      failure: gap || unsent ? ('none' as const) : acked ? failure_if_acked : failure_if_unacked,
      copies_sent: gap || unsent ? 0 : rest.copies_sent,
      copies_acked: gap || unsent ? 0 : Math.min(rest.copies_sent, copies_acked_share),
    };
  });

/** A row for (source, seq) with an id this run never minted, or from a source it never had. */
const strangerRow = fc.record({ source: fc.integer({ min: 0, max: 4 }), seq: fc.nat({ max: 100 }), order_key: fc.nat({ max: 1_000 }) });

interface Truth {
  published: number;
  acked_by_broker: number;
  copies_published: number;
  copies_acked: number;
  copies_absorbed: number;
  unique_committed: number;
  lost: number;
  dead_lettered: number;
  lost_unacked: number;
  never_sent: number;
  sink_duplicates: number;
  absorbed_by_sink: number;
  unexpected: number;
  dlq: number;
  reordered: number;
  max_reorder_displacement: number;
}

/**
 * Reordering by its definition, computed differently from the ledger (a scan of everything
 * first-committed so far, not a running maximum): an event's first commit is reordered when a
 * higher seq of the same source was first-committed before it.
 */
function reorderTruth(firstCommits: readonly { source: string; seq: number }[]): { reordered: number; max_displacement: number } {
  let reordered = 0;
  let maxDisplacement = 0;
  firstCommits.forEach((commit, position) => {
    const higherBefore = firstCommits.slice(0, position).filter((earlier) => earlier.source === commit.source && earlier.seq > commit.seq);
    if (higherBefore.length === 0) return;
    reordered++;
    for (const earlier of higherBefore) maxDisplacement = Math.max(maxDisplacement, earlier.seq - commit.seq);
  });
  return { reordered, max_displacement: maxDisplacement };
}

const TWO_PHASES = [
  { name: 'warmup', start_us: T0, end_us: T1 },
  { name: 'steady', start_us: T1, end_us: T1 + 1_000_000_000 },
];

describe('buildLedger (property)', () => {
  it('classifies a random history exactly: lost, unacked, duplicates, unexpected, gaps, dead-lettered, reordered', () => {
    fc.assert(
      fc.property(
        fc.array(generatedEvent, { maxLength: 60 }),
        fc.array(strangerRow, { maxLength: 4 }),
        fc.array(
          // The same constant twice is one message dead-lettered twice (a redelivery).
          fc.constantFrom<DeadLetterKey>(
            { event_id: null, source: null, seq: null, message: 'poison-a' },
            { event_id: 'dlq-from-elsewhere', source: 'pub-0', seq: 0, message: 'stranger-b' },
            { event_id: 'dlq-from-elsewhere', source: 'pub-7', seq: 3, message: 'stranger-c' },
            { event_id: null, source: 'pub-1', seq: 0, message: 'broken-d' },
            { event_id: null, source: 'pub-2', seq: 1, message: 'broken-e' },
          ),
          { maxLength: 3 },
        ),
        fc.boolean(),
        fc.boolean(),
        (generated, allStrangers, foreignDeadLetters, excludeWarmup, checkIds) => {
          const nextSeq = [0, 0, 0, 0];
          const events: Published[] = generated.map((g, index) => {
            const seq = nextSeq[g.source]!++;
            const intended_us = (g.phase === 0 ? T0 : T1) + index * 1_000;
            return published(seq, {
              source: `pub-${g.source}`,
              intended_us,
              sent: g.sent,
              acked: g.acked,
              failure: g.failure,
              copies_sent: g.copies_sent,
              copies_acked: g.copies_acked,
            });
          });
          const isGap = (index: number) => generated[index]!.outcome.kind === 'gap';
          // A gap's row or dead letter carries the id expected_id gives its empty slot (intended
          // time 0), so only the log's flags can tell it was never published.
          const emptySlot = (e: Published): Published => ({ ...e, event_id: idOf(e.source, e.seq, 0) });
          // Without expected_id a row is identified by (source, seq) alone, so a stranger must not
          // land on a published one; with it, a stranger's foreign id is enough to tell it apart.
          const publishedKeys = new Set(events.filter((_, index) => !isGap(index)).map((e) => `${e.source}#${e.seq}`));
          const strangers = checkIds ? allStrangers : allStrangers.filter((s) => !publishedKeys.has(`pub-${s.source}#${s.seq}`));
          // A foreign dead letter that names a published (source, seq) without an event_id to
          // contradict it (its id is null, or ids are not checked) is that event's dead letter:
          // an event otherwise lost (acked or not) is then dead_lettered.
          const foreign = foreignDeadLetters;
          const namedByForeign = new Set(
            foreign.filter((d) => d.source !== null && (d.event_id === null || !checkIds)).map((d) => `${d.source}#${d.seq}`),
          );
          const kindOf = (index: number): Outcome['kind'] => {
            const kind = generated[index]!.outcome.kind;
            const e = events[index]!;
            return (kind === 'lost' || kind === 'lost_unacked') && namedByForeign.has(`${e.source}#${e.seq}`) ? 'dead_lettered' : kind;
          };
          const kinds = generated.map((_, index) => kindOf(index));
          // A gap is a seq the harness never recorded: leave it out of the log altogether.
          const log = logOf(events.filter((_, index) => !isGap(index)));

          // Every sink row with a sort key; a stable sort by key gives a random commit order in
          // which an event's first row is whichever of its rows comes first.
          type Keyed = { key: number; tiebreak: number; event?: number; gap?: number; stranger?: (typeof strangers)[number] };
          const keyed: Keyed[] = [];
          generated.forEach((g, index) => {
            if (g.outcome.kind === 'gap' && g.outcome.row_in_sink) keyed.push({ key: g.order_keys[0]!, tiebreak: keyed.length, gap: index });
            if (g.outcome.kind !== 'committed') return;
            for (let r = 0; r <= g.outcome.extra_rows; r++) keyed.push({ key: g.order_keys[r]!, tiebreak: keyed.length, event: index });
          });
          strangers.forEach((s) => keyed.push({ key: s.order_key, tiebreak: keyed.length, stranger: s }));
          keyed.sort((x, y) => x.key - y.key || x.tiebreak - y.tiebreak);

          const firstCommitAt = new Map<number, number>();
          const sink: SinkRow[] = keyed.map((entry, position) => {
            const committed_us = T1 + 10_000_000 + position * 100;
            if (entry.stranger) {
              const s = entry.stranger;
              return { event_id: `stranger-${position}`, source: `pub-${s.source}`, seq: s.seq, committed_us, intended_us: null, deliveries: 1 };
            }
            if (entry.gap !== undefined) return row(emptySlot(events[entry.gap]!), committed_us);
            const index = entry.event!;
            const event = events[index]!;
            if (firstCommitAt.has(index)) return row(event, committed_us);
            // The first row carries the generated latency and deliveries; extra rows come later.
            const at = event.intended_us + generated[index]!.latency_us;
            firstCommitAt.set(index, at);
            return row(event, at, generated[index]!.deliveries);
          });

          const deadLetters: DeadLetterKey[] = [...foreign];
          generated.forEach((g, index) => {
            if (
              g.outcome.kind === 'dead_lettered' ||
              (g.outcome.kind === 'committed' && g.outcome.also_dead_lettered) ||
              (g.outcome.kind === 'gap' && g.outcome.dead_letter)
            ) {
              deadLetters.push(key(isGap(index) ? emptySlot(events[index]!) : events[index]!));
            }
            if (g.outcome.kind === 'dead_lettered' && g.outcome.twice) deadLetters.push(key(events[index]!));
          });

          const real = generated.filter((g) => g.outcome.kind !== 'gap');
          const truth: Truth = {
            published: real.length,
            acked_by_broker: real.filter((g) => g.acked).length,
            copies_published: real.reduce((sum, g) => sum + g.copies_sent, 0),
            copies_acked: real.reduce((sum, g) => sum + g.copies_acked, 0),
            // Copies of events in the sink exactly once; an event with extra rows absorbed nothing.
            copies_absorbed: generated.reduce((sum, g) => sum + (g.outcome.kind === 'committed' && g.outcome.extra_rows === 0 ? g.copies_acked : 0), 0),
            unique_committed: generated.filter((g) => g.outcome.kind === 'committed').length,
            // A dead-lettered valid event is lost too: it is not in the sink.
            lost: kinds.filter((k) => k === 'lost' || k === 'dead_lettered').length,
            dead_lettered: kinds.filter((k) => k === 'dead_lettered').length,
            lost_unacked: kinds.filter((k, index) => k === 'lost_unacked' && generated[index]!.sent).length,
            never_sent: kinds.filter((k, index) => k === 'lost_unacked' && !generated[index]!.sent).length,
            sink_duplicates: generated.reduce((sum, g) => sum + (g.outcome.kind === 'committed' ? g.outcome.extra_rows : 0), 0),
            absorbed_by_sink: generated.reduce((sum, g) => sum + (g.outcome.kind === 'committed' ? g.deliveries - 1 : 0), 0),
            unexpected: strangers.length + generated.filter((g) => g.outcome.kind === 'gap' && g.outcome.row_in_sink).length,
            dlq: new Set(deadLetters.map((d) => d.message)).size,
            ...(() => {
              const seenFirst = new Set<number>();
              const firstCommits: { source: string; seq: number }[] = [];
              for (const entry of keyed) {
                if (entry.event === undefined || seenFirst.has(entry.event)) continue;
                seenFirst.add(entry.event);
                firstCommits.push(events[entry.event]!);
              }
              const { reordered, max_displacement } = reorderTruth(firstCommits);
              return { reordered, max_reorder_displacement: max_displacement };
            })(),
          };

          const ledger = buildLedger({
            log,
            phases: TWO_PHASES,
            sink,
            dead_letters: deadLetters,
            excluded_phases: excludeWarmup ? new Set([0]) : undefined,
            expected_id: checkIds ? idOf : undefined,
          });

          expect(ledger.totals).toEqual(truth);
          // Nothing published is unaccounted for, and nothing is counted twice.
          const t = ledger.totals;
          expect(t.unique_committed + t.lost + t.lost_unacked + t.never_sent).toBe(t.published);

          const inPhase = (phase: number, kind: Outcome['kind']) => generated.filter((g, index) => g.phase === phase && kinds[index] === kind);
          const committedIn = (phase: number) => inPhase(phase, 'committed');
          expect(ledger.phases.map((p) => p.name)).toEqual(['warmup', 'steady']);
          expect(ledger.phases.map((p) => p.published)).toEqual([0, 1].map((phase) => real.filter((g) => g.phase === phase).length));
          expect(ledger.phases.map((p) => p.unique_committed)).toEqual([committedIn(0).length, committedIn(1).length]);
          expect(ledger.phases.map((p) => p.latency.count)).toEqual([committedIn(0).length, committedIn(1).length]);
          expect(ledger.phases.map((p) => p.lost)).toEqual([0, 1].map((phase) => inPhase(phase, 'lost').length + inPhase(phase, 'dead_lettered').length));
          expect(ledger.latency.count).toBe(excludeWarmup ? committedIn(1).length : t.unique_committed);
          // The extremes are the generated latencies: exactly below 2,048 µs, within the histogram's
          // 3 significant digits (0.1 %) above.
          const measured = excludeWarmup ? committedIn(1) : [...committedIn(0), ...committedIn(1)];
          const latencies = measured.map((g) => g.latency_us);
          const expectMs = (actual_ms: number, micros: number) =>
            micros < 2_048 ? expect(actual_ms).toBe(micros / 1000) : expect(Math.abs(actual_ms - micros / 1000)).toBeLessThanOrEqual((micros / 1000) * 0.001);
          if (latencies.length > 0) {
            const { max_ms, min_ms } = ledger.latency.summary();
            expectMs(max_ms, Math.max(...latencies));
            expectMs(min_ms, Math.min(...latencies));
          }
          expect(ledger.last_commit_us).toBe(firstCommitAt.size === 0 ? 0 : Math.max(...firstCommitAt.values()));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('buildLedgerAsync', () => {
  /** A ledger as plain data (its recorders encoded), to compare two ledgers whole. */
  const asData = (ledger: Ledger) => ({
    ...ledger,
    latency: ledger.latency.encode(),
    phases: ledger.phases.map((phase) => ({ ...phase, latency: phase.latency.encode() })),
  });

  it('gives the ledger buildLedger gives, from an async stream of the same rows or from a plain iterable (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            source: fc.integer({ min: 0, max: 2 }),
            rows: fc.integer({ min: 0, max: 3 }),
            deliveries: fc.integer({ min: 1, max: 3 }),
            latency_us: fc.integer({ min: 1, max: 3_000_000 }),
            acked: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        fc.integer({ min: 0, max: 3 }),
        async (generated, strangers) => {
          const nextSeq = [0, 0, 0];
          const events = generated.map((g, index) => published(nextSeq[g.source]!++, { source: `pub-${g.source}`, intended_us: T0 + index * 1_000, acked: g.acked }));
          const sink: SinkRow[] = [];
          generated.forEach((g, index) => {
            const event = events[index]!;
            for (let r = 0; r < g.rows; r++) sink.push(row(event, event.intended_us + g.latency_us + r * 1_000, r === 0 ? g.deliveries : 1));
          });
          for (let s = 0; s < strangers; s++) sink.push({ event_id: `stranger-${s}`, source: 'pub-9', seq: s, committed_us: T0 + 5_000_000, intended_us: null, deliveries: 1 });
          const input = { log: logOf(events), phases: ONLY_PHASE, dead_letters: [key(events[0] ?? published(0))], expected_id: idOf, per_second_origin_us: T0 };
          const expected = asData(buildLedger({ ...input, sink }));
          async function* stream(): AsyncGenerator<SinkRow> {
            for (const each of sink) {
              await Promise.resolve();
              yield each;
            }
          }
          expect(asData(await buildLedgerAsync({ ...input, sink: stream() }))).toEqual(expected);
          expect(asData(await buildLedgerAsync({ ...input, sink }))).toEqual(expected);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('deadLetterKey of a message the aggregator kept only the first bytes of', () => {
  const event = JSON.stringify({ v: 1, event_id: '01J0', source: 'pub-"3"', seq: 41, topic: 't', ts: 'x', payload: { data: 'x'.repeat(10_000) } });
  it('names its event by its leading source and seq, as the whole text did', () => {
    const whole = deadLetterKey({ event_id: null, raw: event, topic: 't' });
    const cut = deadLetterKey({ event_id: null, raw: event.slice(0, 4096), topic: 't' });
    expect([whole.source, whole.seq]).toEqual(['pub-"3"', 41]);
    expect([cut.source, cut.seq]).toEqual(['pub-"3"', 41]);
  });
  it('takes no name from inside a nested object or from text that is not an object', () => {
    const nested = `{"payload":{"source":"pub-1","seq":2,"data":"${'y'.repeat(5000)}`;
    expect(deadLetterKey({ event_id: null, raw: nested, topic: 't' })).toMatchObject({ source: null, seq: null });
    expect(deadLetterKey({ event_id: null, raw: 'not json "source":"pub-1","seq":2,', topic: 't' })).toMatchObject({ source: null, seq: null });
  });
});
