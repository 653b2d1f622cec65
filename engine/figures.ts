// The figures of one finished run that campaigns compare (compare's table, the gate's statistics,
// a gate baseline file's replicates): taken from its RunResult once, when it ran, and stored in
// compare.json, gate.json and baseline files, so that those re-render and compare with no result.json.
// Pure. Invariant: a figure that was not measured is null, never 0 (a bare subscriber has no
// latency; a run that committed nothing has no percentile).

import type { RunResult } from './result.ts';
import { costHasSplit } from './metrics/process-cpu.ts';

/** The figures of one run that the comparison uses (null: not measured, e.g. latency of a bare subscriber). */
export interface RunFigures {
  target_per_s: number;
  offered_per_s: number;
  committed_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  p99_9_ms: number | null;
  /** Injected copies / all deliveries (the same for every variant of a seeded scenario). */
  duplicate_rate: number;
  loss_rate: number | null;
  /** Extra rows of one event in the sink (only possible in append mode). */
  sink_duplicates: number | null;
  lost: number | null;
  /** Handed to the MQTT client, never acked by the broker, never committed (null: bare, or a result from before it was counted). */
  lost_unacked: number | null;
  /** Never handed to the MQTT client (null: bare, or a result from before it was counted). */
  never_sent: number | null;
  /** Measured phases whose backlog grew throughout. */
  overloaded_phases: string[];
  duration_s: number;
  /**
   * CPU µs per message of each process and thread the run started (result.json cost), by role, and
   * of the harness process as a whole under HARNESS_ALL_THREADS; null when the run measured none,
   * absent in figures stored before it was recorded.
   */
  cpu_us_per_message?: Record<string, number> | null;
  /**
   * Does cpu_us_per_message count each process's start-up (a result from before result.json split
   * it off)? false: it is running_us_per_message, from the start of the load schedule. Absent with it.
   */
  cpu_includes_startup?: boolean;
  /**
   * CPU µs per message of each process while the load ran (result.json load_us_per_message: start-up
   * and what came after the load left out), keyed like cpu_us_per_message; absent when the result
   * does not split it.
   */
  cpu_us_per_message_during_load?: Record<string, number>;
  /**
   * The share of the load's wall time the busiest harness thread had work (running or waiting for a
   * core: result.json cost.harness_busiest.busy_share); absent when the result does not record it.
   */
  harness_busy_share?: number;
}

/** The key of the harness process as a whole (every thread) in RunFigures.cpu_us_per_message. */
export const HARNESS_ALL_THREADS = 'harness, all threads';

/**
 * Role → CPU µs per message from a result's cost section: from the start of the load schedule
 * (running_us_per_message) when the result records it, else over the whole run; null when it has
 * none (or sent nothing). Pure.
 */
export function cpuPerMessage(cost: RunResult['cost']): { by_role: Record<string, number>; includes_startup: boolean } | null {
  if (!cost || cost.harness_process.us_per_message === null) return null;
  const running = costHasSplit(cost, 'running_us_per_message');
  const of = (row: { us_per_message: number | null; running_us_per_message?: number | null }) => (running ? row.running_us_per_message! : row.us_per_message);
  const byRole: Record<string, number> = {};
  for (const row of cost.processes) {
    const us = of(row);
    if (us !== null) byRole[row.role] = us;
  }
  const harness = of(cost.harness_process);
  if (harness === null) return null;
  byRole[HARNESS_ALL_THREADS] = harness;
  return { by_role: byRole, includes_startup: !running };
}

function cpuFigures(cost: RunResult['cost']): Pick<RunFigures, 'cpu_us_per_message' | 'cpu_includes_startup' | 'cpu_us_per_message_during_load' | 'harness_busy_share'> {
  const cpu = cpuPerMessage(cost);
  if (!cpu) return { cpu_us_per_message: null };
  const duringLoad = cpuDuringLoad(cost);
  const busy = cost?.harness_busiest?.busy_share;
  return { cpu_us_per_message: cpu.by_role, cpu_includes_startup: cpu.includes_startup, ...(duringLoad ? { cpu_us_per_message_during_load: duringLoad } : {}), ...(busy !== undefined ? { harness_busy_share: busy } : {}) };
}

/** Role → CPU µs per message while the load ran, when every row (and the harness process) has it; else null. Pure. */
export function cpuDuringLoad(cost: RunResult['cost']): Record<string, number> | null {
  if (!cost || !costHasSplit(cost, 'load_us_per_message')) return null;
  const rows = [...cost.processes.map((p) => ({ role: p.role, us: p.load_us_per_message })), { role: HARNESS_ALL_THREADS, us: cost.harness_process.load_us_per_message }];
  // Null only when no message was sent.
  if (rows.some((r) => r.us === null)) return null;
  return Object.fromEntries(rows.map((r) => [r.role, r.us!]));
}

/** The figures of a finished run, from its result. */
export function figuresOf(result: RunResult): RunFigures {
  const bare = result.aggregator.kind === 'none';
  const e2e = result.latency.end_to_end;
  return {
    target_per_s: result.throughput.target_per_s,
    offered_per_s: result.throughput.offered_per_s,
    committed_per_s: result.throughput.committed_per_s,
    // A bare subscriber commits nothing: no end-to-end latency, loss or sink figures exist.
    // Nor does a run that committed nothing: its empty histogram's 0 ms is no latency.
    p50_ms: bare || e2e.count === 0 ? null : e2e.p50_ms,
    p99_ms: bare || e2e.count === 0 ? null : e2e.p99_ms,
    p99_9_ms: bare || e2e.count === 0 ? null : e2e.p99_9_ms,
    duplicate_rate: result.rates.duplicate_rate,
    loss_rate: bare ? null : result.rates.loss_rate,
    sink_duplicates: bare ? null : result.totals.sink_duplicates,
    lost: bare ? null : result.totals.lost,
    lost_unacked: bare ? null : result.totals.lost_unacked,
    never_sent: bare ? null : (result.totals.never_sent ?? null),
    overloaded_phases: result.phases.filter((p) => p.overloaded && !p.excluded_from_totals).map((p) => p.name),
    duration_s: result.duration_s,
    ...cpuFigures(result.cost),
  };
}
