// The audit of a sink after a load chaosbench did not publish itself (a k6 run of an exported
// script, docs/k6.md): what the script published is known from the scenario alone (every iteration
// k of phase i is event g = first(i) + k: source pub-(g mod P), seq ⌊g / P⌋, the harness's seeded
// id), except when each k6 scenario started. That start is read from the sink: every row of a phase
// carries intended_us = start + offsetOf(k), so the start most of its rows agree on is the phase's.
// Then the expected events become a publish log (each one "published and acknowledged": k6 keeps no
// per-event record) and the harness's own ledger (engine/ledger/) counts the sink against it. k6's
// summary, if given, splits the events missing from the sink by its counts. Pure: no I/O.

import type { SinkRow } from '../../aggregator/sink/index.ts';
import { eventIdFor } from '../../engine/load/identity.ts';
import { ACKED, PublishLog, QUEUED, SENT } from '../../engine/load/log.ts';
import { Schedule } from '../../engine/load/schedule.ts';
import { buildLedgerAsync, type DeadLetterKey, type Ledger } from '../../engine/ledger/index.ts';
import { evaluateChecks, type CheckResult } from '../../engine/result.ts';
import { latencyResult } from '../../engine/result-assembly.ts';
import type { LatencySummary } from '../../engine/metrics/histogram.ts';
import type { Check, CheckMetric, Scenario } from '../../scenarios/schema.ts';
import { WARMUP_PHASE } from '../../scenarios/schema.ts';

/** What k6's end-of-test summary says (both counts k6's own, over the whole run). */
export interface K6Counts {
  /** Iterations k6 could not start in time: events never published. */
  dropped_iterations: number;
  /** Publishes without a PUBACK in time (or whose connection failed): the script's Counter. */
  publishes_unacked: number;
}

/** A value the audit knows exactly (low == high) or only between two bounds. */
export interface Bounded {
  low: number;
  high: number;
}

export interface AuditPhase {
  name: string;
  expected: number;
  committed: number;
  missing: number;
  /** When its k6 scenario started (µs since the epoch): read from its rows, or estimated from a neighbour's when none has a row. */
  start_us: number;
  start_from: 'rows' | 'estimated';
  /** Rows of the phase whose intended time agrees with that start. */
  rows_agreeing: number;
}

export interface AuditCheck extends Check {
  /** The value the check was judged on: exact, or both bounds (the check holds only if it holds for both). */
  actual: Bounded | null;
  outcome: 'pass' | 'fail' | 'undetermined';
}

export interface Audit {
  scenario: string;
  seed: number;
  totals: {
    /** Events the script publishes: every iteration of every phase (exact, from the scenario). */
    expected: number;
    /** Rows in the sink's events table. */
    rows: number;
    /** Expected events in the sink, each once (exact). */
    unique_committed: number;
    /** Expected events not in the sink, dead-lettered ones included (exact). */
    not_in_sink: number;
    /** Of those, valid events that sit in the DLQ (exact). */
    dead_lettered: number;
    /** Extra rows of an expected event (append-mode sinks; exact). */
    sink_duplicates: number;
    /** Deliveries of a committed event absorbed by the sink's key (the rows' deliveries column). */
    absorbed_by_sink: number;
    /** Rows that are no event of the script: an id other than eventIdFor(seed, source, seq, intended), or no such (source, seq). */
    unexpected: number;
    reordered: number;
    /** Distinct messages in the DLQ (all of them). */
    dlq: number;
  };
  /** The split of not_in_sink by k6's counts; null without a k6 summary. */
  k6: null | {
    counts: K6Counts;
    /** never_sent: k6's dropped_iterations, each an event never published (exact as k6 counts it). */
    never_sent: Bounded;
    /** lost_unacked: missing and not acknowledged; at most publishes_unacked (an unacked publish may still have arrived). */
    lost_unacked: Bounded;
    /** lost: acknowledged per k6, not in the sink: the rest, between bounds. */
    lost: Bounded;
  };
  /** lost as the checks judge it: with k6's summary its bounds above; without, between 0 and not_in_sink. */
  lost: Bounded;
  phases: AuditPhase[];
  /** End-to-end latency of the measured phases: the sink's commit time − intended_us, first commit of each event. */
  latency: LatencySummary;
  commit_time_unrecorded: number;
  /**
   * Rows committed before their intended send time, and by how much at most (ms): impossible on one
   * clock, so the two hosts' clocks disagree by at least that much and the latency is not to be trusted.
   */
  clock: { committed_before_intended: number; max_ahead_ms: number };
  checks: AuditCheck[];
  /** What looks wrong with the audit's own inputs (the flags, k6's counts), in words. */
  findings: string[];
  /** Checks the audit cannot judge, with why. */
  not_judged: { check: string; why: string }[];
  verdict: 'pass' | 'fail';
}

/** Checks the audit can judge, and which need k6's summary. Every other check metric cannot be judged from the sink. */
const JUDGED: Partial<Record<CheckMetric, 'sink' | 'k6'>> = {
  lost: 'sink',
  sink_duplicates: 'sink',
  unexpected: 'sink',
  dlq: 'sink',
  dead_lettered: 'sink',
  reordered: 'sink',
  committed_ratio: 'sink',
  never_sent: 'k6',
  lost_unacked: 'k6',
};
const NOT_JUDGED_WHY: Partial<Record<CheckMetric, string>> = {
  duplicates_absorbed: "needs a record of which copies the broker acknowledged; k6's duplicate_copies counts copies only",
  recovery_s: 'needs the fault times of a harness run',
};
const isLatency = (metric: CheckMetric) => metric.endsWith('_ms');

/** Reads the sink twice (once to find each phase's start, once for the ledger): a fresh stream each call. */
export type SinkRows = () => Iterable<SinkRow> | AsyncIterable<SinkRow>;

async function forEachRow(rows: SinkRows, each: (row: SinkRow) => void): Promise<void> {
  const stream = rows();
  if (Symbol.asyncIterator in stream) for await (const row of stream) each(row);
  else for (const row of stream) each(row);
}

/** The global index g of (source, seq) in the script, or undefined for no event of it. */
function globalIndex(schedule: Schedule, publishers: number, source: string, seq: number): number | undefined {
  const match = /^pub-(\d+)$/.exec(source);
  if (!match || !Number.isInteger(seq) || seq < 0) return undefined;
  const publisher = Number(match[1]);
  if (publisher >= publishers) return undefined;
  const g = seq * publishers + publisher;
  return g < schedule.total ? g : undefined;
}

export async function audit(input: { scenario: Scenario; rows: SinkRows; dead_letters: readonly DeadLetterKey[]; k6?: K6Counts }): Promise<Audit> {
  const { scenario } = input;
  const P = scenario.load.publishers;
  // The schedule from time 0: a phase's offsets are the script's, its start is read from the sink.
  const schedule = new Schedule(scenario.phases, 0, P);
  const relative = (g: number, i: number) => schedule.intendedAt(g, i) - schedule.phases[i]!.start_us;

  const votes = schedule.phases.map(() => new Map<number, number>());
  let rowCount = 0;
  const clock = { committed_before_intended: 0, max_ahead_ms: 0 };
  await forEachRow(input.rows, (row) => {
    rowCount++;
    if (row.intended_us !== null && row.committed_us < row.intended_us) {
      clock.committed_before_intended++;
      clock.max_ahead_ms = Math.max(clock.max_ahead_ms, (row.intended_us - row.committed_us) / 1000);
    }
    const g = row.intended_us === null ? undefined : globalIndex(schedule, P, row.source, row.seq);
    if (g === undefined) return;
    const i = schedule.phaseOf(g);
    const start = row.intended_us! - relative(g, i);
    votes[i]!.set(start, (votes[i]!.get(start) ?? 0) + 1);
  });
  const found = votes.map((vote) => [...vote].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]);
  // A phase without rows: its start from the nearest phase with one, by the scenario's offsets.
  const anchor = found.findIndex((best) => best !== undefined);
  const starts = schedule.phases.map((phase, i) => {
    const best = found[i];
    if (best !== undefined) return { start_us: best[0], start_from: 'rows' as const, rows_agreeing: best[1] };
    const base = anchor < 0 ? 0 : found[anchor]![0] - schedule.phases[anchor]!.start_us;
    return { start_us: base + phase.start_us, start_from: 'estimated' as const, rows_agreeing: 0 };
  });

  // Every expected event, as published and acknowledged: the ledger's `lost` is then every expected event not in the sink.
  const log = new PublishLog();
  schedule.phases.forEach((phase, i) => {
    for (let g = phase.first; g < phase.first + phase.count; g++) {
      const record = log.record(`pub-${g % P}`);
      const seq = Math.floor(g / P);
      log.add(record, seq, starts[i]!.start_us + relative(g, i));
      record.flags[seq]! |= QUEUED | SENT | ACKED;
    }
  });
  const ledger: Ledger = await buildLedgerAsync({
    log,
    phases: schedule.phases.map((phase, i) => ({ name: phase.name, start_us: starts[i]!.start_us, end_us: starts[i]!.start_us + (phase.end_us - phase.start_us) })),
    sink: input.rows(),
    dead_letters: input.dead_letters,
    excluded_phases: new Set(scenario.phases.flatMap((phase, i) => (phase.name === WARMUP_PHASE ? [i] : []))),
    expected_id: (source, seq, intended_us) => eventIdFor(scenario.seed, source, seq, intended_us),
  });
  const t = ledger.totals;
  const notInSink = t.lost;
  const k6 = input.k6 === undefined ? null : splitMissing(notInSink, input.k6);
  const lost = k6?.lost ?? { low: 0, high: notInSink };

  // The checks are judged by the harness's own evaluateChecks, on a result-shaped object: the sink's
  // counts, and the end-to-end latency (publish_ack is only there for the type; no check reads it).
  const base = {
    totals: { ...t, lost: 0, lost_unacked: 0, never_sent: 0, publish_errors: 0, puback_timeouts: 0, errors: 0 },
    latency: { end_to_end: latencyResult(ledger.latency), publish_ack: latencyResult(ledger.latency) },
  };
  const at = (which: 'low' | 'high') => ({
    ...base,
    totals: { ...base.totals, lost: lost[which], lost_unacked: k6?.lost_unacked[which] ?? 0, never_sent: k6?.never_sent[which] ?? 0 },
  });
  const checks: AuditCheck[] = [];
  const notJudged: Audit['not_judged'] = [];
  for (const check of scenario.checks) {
    const said = `${check.metric} ${check.op} ${check.value}`;
    const kind = isLatency(check.metric) ? 'sink' : JUDGED[check.metric];
    if (kind === undefined) {
      notJudged.push({ check: said, why: NOT_JUDGED_WHY[check.metric] ?? 'not measurable from the sink' });
      continue;
    }
    if (kind === 'k6' && k6 === null) {
      notJudged.push({ check: said, why: "k6's count: give --k6-summary (the script also holds it as a k6 threshold)" });
      continue;
    }
    const [low, high] = [evaluateChecks([check], at('low'))[0]!, evaluateChecks([check], at('high'))[0]!] as [CheckResult, CheckResult];
    const actual = low.actual === null || high.actual === null ? null : { low: low.actual, high: high.actual };
    const outcome = low.passed && high.passed ? 'pass' : !low.passed && !high.passed ? 'fail' : 'undetermined';
    checks.push({ ...check, actual, outcome });
  }
  const findings: string[] = [];
  if (rowCount > 0 && t.unique_committed === 0) {
    findings.push(`no row of the sink is an event of ${scenario.name} with seed ${scenario.seed}: give --scenario, --seed, --set and the load flags the script was exported with`);
  }
  if (input.k6 !== undefined && input.k6.dropped_iterations > notInSink) {
    findings.push(`k6 dropped ${input.k6.dropped_iterations} iterations but only ${notInSink} expected events are missing from the sink: the load flags may not be the exported ones (or another run wrote to the sink)`);
  }
  return {
    scenario: scenario.name,
    seed: scenario.seed,
    totals: {
      expected: t.published,
      rows: rowCount,
      unique_committed: t.unique_committed,
      not_in_sink: notInSink,
      dead_lettered: t.dead_lettered,
      sink_duplicates: t.sink_duplicates,
      absorbed_by_sink: t.absorbed_by_sink,
      unexpected: t.unexpected,
      reordered: t.reordered,
      dlq: t.dlq,
    },
    k6,
    lost,
    phases: schedule.phases.map((phase, i) => ({
      name: phase.name,
      expected: phase.count,
      committed: ledger.phases[i]!.unique_committed,
      missing: ledger.phases[i]!.lost,
      ...starts[i]!,
    })),
    latency: ledger.latency.summary(),
    commit_time_unrecorded: ledger.commit_time_unrecorded,
    clock,
    checks,
    findings,
    not_judged: notJudged,
    // A check the audit cannot decide between its bounds is not a pass.
    verdict: checks.every((check) => check.outcome === 'pass') ? 'pass' : 'fail',
  };
}

/**
 * The events missing from the sink split by k6's counts. k6 says how many, never which: each
 * dropped iteration is an event never published (never in the sink, so all of them are missing);
 * an unacknowledged publish may still have reached the broker and the sink, so at most
 * publishes_unacked of the missing are unacknowledged ones; the rest were acknowledged and lost.
 */
export function splitMissing(missing: number, counts: K6Counts): NonNullable<Audit['k6']> {
  const neverSent = Math.min(counts.dropped_iterations, missing);
  const sent = missing - neverSent;
  const unacked = Math.min(counts.publishes_unacked, sent);
  return {
    counts,
    never_sent: { low: neverSent, high: neverSent },
    lost_unacked: { low: 0, high: unacked },
    lost: { low: sent - unacked, high: sent },
  };
}
