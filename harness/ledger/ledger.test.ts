import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SinkRow } from '../../aggregator/sink/index.ts';
import type { PublishedEvent } from '../load/log.ts';
import { buildLedger, type LedgerInput } from './index.ts';

const T0 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z in µs

function published(seq: number, overrides: Partial<PublishedEvent> = {}): PublishedEvent {
  const intended = T0 + seq * 1_000;
  return {
    event_id: `ev-${overrides.source ?? 'pub-0'}-${seq}`,
    source: 'pub-0',
    seq,
    phase: 0,
    intended_us: intended,
    sent_us: intended + 10,
    acked_us: intended + 110,
    copies_sent: 0,
    copies_acked: 0,
    publish_errors: 0,
    ...overrides,
  };
}

function row(event: Pick<PublishedEvent, 'event_id' | 'source' | 'seq' | 'intended_us'>, committed_us: number, deliveries = 1): SinkRow {
  return { event_id: event.event_id, source: event.source, seq: event.seq, committed_us, intended_us: event.intended_us, deliveries };
}

function ledgerOf(input: Partial<LedgerInput> & Pick<LedgerInput, 'published' | 'sink'>) {
  return buildLedger({ dead_letters: [], phase_names: ['only'], ...input });
}

describe('buildLedger', () => {
  it('counts every event committed exactly once as committed, nothing lost', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const ledger = ledgerOf({ published: events, sink: events.map((e) => row(e, e.intended_us + 2_000)) });
    expect(ledger.totals).toMatchObject({
      published: 3,
      acked_by_broker: 3,
      unique_committed: 3,
      lost: 0,
      lost_unacked: 0,
      sink_duplicates: 0,
      unexpected: 0,
      reordered: 0,
      max_reorder_displacement: 0,
      dlq: 0,
      dead_lettered: 0,
    });
    expect(ledger.latency.count).toBe(3);
    expect(ledger.publish_ack.count).toBe(3);
    expect(ledger.last_commit_us).toBe(events[2]!.intended_us + 2_000);
    expect(ledger.phases).toHaveLength(1);
    expect(ledger.phases[0]).toMatchObject({ name: 'only', published: 3, unique_committed: 3, lost: 0 });
  });

  it('counts an acked event missing from the sink as lost, in its phase too', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const ledger = ledgerOf({ published: events, sink: [row(events[0]!, T0 + 5_000), row(events[2]!, T0 + 6_000)] });
    expect(ledger.totals).toMatchObject({ unique_committed: 2, lost: 1, lost_unacked: 0 });
    expect(ledger.phases[0]!.lost).toBe(1);
  });

  it('counts a never-acked event missing from the sink as lost_unacked, not lost', () => {
    const events = [published(0), published(1, { acked_us: -1 }), published(2, { acked_us: -1, sent_us: -1, publish_errors: 1 })];
    const ledger = ledgerOf({ published: events, sink: [row(events[0]!, T0 + 5_000)] });
    expect(ledger.totals).toMatchObject({ acked_by_broker: 1, unique_committed: 1, lost: 0, lost_unacked: 2, publish_errors: 1 });
    expect(ledger.phases[0]!.lost).toBe(0);
    expect(ledger.publish_ack.count).toBe(1);
  });

  it('counts extra rows of one event (append mode) as sink_duplicates and the event once', () => {
    const events = [published(0), published(1)];
    const sink = [row(events[0]!, T0 + 5_000), row(events[1]!, T0 + 6_000), row(events[0]!, T0 + 7_000), row(events[0]!, T0 + 8_000)];
    const ledger = ledgerOf({ published: events, sink });
    expect(ledger.totals).toMatchObject({ unique_committed: 2, sink_duplicates: 2, lost: 0, reordered: 0 });
    // Latency and last commit come from the first commit of each event only.
    expect(ledger.latency.count).toBe(2);
    expect(ledger.last_commit_us).toBe(T0 + 6_000);
  });

  it('counts repeat deliveries absorbed by an idempotent sink from the rows\' deliveries', () => {
    const events = [published(0), published(1)];
    const ledger = ledgerOf({ published: events, sink: [row(events[0]!, T0 + 5_000, 3), row(events[1]!, T0 + 6_000, 1)] });
    expect(ledger.totals).toMatchObject({ absorbed_by_sink: 2, sink_duplicates: 0, unique_committed: 2 });
  });

  it('counts a row whose event_id this run never published as unexpected, and nothing else', () => {
    const events = [published(0)];
    const stranger = published(7, { event_id: 'ev-from-another-run' });
    const ledger = ledgerOf({ published: events, sink: [row(stranger, T0 + 9_000), row(events[0]!, T0 + 5_000)] });
    expect(ledger.totals).toMatchObject({ unexpected: 1, unique_committed: 1, sink_duplicates: 0, reordered: 0 });
    expect(ledger.latency.count).toBe(1);
    expect(ledger.last_commit_us).toBe(T0 + 5_000);
  });

  it('counts per-source reordering: seq 0, 2, 1 committed in that order is one reorder of displacement 1', () => {
    const events = [0, 1, 2].map((seq) => published(seq));
    const sink = [row(events[0]!, T0 + 5_000), row(events[2]!, T0 + 6_000), row(events[1]!, T0 + 7_000)];
    const ledger = ledgerOf({ published: events, sink });
    expect(ledger.totals).toMatchObject({ reordered: 1, max_reorder_displacement: 1, unique_committed: 3 });
  });

  it('does not count interleaving across sources as reordering, and measures displacement from the highest seq', () => {
    const a = [0, 1, 2, 3, 4].map((seq) => published(seq, { source: 'pub-a' }));
    const b = [0, 1].map((seq) => published(seq, { source: 'pub-b' }));
    // b interleaves with a freely; a commits 0, 4, 1, 2, 3: three reorders, the worst 4 − 1 = 3 behind.
    const order = [b[1]!, a[0]!, a[4]!, b[0]!, a[1]!, a[2]!, a[3]!];
    const ledger = ledgerOf({ published: [...a, ...b], sink: order.map((e, i) => row(e, T0 + 10_000 + i)) });
    expect(ledger.totals).toMatchObject({ reordered: 4, max_reorder_displacement: 3 });
  });

  it('counts a missing event found in the DLQ as dead_lettered, not lost', () => {
    const events = [published(0), published(1), published(2, { acked_us: -1 })];
    const ledger = ledgerOf({
      published: events,
      sink: [row(events[0]!, T0 + 5_000)],
      dead_letters: [events[1]!.event_id, events[2]!.event_id, null, 'not-from-this-run'],
    });
    expect(ledger.totals).toMatchObject({ unique_committed: 1, lost: 0, lost_unacked: 0, dead_lettered: 2, dlq: 4 });
  });

  it('counts a dead letter of an event that was also committed as committed, not dead_lettered', () => {
    const events = [published(0)];
    const ledger = ledgerOf({ published: events, sink: [row(events[0]!, T0 + 5_000)], dead_letters: [events[0]!.event_id] });
    expect(ledger.totals).toMatchObject({ unique_committed: 1, dead_lettered: 0, dlq: 1 });
  });

  it('leaves an excluded (warm-up) phase out of the overall latency but keeps it in its phase', () => {
    const warm = [0, 1].map((seq) => published(seq, { phase: 0 }));
    const measured = [2, 3, 4].map((seq) => published(seq, { phase: 1 }));
    const events = [...warm, ...measured];
    const ledger = buildLedger({
      published: events,
      sink: events.map((e) => row(e, e.intended_us + (e.phase === 0 ? 1_900 : 300))),
      dead_letters: [],
      phase_names: ['warmup', 'steady'],
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
  });

  it('measures latency as first commit − intended send time (not the actual send), publish→ack from the actual send', () => {
    const late = published(0, { intended_us: T0, sent_us: T0 + 400, acked_us: T0 + 450 });
    const ledger = ledgerOf({ published: [late], sink: [row(late, T0 + 1_234), row(late, T0 + 1_900)] });
    expect(ledger.latency.summary()).toMatchObject({ count: 1, min_ms: 1.234, max_ms: 1.234 });
    expect(ledger.publish_ack.summary()).toMatchObject({ count: 1, max_ms: 0.05 });
  });

  it('sums copies and publish errors over the events', () => {
    const events = [published(0, { copies_sent: 2, copies_acked: 1 }), published(1, { copies_sent: 1, copies_acked: 1, publish_errors: 3 })];
    const ledger = ledgerOf({ published: events, sink: [] });
    expect(ledger.totals).toMatchObject({ copies_published: 3, copies_acked: 2, publish_errors: 3, lost: 2 });
    expect(ledger.last_commit_us).toBe(0);
  });

  it('is empty for an empty run', () => {
    const ledger = ledgerOf({ published: [], sink: [] });
    expect(ledger.totals).toMatchObject({ published: 0, unique_committed: 0, lost: 0, reordered: 0 });
    expect(ledger.latency.count).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: for a random history whose truth is known by construction, the ledger classifies
// every event exactly.

type Outcome =
  | { kind: 'committed'; extra_rows: number; also_dead_lettered: boolean }
  | { kind: 'lost' }
  | { kind: 'lost_unacked' }
  | { kind: 'dead_lettered'; acked: boolean };

interface GeneratedEvent {
  source: number;
  phase: number;
  acked: boolean;
  outcome: Outcome;
  /** Sort keys placing this event's rows (first, then extras) in the commit order. */
  order_keys: number[];
  deliveries: number;
  latency_us: number;
}

const outcome: fc.Arbitrary<Outcome> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('committed' as const), extra_rows: fc.constant(0), also_dead_lettered: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('committed' as const), extra_rows: fc.integer({ min: 1, max: 3 }), also_dead_lettered: fc.constant(false) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lost' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lost_unacked' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dead_lettered' as const), acked: fc.boolean() }) },
);

const generatedEvent: fc.Arbitrary<GeneratedEvent> = fc
  .record({
    source: fc.integer({ min: 0, max: 3 }),
    phase: fc.integer({ min: 0, max: 1 }),
    acked_if_committed: fc.boolean(),
    outcome,
    order_keys: fc.array(fc.nat({ max: 1_000 }), { minLength: 4, maxLength: 4 }),
    deliveries: fc.integer({ min: 1, max: 3 }),
    latency_us: fc.integer({ min: 1, max: 2_000 }),
  })
  .map(({ acked_if_committed, ...rest }) => ({
    ...rest,
    acked:
      rest.outcome.kind === 'lost' ? true
      : rest.outcome.kind === 'lost_unacked' ? false
      : rest.outcome.kind === 'dead_lettered' ? rest.outcome.acked
      : acked_if_committed,
  }));

const strangerRow = fc.record({ source: fc.integer({ min: 0, max: 3 }), seq: fc.nat({ max: 100 }), order_key: fc.nat({ max: 1_000 }) });

interface Truth {
  published: number;
  acked_by_broker: number;
  unique_committed: number;
  lost: number;
  lost_unacked: number;
  sink_duplicates: number;
  absorbed_by_sink: number;
  unexpected: number;
  dead_lettered: number;
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

describe('buildLedger (property)', () => {
  it('classifies a random history exactly: lost, unacked, duplicates, unexpected, dead-lettered, reordered', () => {
    fc.assert(
      fc.property(
        fc.array(generatedEvent, { maxLength: 60 }),
        fc.array(strangerRow, { maxLength: 4 }),
        fc.array(fc.constantFrom<string | null>(null, 'dlq-from-elsewhere'), { maxLength: 3 }),
        fc.boolean(),
        (generated, strangers, foreignDeadLetters, excludeWarmup) => {
          const nextSeq = [0, 0, 0, 0];
          const events: PublishedEvent[] = generated.map((g, index) => {
            const seq = nextSeq[g.source]!++;
            const intended = T0 + index * 1_000;
            return {
              event_id: `ev-${index}`,
              source: `pub-${g.source}`,
              seq,
              phase: g.phase,
              intended_us: intended,
              sent_us: intended + 5,
              acked_us: g.acked ? intended + 50 : -1,
              copies_sent: 0,
              copies_acked: 0,
              publish_errors: 0,
            };
          });

          // Every sink row with a sort key; a stable sort by key gives a random commit order in
          // which an event's first row is whichever of its rows comes first.
          const keyed: { key: number; tiebreak: number; event?: number; stranger?: (typeof strangers)[number] }[] = [];
          generated.forEach((g, index) => {
            if (g.outcome.kind !== 'committed') return;
            for (let r = 0; r <= g.outcome.extra_rows; r++) keyed.push({ key: g.order_keys[r]!, tiebreak: keyed.length, event: index });
          });
          strangers.forEach((s) => keyed.push({ key: s.order_key, tiebreak: keyed.length, stranger: s }));
          keyed.sort((x, y) => x.key - y.key || x.tiebreak - y.tiebreak);

          const firstCommitAt = new Map<number, number>();
          const sink: SinkRow[] = keyed.map((entry, position) => {
            const committed_us = T0 + 10_000_000 + position * 100;
            if (entry.stranger) {
              const s = entry.stranger;
              return { event_id: `stranger-${position}`, source: `pub-${s.source}`, seq: s.seq, committed_us, intended_us: null, deliveries: 1 };
            }
            const index = entry.event!;
            const event = events[index]!;
            if (firstCommitAt.has(index)) return row(event, committed_us);
            // The first row carries the generated latency and deliveries; extra rows come later.
            const at = event.intended_us + generated[index]!.latency_us;
            firstCommitAt.set(index, at);
            return row(event, at, generated[index]!.deliveries);
          });

          const deadLetters: (string | null)[] = [...foreignDeadLetters];
          generated.forEach((g, index) => {
            if (g.outcome.kind === 'dead_lettered' || (g.outcome.kind === 'committed' && g.outcome.also_dead_lettered)) {
              deadLetters.push(events[index]!.event_id);
            }
          });

          const truth: Truth = {
            published: generated.length,
            acked_by_broker: generated.filter((g) => g.acked).length,
            unique_committed: generated.filter((g) => g.outcome.kind === 'committed').length,
            lost: generated.filter((g) => g.outcome.kind === 'lost').length,
            lost_unacked: generated.filter((g) => g.outcome.kind === 'lost_unacked').length,
            sink_duplicates: generated.reduce((sum, g) => sum + (g.outcome.kind === 'committed' ? g.outcome.extra_rows : 0), 0),
            absorbed_by_sink: generated.reduce((sum, g) => sum + (g.outcome.kind === 'committed' ? g.deliveries - 1 : 0), 0),
            unexpected: strangers.length,
            dead_lettered: generated.filter((g) => g.outcome.kind === 'dead_lettered').length,
            dlq: deadLetters.length,
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
            published: events,
            sink,
            dead_letters: deadLetters,
            phase_names: ['warmup', 'steady'],
            excluded_phases: excludeWarmup ? new Set([0]) : undefined,
          });

          expect(ledger.totals).toMatchObject(truth);
          // Nothing published is unaccounted for, and nothing is counted twice.
          const t = ledger.totals;
          expect(t.unique_committed + t.lost + t.lost_unacked + t.dead_lettered).toBe(t.published);

          const committedIn = (phase: number) => generated.filter((g) => g.phase === phase && g.outcome.kind === 'committed');
          expect(ledger.phases.map((p) => p.unique_committed)).toEqual([committedIn(0).length, committedIn(1).length]);
          expect(ledger.phases.map((p) => p.lost)).toEqual(
            [0, 1].map((phase) => generated.filter((g) => g.phase === phase && g.outcome.kind === 'lost').length),
          );
          expect(ledger.latency.count).toBe(excludeWarmup ? committedIn(1).length : t.unique_committed);
          expect(ledger.publish_ack.count).toBe(truth.acked_by_broker);
          const latencies = [...committedIn(0), ...committedIn(1)].map((g) => g.latency_us);
          // Below 2048 µs the histogram is exact, so the extremes are the generated latencies.
          if (!excludeWarmup && latencies.length > 0) {
            expect(ledger.latency.summary().max_ms).toBe(Math.max(...latencies) / 1000);
            expect(ledger.latency.summary().min_ms).toBe(Math.min(...latencies) / 1000);
          }
          expect(ledger.last_commit_us).toBe(firstCommitAt.size === 0 ? 0 : Math.max(...firstCommitAt.values()));
        },
      ),
      { numRuns: 300 },
    );
  });
});
