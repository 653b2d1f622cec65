// One benchmark run, start to finish: broker up, aggregator up, open-model load with its faults,
// bounded drain, graceful stop, final read of the sink, ledger, result. Owns processes and timers;
// all counting is done by the ledger and all rendering by reports/.

import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readDeadLetters, readSinkRows } from '../aggregator/sink/sqlite.ts';
import { DEFAULT_AGGREGATOR_CONFIG, type AggregatorConfig } from '../aggregator/service.ts';
import { emptyCounters } from '../aggregator/pipeline.ts';
import { sleep } from '../aggregator/clock.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { parseBrokerSpec, startBroker, type BrokerHandle } from './broker/index.ts';
import { AggregatorProcess } from './aggregator-process.ts';
import { runLoad, type LoadOutcome } from './load/generator.ts';
import { buildLedger, type Ledger } from './ledger/index.ts';
import type { LatencyRecorder } from './metrics/histogram.ts';
import { evaluateChecks, RESULT_SCHEMA, type LatencyResult, type RunResult } from './result.ts';

export interface RunOptions {
  scenario: Scenario;
  overrides: Record<string, unknown>;
  /** 'embedded' or mqtt://host:port */
  broker: string;
  out_dir: string;
  /** Progress lines (already formatted); the CLI decides where they go. */
  progress?: (line: string, final?: boolean) => void;
}

/** Phases named like this are run but left out of overall latency and throughput. */
export const WARMUP_PHASE = 'warmup';

/** Offered rate below this share of the target makes the run invalid: the generator could not keep up. */
export const OFFERED_RATE_TOLERANCE = 0.95;
/** Generator lag p99 above this makes the run invalid. */
export const GENERATOR_LAG_P99_LIMIT_MS = 100;

export function makeRunId(scenario: string, date = new Date()): string {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${stamp}-${scenario}`;
}

export async function runScenario(options: RunOptions): Promise<RunResult> {
  const { scenario } = options;
  const started = new Date();
  const runId = makeRunId(scenario.name, started);
  const tag = `${runId}-${process.pid}`;
  mkdirSync(options.out_dir, { recursive: true });
  const sinkFile = resolve(options.out_dir, 'sink.db');
  const progress = options.progress ?? (() => {});

  const brokerSpec = parseBrokerSpec(options.broker);
  let broker: BrokerHandle | undefined;
  let aggregator: AggregatorProcess | undefined;
  try {
    broker = await startBroker(brokerSpec, { persistence: 'memory' });
    const config: AggregatorConfig = {
      ...DEFAULT_AGGREGATOR_CONFIG,
      broker_url: broker.url,
      // Unique per run: an external broker keeps sessions (clean: false) and would otherwise hand
      // this run the previous run's leftovers.
      client_id: `chaosbench-agg-${tag}`,
      topic: `events/${tag}/#`,
      ...scenario.aggregator,
      dedup: scenario.aggregator.dedup,
      sink: `sqlite:${sinkFile}`,
      seed: scenario.seed,
    };
    aggregator = new AggregatorProcess(config);
    await aggregator.start();

    const totalS = scenario.phases.reduce((sum, p) => sum + p.duration_s, 0);
    let lastCommitted = 0;
    let lastTickS = 0;
    const load = await runLoad({
      scenario,
      broker_url: broker.url,
      topic_root: `events/${tag}`,
      client_prefix: `chaosbench-${tag}`,
      settle_timeout_ms: scenario.drain_timeout_s * 1000,
      onTick: ({ elapsed_s, published }) => {
        const counters = aggregator?.totalCounters() ?? emptyCounters();
        const committed = counters.committed;
        const dt = Math.max(1e-3, elapsed_s - lastTickS);
        const phase = phaseAt(scenario, elapsed_s);
        progress(
          `[${elapsed_s.toFixed(0).padStart(3)}s/${totalS}s] ${phase.padEnd(10)} published ${published}  committed ${committed} (${Math.round((committed - lastCommitted) / dt)}/s)  dlq ${counters.dlq}  errors ${counters.errors}`,
        );
        lastCommitted = committed;
        lastTickS = elapsed_s;
      },
    });

    const drain = await drainAggregator(aggregator, load, scenario.drain_timeout_s * 1000, progress);
    await aggregator.stop();
    const counters = aggregator.totalCounters() ?? emptyCounters();
    const claimOrder = aggregator.claim_order ?? 'unknown';
    await broker.stop();
    broker = undefined;

    const deadLetters = readDeadLetters(sinkFile);
    const excluded = new Set(scenario.phases.flatMap((p, i) => (p.name === WARMUP_PHASE ? [i] : [])));
    const ledger = buildLedger({
      published: load.log.events,
      sink: readSinkRows(sinkFile),
      dead_letters: deadLetters.map((d) => d.event_id),
      phase_names: scenario.phases.map((p) => p.name),
      excluded_phases: excluded,
    });

    return assembleResult({
      runId,
      started,
      options,
      brokerKind: brokerSpec.kind,
      brokerUrl: brokerSpec.kind === 'external' ? brokerSpec.url : 'embedded aedes (child process, memory persistence)',
      load,
      ledger,
      drain,
      counters,
      claimOrder,
      excluded,
    });
  } finally {
    await aggregator?.kill().catch(() => {});
    await broker?.stop().catch(() => {});
  }
}

function phaseAt(scenario: Scenario, elapsedS: number): string {
  let end = 0;
  for (const phase of scenario.phases) {
    end += phase.duration_s;
    if (elapsedS < end) return phase.name;
  }
  return 'drain';
}

/**
 * Wait until the aggregator has acked as many messages as the broker acked publishes from us, or
 * it makes no progress for a while (a broker that dropped messages will never deliver them), or
 * the timeout passes. Uses self-reported counters only to decide when to stop waiting.
 */
async function drainAggregator(
  aggregator: AggregatorProcess,
  load: LoadOutcome,
  timeoutMs: number,
  progress: (line: string, final?: boolean) => void,
): Promise<{ drain_s: number; complete: boolean }> {
  const target = load.log.ackedPublishes();
  const start = Date.now();
  const stallMs = Math.min(5_000, timeoutMs);
  let lastAcked = -1;
  let lastProgressAt = Date.now();
  let lastLine = 0;
  while (Date.now() - start < timeoutMs) {
    const acked = aggregator.totalCounters()?.acked ?? 0;
    if (acked >= target) return { drain_s: (Date.now() - start) / 1000, complete: true };
    if (acked !== lastAcked) {
      lastAcked = acked;
      lastProgressAt = Date.now();
    } else if (Date.now() - lastProgressAt > stallMs) break;
    if (Date.now() - lastLine >= 1000) {
      lastLine = Date.now();
      progress(`[drain] aggregator acked ${acked}/${target} broker-acked publishes`);
    }
    await sleep(50);
  }
  return { drain_s: (Date.now() - start) / 1000, complete: false };
}

function latencyResult(recorder: LatencyRecorder): LatencyResult {
  return { ...recorder.summary(), histogram: recorder.encode() };
}

interface Assembly {
  runId: string;
  started: Date;
  options: RunOptions;
  brokerKind: 'embedded' | 'external';
  brokerUrl: string;
  load: LoadOutcome;
  ledger: Ledger;
  drain: { drain_s: number; complete: boolean };
  counters: ReturnType<typeof emptyCounters>;
  claimOrder: string;
  excluded: ReadonlySet<number>;
}

function assembleResult(a: Assembly): RunResult {
  const { scenario } = a.options;
  const { ledger, load } = a;
  const measured = load.phases.filter((_, i) => !a.excluded.has(i));
  const measuredS = measured.reduce((sum, p) => sum + (p.end_us - p.start_us) / 1e6, 0);
  const measuredLedger = ledger.phases.filter((_, i) => !a.excluded.has(i));
  const measuredPublished = measuredLedger.reduce((sum, p) => sum + p.published, 0);
  const measuredCommitted = measuredLedger.reduce((sum, p) => sum + p.unique_committed, 0);
  const target = measuredS > 0 ? measured.reduce((sum, p) => sum + p.target_rate * ((p.end_us - p.start_us) / 1e6), 0) / measuredS : 0;
  const firstMeasured = measured[0]?.start_us ?? load.phases[0]?.start_us ?? 0;
  const committedSpanS = Math.max(measuredS, (ledger.last_commit_us - firstMeasured) / 1e6);
  const lag = load.lag.summary();

  const totals = {
    ...ledger.totals,
    duplicates_delivered: a.counters.redelivered,
    duplicates_absorbed: a.counters.duplicates_absorbed,
    errors: a.counters.errors + ledger.totals.publish_errors,
  };
  const deliveries = ledger.totals.published + ledger.totals.copies_published;
  const rates = {
    duplicate_rate: deliveries === 0 ? 0 : ledger.totals.copies_published / deliveries,
    loss_rate: ledger.totals.published === 0 ? 0 : (ledger.totals.lost + ledger.totals.lost_unacked) / ledger.totals.published,
    error_rate: deliveries === 0 ? 0 : totals.errors / deliveries,
    dlq_rate: deliveries === 0 ? 0 : ledger.totals.dlq / deliveries,
  };
  const offered = measuredS > 0 ? measuredPublished / measuredS : 0;

  const invalid: string[] = [];
  if (offered < target * OFFERED_RATE_TOLERANCE) {
    invalid.push(
      `the generator offered ${offered.toFixed(0)} ev/s against a target of ${target.toFixed(0)} ev/s (below ${OFFERED_RATE_TOLERANCE * 100}%): the harness, not the system, was the limit`,
    );
  }
  if (lag.p99_ms > GENERATOR_LAG_P99_LIMIT_MS) {
    invalid.push(`the generator fell behind its schedule: lag p99 ${lag.p99_ms.toFixed(1)} ms > ${GENERATOR_LAG_P99_LIMIT_MS} ms`);
  }

  const findings: string[] = [];
  const undelivered = ledger.totals.acked_by_broker + ledger.totals.copies_acked - a.counters.received;
  if (ledger.totals.lost > 0) {
    if (a.brokerKind === 'external' && undelivered > 0) {
      findings.push(
        `${ledger.totals.lost} events were acknowledged by the broker but never committed, and the aggregator received ${undelivered} fewer messages than the broker acknowledged: the broker dropped them before delivery. Mosquitto with its default limits (max_queued_messages 1000, max_inflight_messages 20) silently discards QoS 1 messages for a subscriber that falls behind; raise max_queued_messages (0 = unlimited) or slow the load.`,
      );
    } else {
      findings.push(`${ledger.totals.lost} events were acknowledged by the broker but never committed to the sink.`);
    }
  }
  if (!a.drain.complete) {
    findings.push(`the drain did not complete within ${scenario.drain_timeout_s} s; events still queued at the end count as lost.`);
  }
  if (ledger.totals.sink_duplicates > 0) {
    findings.push(`${ledger.totals.sink_duplicates} duplicate rows reached the sink (dedup '${scenario.aggregator.dedup}', sink mode '${scenario.aggregator.sink_mode}').`);
  }

  const partial = {
    totals,
    latency: { end_to_end: latencyResult(ledger.latency), publish_ack: latencyResult(ledger.publish_ack) },
  };
  const checks = evaluateChecks(scenario.checks, partial);
  return {
    schema: RESULT_SCHEMA,
    run_id: a.runId,
    scenario,
    overrides: a.options.overrides,
    seed: scenario.seed,
    git_sha: gitSha(),
    started_at: a.started.toISOString(),
    machine: machineFacts(),
    versions: packageVersions(),
    broker: { kind: a.brokerKind, url: a.brokerUrl },
    aggregator: { claim_order: a.claimOrder, self_reported: a.counters },
    rates,
    throughput: {
      target_per_s: round(target),
      offered_per_s: round(offered),
      committed_per_s: round(committedSpanS > 0 ? measuredCommitted / committedSpanS : 0),
    },
    generator: { lag_p99_ms: lag.p99_ms, lag_max_ms: lag.max_ms, window_waits: load.window_waits },
    drain: a.drain,
    ...partial,
    phases: load.phases.map((phase, i) => {
      const counted = ledger.phases[i]!;
      const duration_s = (phase.end_us - phase.start_us) / 1e6;
      return {
        name: phase.name,
        duration_s,
        target_rate: phase.target_rate,
        offered_per_s: round(counted.published / duration_s),
        published: counted.published,
        unique_committed: counted.unique_committed,
        lost: counted.lost,
        excluded_from_totals: a.excluded.has(i),
        latency: latencyResult(counted.latency),
      };
    }),
    faults: load.faults,
    checks,
    passed: checks.every((c) => c.passed),
    valid: invalid.length === 0,
    invalid_reasons: invalid,
    findings,
    duration_s: round((Date.now() - a.started.getTime()) / 1000),
  };
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function gitSha(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

function machineFacts(): RunResult['machine'] {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    total_memory_gb: round(os.totalmem() / 1024 ** 3),
  };
}

function packageVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const versions: Record<string, string> = {};
  for (const name of ['aedes', 'mqtt', 'mqtt-packet', 'better-sqlite3', 'hdr-histogram-js']) {
    try {
      const file = require.resolve(`${name}/package.json`);
      versions[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      versions[name] = 'unknown';
    }
  }
  versions.chaosbench = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return versions;
}
