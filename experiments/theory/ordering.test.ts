// Table 4: the pair judging on hand-made histories (each rule shown right and wrong), then two small
// real runs through one embedded Aedes broker: with skew and reordering, and without either.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../aggregator/clock.ts';
import { startBroker, type BrokerHandle } from '../../engine/broker/index.ts';
import {
  causalKnowledge,
  causalLinks,
  compareVectors,
  judge,
  summariseOrdering,
  wrongCell,
  type ObservedEvent,
  type OrderingRule,
  type RuleScore,
} from './ordering-pairs.ts';
import { DEFAULT_ORDERING_OPTIONS, orderingFindings, orderingRows, runOrdering, tsMicros, type OrderingOptions } from './ordering.ts';

/** A hand-made event; arrival defaults to seq order and the clocks to values a correct source would send. */
function event(source: string, seq: number, fields: Partial<ObservedEvent> = {}): ObservedEvent {
  return {
    event_id: `${source}${seq}`,
    source,
    seq,
    ts_us: 1_000_000 + seq * 1_000,
    lamport: seq + 1,
    vector: { [source]: seq + 1 },
    caused_by: null,
    arrival: seq,
    ...fields,
  };
}

describe('judge: each rule right and wrong', () => {
  it('arrival: right when the earlier event arrives first, wrong when a held-back one arrives after its successor', () => {
    expect(judge('arrival', event('A', 0, { arrival: 0 }), event('A', 1, { arrival: 1 }))).toBe('right');
    expect(judge('arrival', event('A', 0, { arrival: 5 }), event('A', 1, { arrival: 4 }))).toBe('wrong');
  });

  it('timestamp: right with true clocks, wrong when the cause\'s clock runs ahead by more than the reaction delay', () => {
    const cause = event('A', 0, { ts_us: 1_000_000 });
    expect(judge('timestamp', cause, event('B', 0, { ts_us: 1_020_000, caused_by: 'A0' }))).toBe('right');
    // A is +500 ms: its event says 1.5 s; B reacts 20 ms later by its true clock, 1.02 s.
    expect(judge('timestamp', event('A', 0, { ts_us: 1_500_000 }), event('B', 0, { ts_us: 1_020_000, caused_by: 'A0' }))).toBe('wrong');
  });

  it('timestamp: equal timestamps are broken by source, then seq', () => {
    expect(judge('timestamp', event('A', 0, { ts_us: 7 }), event('B', 0, { ts_us: 7 }))).toBe('right');
    expect(judge('timestamp', event('B', 0, { ts_us: 7 }), event('A', 0, { ts_us: 7 }))).toBe('wrong');
    expect(judge('timestamp', event('A', 0, { ts_us: 7 }), event('A', 1, { ts_us: 7 }))).toBe('right');
  });

  it('source-seq: right within a source whatever arrival and ts say, wrong after a counter reset, cannot order across sources', () => {
    expect(judge('source-seq', event('A', 3, { arrival: 9, ts_us: 9 }), event('A', 4, { arrival: 1, ts_us: 1 }))).toBe('right');
    expect(judge('source-seq', event('A', 41), event('A', 0))).toBe('wrong');
    expect(judge('source-seq', event('A', 0), event('B', 7))).toBe('cannot-order');
  });

  it('lamport: right when the reaction merged the cause\'s clock, wrong when it did not, ties by source', () => {
    const cause = event('A', 6, { lamport: 7 });
    expect(judge('lamport', cause, event('B', 1, { lamport: 9, caused_by: 'A6' }))).toBe('right');
    expect(judge('lamport', cause, event('B', 1, { lamport: 2, caused_by: 'A6' }))).toBe('wrong');
    expect(judge('lamport', event('A', 0, { lamport: 3 }), event('B', 0, { lamport: 3 }))).toBe('right');
    expect(judge('lamport', event('B', 0, { lamport: 3 }), event('A', 0, { lamport: 3 }))).toBe('wrong');
  });

  it('vector-clock: right when the later vector dominates, wrong when reversed, cannot order when incomparable', () => {
    expect(judge('vector-clock', event('A', 0, { vector: { A: 1 } }), event('B', 0, { vector: { A: 1, B: 1 } }))).toBe('right');
    expect(judge('vector-clock', event('A', 0, { vector: { A: 1, B: 1 } }), event('B', 0, { vector: { A: 1 } }))).toBe('wrong');
    expect(judge('vector-clock', event('A', 0, { vector: { A: 1 } }), event('B', 0, { vector: { B: 1 } }))).toBe('cannot-order');
  });

  it('compareVectors treats a missing entry as 0', () => {
    expect(compareVectors({ A: 1 }, { A: 1, B: 0 })).toBe(0);
    expect(compareVectors({ A: 1 }, { A: 2 })).toBe(-1);
    expect(compareVectors({ A: 2, B: 0 }, { B: 1 })).toBeNull();
  });
});

describe('causal links and the happens-before relation', () => {
  // A0 → A1 → A2; B0 reacts to A0; B1 after B0; A2 reacts to B1.
  const history = (): ObservedEvent[] => [
    event('A', 0, { lamport: 1, vector: { A: 1, B: 0 }, ts_us: 100, arrival: 0 }),
    event('A', 1, { lamport: 2, vector: { A: 2, B: 0 }, ts_us: 200, arrival: 2 }),
    event('B', 0, { lamport: 3, vector: { A: 1, B: 1 }, ts_us: 50, arrival: 1, caused_by: 'A0' }),
    event('B', 1, { lamport: 4, vector: { A: 1, B: 2 }, ts_us: 60, arrival: 4 }),
    event('A', 2, { lamport: 6, vector: { A: 3, B: 2 }, ts_us: 300, arrival: 3, caused_by: 'B1' }),
  ];

  it('links consecutive events of a source (across a gap) and each reaction to its cause; a missing cause is counted', () => {
    const events = [event('A', 0), event('A', 2), event('B', 0, { caused_by: 'A0' }), event('B', 1, { caused_by: 'A9' })];
    const { links, causes_missing } = causalLinks(events);
    expect(links.map((link) => `${link.before.event_id}->${link.after.event_id}:${link.kind}`).sort()).toEqual([
      'A0->A2:same-source',
      'A0->B0:cross-source',
      'B0->B1:same-source',
    ]);
    expect(causes_missing).toBe(1);
  });

  it('knows what each event transitively happens after, from the links alone', () => {
    const events = history();
    const knowledge = causalKnowledge(events);
    const [a0, a1, b0, b1, a2] = events;
    expect(Object.fromEntries(knowledge.get(b1!)!)).toEqual({ A: 1, B: 2 });
    expect(Object.fromEntries(knowledge.get(a2!)!)).toEqual({ A: 3, B: 2 });
    expect(Object.fromEntries(knowledge.get(a1!)!)).toEqual({ A: 2 });
    expect(Object.fromEntries(knowledge.get(a0!)!)).toEqual({ A: 1 });
    expect(Object.fromEntries(knowledge.get(b0!)!)).toEqual({ A: 1, B: 1 });
  });

  it('rejects a causal cycle', () => {
    expect(() => causalKnowledge([event('A', 0, { caused_by: 'B0' }), event('B', 0, { caused_by: 'A0' })])).toThrow(/causal cycle/);
  });

  it('scores every rule on the direct links and the concurrent pairs', () => {
    const summary = summariseOrdering(history());
    expect(summary).toMatchObject({ events: 5, same_source_pairs: 3, cross_source_pairs: 2, causal_pairs: 8, concurrent_pairs: 2, causes_missing: 0 });
    const score = (rule: OrderingRule): RuleScore => summary.scores.find((candidate) => candidate.rule === rule)!;
    // Same-source links A0→A1, A1→A2, B0→B1; reactions A0→B0, B1→A2. Concurrent: A1‖B0, A1‖B1.
    // Arrival: A1 (2) vs A2 (3) right, A0→A1 right, B0 (1) → B1 (4) right; B1 (4) → A2 (3) wrong.
    expect(score('arrival')).toMatchObject({ same_source: { pairs: 3, wrong: 0 }, cross_source: { pairs: 2, wrong: 1 }, concurrent: { pairs: 2, ordered: 2 } });
    // B's clock is behind: B0 (50) before its cause A0 (100).
    expect(score('timestamp')).toMatchObject({ same_source: { wrong: 0 }, cross_source: { wrong: 1, right: 1 } });
    expect(score('source-seq')).toMatchObject({ same_source: { right: 3 }, cross_source: { cannot_order: 2 }, concurrent: { ordered: 0 } });
    expect(score('lamport')).toMatchObject({ same_source: { wrong: 0 }, cross_source: { wrong: 0 }, concurrent: { ordered: 2 } });
    expect(score('vector-clock')).toMatchObject({ same_source: { right: 3 }, cross_source: { right: 2 }, concurrent: { ordered: 0 } });
    expect(wrongCell(score('arrival').cross_source)).toBe(0.5);
    expect(wrongCell(score('source-seq').cross_source)).toBe('cannot order');
    expect(wrongCell({ pairs: 0, right: 0, wrong: 0, cannot_order: 0 })).toBeNull();
  });

  it('findings quote the rows, and call a Lamport error a bug', () => {
    const summary = summariseOrdering(history());
    const run = {
      observed: history(), published: 5, duplicates_delivered: 0, not_delivered: 0, invalid_delivered: 0, reactions_sent: 2,
      skews: { A: 0, B: -2_000 }, reorder: { held: 1, reordered: 1 }, elapsed_ms: 1, options: DEFAULT_ORDERING_OPTIONS,
    };
    const rows = orderingRows(summary);
    const findings = orderingFindings(rows, summary, run);
    expect(findings.join('\n')).toContain('50% of reaction pairs wrong, with clocks skewed by B −2,000 ms');
    expect(findings.join('\n')).toContain('as it must');
    const broken = rows.map((row) => (row.rule === 'Lamport clock (ties by source)' ? { ...row, cross_source_wrong: 0.25 } : row));
    expect(orderingFindings(broken, summary, run).join('\n')).toContain('this run has a bug');
  });
});

describe('tsMicros', () => {
  it('reads back what isoMicros wrote, and honours offsets and short fractions', () => {
    expect(tsMicros(isoMicros(1_795_000_000_123_456))).toBe(1_795_000_000_123_456);
    expect(tsMicros('2026-01-01T00:00:00.1Z')).toBe(Date.parse('2026-01-01T00:00:00Z') * 1000 + 100_000);
    expect(tsMicros('2026-01-01T05:30:00+05:30')).toBe(Date.parse('2026-01-01T00:00:00Z') * 1000);
    expect(() => tsMicros('yesterday')).toThrow(/not ISO 8601/);
  });
});

describe('a small real run through the embedded broker', () => {
  let broker: BrokerHandle;
  const small: OrderingOptions = {
    sources: 4,
    events_per_source: 40,
    interval_ms: 20,
    reaction_probability: 0.4,
    skews_ms: [-2_000, 500],
    reorder: { fraction: 0.25, window: 3 },
    drain_timeout_ms: 5_000,
  };

  beforeAll(async () => {
    broker = await startBroker('embedded', { persistence: 'memory' });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  const wrong = (summary: ReturnType<typeof summariseOrdering>, rule: OrderingRule, kind: 'same_source' | 'cross_source') =>
    summary.scores.find((score) => score.rule === rule)![kind];

  it('with skew and reordering: Lamport and vector clocks 0 wrong, seq 0 wrong within a source, ts and arrival wrong', async () => {
    const run = await runOrdering(7, small, broker.url);
    expect(run.not_delivered).toBe(0);
    expect(run.observed).toHaveLength(small.sources * small.events_per_source);
    const summary = summariseOrdering(run.observed);
    expect(summary.cross_source_pairs).toBeGreaterThan(0);
    expect(summary.causes_missing).toBe(0);
    for (const rule of ['lamport', 'vector-clock'] as const) {
      expect(wrong(summary, rule, 'same_source').wrong).toBe(0);
      expect(wrong(summary, rule, 'cross_source').wrong).toBe(0);
    }
    expect(wrong(summary, 'source-seq', 'same_source')).toMatchObject({ wrong: 0, cannot_order: 0 });
    expect(wrong(summary, 'source-seq', 'cross_source').cannot_order).toBe(summary.cross_source_pairs);
    expect(wrong(summary, 'timestamp', 'same_source').wrong).toBe(0);
    expect(wrong(summary, 'timestamp', 'cross_source').wrong).toBeGreaterThan(0);
    expect(run.reorder.reordered).toBeGreaterThan(0);
    expect(wrong(summary, 'arrival', 'same_source').wrong).toBeGreaterThan(0);
  });

  it('without skew or reordering: ts and arrival put no causal pair wrong either', async () => {
    const run = await runOrdering(7, { ...small, skews_ms: [], reorder: { fraction: 0, window: 1 } }, broker.url);
    expect(run.not_delivered).toBe(0);
    const summary = summariseOrdering(run.observed);
    expect(summary.cross_source_pairs).toBeGreaterThan(0);
    for (const rule of ['arrival', 'timestamp', 'lamport'] as const) {
      expect(wrong(summary, rule, 'same_source').wrong).toBe(0);
      expect(wrong(summary, rule, 'cross_source').wrong).toBe(0);
    }
  });
});
