// One benchmark run, start to finish: broker up, aggregator up, open-model load with its faults,
// bounded drain, graceful stop, final read of the sink, ledger, result. Owns processes and timers;
// all counting is done by the ledger and all rendering by reports/.

import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { countDurable, iterateSinkRows, readDeadLetters } from '../aggregator/sink/sqlite.ts';
import { DEFAULT_AGGREGATOR_CONFIG, type AggregatorConfig } from '../aggregator/service.ts';
import { emptyCounters } from '../aggregator/pipeline.ts';
import { sleep } from '../aggregator/clock.ts';
import { NETWORK_FAULT_KINDS, type Scenario } from '../scenarios/schema.ts';
import { parseBrokerSpec, startBroker, type BrokerHandle } from './broker/index.ts';
import { deleteKeysWithPrefix, redisUrl } from './broker/redis-keys.ts';
import { ToxicProxy, type Direction } from './network/proxy.ts';
import { deriveSeed } from '../aggregator/random.ts';
import { AggregatorProcess } from './aggregator-process.ts';
import { runLoad, type LoadOutcome } from './load/generator.ts';
import { eventIdFor } from './load/identity.ts';
import { buildLedger, deadLetterKey, type Ledger } from './ledger/index.ts';
import { phaseLoad, type TimelineSample } from './metrics/backlog.ts';
import { recoveries, type Recovery } from './metrics/recovery.ts';
import { LiveSinkLatency } from './metrics/live-latency.ts';
import { runsIn } from './faults/registry.ts';
import { orderFaultRecords, scheduleSystemFaults, type SystemControls, type SystemFaultRun } from './faults/scheduler.ts';
import type { LatencyRecorder } from './metrics/histogram.ts';
import { evaluateChecks, RESULT_SCHEMA, type LatencyResult, type RunResult } from './result.ts';

export type AggregatorKind = 'reference' | 'none';

export interface RunOptions {
  scenario: Scenario;
  overrides: Record<string, unknown>;
  /** 'embedded' or mqtt://host:port */
  broker: string;
  out_dir: string;
  /**
   * 'reference': the aggregator under test. 'none': a bare subscriber that acks on receipt (no
   * dedup, no sink) — the ceiling the generator and broker allow, to compare the aggregator with.
   */
  aggregator?: AggregatorKind;
  /** Progress lines (already formatted); the CLI decides where they go. */
  progress?: (line: string, final?: boolean) => void;
  /**
   * Called once the schedule has started, with the aggregator process and the schedule's start
   * time (µs): the hook that process-level interventions (a pause, a kill) use. Awaited before the
   * drain; it must finish by itself.
   */
  during?: (control: { aggregator: AggregatorProcess; start_us: number }) => Promise<void>;
}

/** Phases named like this are run but left out of overall latency and throughput. */
export const WARMUP_PHASE = 'warmup';

/** Offered rate below this share of the target makes the run invalid: the generator could not keep up. */
export const OFFERED_RATE_TOLERANCE = 0.95;
/** Generator lag p99 above this makes the run invalid. */
export const GENERATOR_LAG_P99_LIMIT_MS = 100;
/** How often the aggregator reports its counters: often enough to pace a closed model. */
const REPORT_INTERVAL_MS = { open: 100, closed: 10 } as const;

export function makeRunId(scenario: string, date = new Date()): string {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${stamp}-${scenario}`;
}

export async function runScenario(options: RunOptions): Promise<RunResult> {
  const { scenario } = options;
  const aggregatorKind = options.aggregator ?? 'reference';
  const started = new Date();
  const runId = makeRunId(scenario.name, started);
  const tag = `${runId}-${process.pid}`;
  mkdirSync(options.out_dir, { recursive: true });
  const sinkFile = resolve(options.out_dir, 'sink.db');
  const progress = options.progress ?? (() => {});

  const brokerSpec = parseBrokerSpec(options.broker);
  let broker: BrokerHandle | undefined;
  let aggregator: AggregatorProcess | undefined;
  let redisKeys: { url: string; key_prefix: string } | undefined;
  let proxies: { publishers: ToxicProxy; aggregator: ToxicProxy } | undefined;
  let toxicSerial = 0;
  let liveLatency: LiveSinkLatency | undefined;
  try {
    const persistence = scenario.broker?.persistence ?? 'memory';
    if (persistence === 'redis') redisKeys = { url: redisUrl(), key_prefix: `chaosbench:${tag}:` };
    broker = await startBroker(brokerSpec, { persistence, ...(redisKeys ? { redis: redisKeys } : {}) });
    const brokerHandle = broker;
    // Network faults need the clients to reach the broker through the harness's proxy: one for the
    // publishers and one for the aggregator, so that a toxic can hit either side alone.
    if (scenario.phases.some((p) => p.faults.some((f) => (NETWORK_FAULT_KINDS as readonly string[]).includes(f.kind)))) {
      const upstream = new URL(broker.url);
      const to = { host: upstream.hostname, port: Number(upstream.port) };
      proxies = {
        publishers: await ToxicProxy.start('publishers', to, deriveSeed(scenario.seed, 'proxy.publishers')),
        aggregator: await ToxicProxy.start('aggregator', to, deriveSeed(scenario.seed, 'proxy.aggregator')),
      };
    }
    const publisherUrl = proxies?.publishers.url ?? broker.url;
    const config: AggregatorConfig = {
      ...DEFAULT_AGGREGATOR_CONFIG,
      broker_url: proxies?.aggregator.url ?? broker.url,
      // Unique per run: an external broker keeps sessions (clean: false) and would otherwise hand
      // this run the previous run's leftovers.
      client_id: `chaosbench-agg-${tag}`,
      topic: `events/${tag}/#`,
      ...scenario.aggregator,
      dedup: aggregatorKind === 'none' ? 'none' : scenario.aggregator.dedup,
      sink: `sqlite:${sinkFile}`,
      seed: scenario.seed,
      bare: aggregatorKind === 'none',
    };
    const agg = new AggregatorProcess(config, { report_interval_ms: REPORT_INTERVAL_MS[scenario.load.model] });
    aggregator = agg;
    await agg.start();

    const totalS = scenario.phases.reduce((sum, p) => sum + p.duration_s, 0);
    const timeline: TimelineSample[] = [];
    const bare = aggregatorKind === 'none';
    liveLatency = new LiveSinkLatency(sinkFile);
    // The harness's own memory (main thread and load workers share the process): bounded for long runs.
    let rssPeak = process.memoryUsage().rss;
    const sampleRss = () => {
      const rss = process.memoryUsage().rss;
      if (rss > rssPeak) rssPeak = rss;
      return rss;
    };
    let previous = { t_s: 0, published: 0, subscriber_acked: 0 };
    let during: Promise<void> | undefined;
    let systemFaults: SystemFaultRun | undefined;
    const controls: SystemControls = {
      crashConsumer: async (downtimeMs) => {
        await agg.kill();
        await sleep(downtimeMs);
        await agg.start();
        agg.restarts++;
      },
      killBroker: async (downtimeMs) => {
        await brokerHandle.kill();
        await sleep(downtimeMs);
        await brokerHandle.restart();
      },
      setSinkSlowdown: (profile, seed) => agg.send({ type: 'slow-sink', profile, seed }),
      stallSink: (ms) => agg.send({ type: 'stall-sink', ms }),
      addToxic: (spec, toxic, seed) => {
        const targets = [spec.target !== 'aggregator' ? proxies?.publishers : undefined, spec.target !== 'publishers' ? proxies?.aggregator : undefined];
        const on = targets.filter((p): p is ToxicProxy => p !== undefined);
        const id = `${spec.kind}-${++toxicSerial}`;
        const directions: Direction[] = spec.direction === 'both' ? ['upstream', 'downstream'] : [spec.direction];
        for (const proxy of on) proxy.add({ id, spec: toxic, directions, toxicity: spec.toxicity, seed });
        return {
          remove: () => {
            const total = { connections_affected: 0, resets: 0, closed: 0 };
            for (const proxy of on) {
              proxy.remove(id);
              const counts = proxy.countFor(id);
              for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += counts[key];
            }
            return total;
          },
        };
      },
      note: (line) => progress(`[fault] ${line}`),
    };
    const load = await runLoad({
      scenario,
      broker_url: publisherUrl,
      topic_root: `events/${tag}`,
      client_prefix: `chaosbench-${tag}`,
      settle_timeout_ms: scenario.drain_timeout_s * 1000,
      completed: () => agg.totalCounters()?.acked ?? 0,
      onCompletion: (listener) => agg.onCounters(listener),
      onStarted: (start_us) => {
        systemFaults = scheduleSystemFaults(scenario, start_us, controls);
        during = options.during?.({ aggregator: agg, start_us });
      },
      onTick: (status) => {
        const counters = agg.totalCounters() ?? emptyCounters();
        const dt = Math.max(1e-3, status.elapsed_s - previous.t_s);
        const sample: TimelineSample = {
          t_s: round(status.elapsed_s, 3),
          phase: phaseAt(scenario, status.elapsed_s),
          published: status.published,
          broker_acked: status.acked,
          subscriber_acked: counters.acked,
          backlog: status.acked + status.pending - counters.acked,
          offered_per_s: round((status.published - previous.published) / dt),
          consumed_per_s: round((counters.acked - previous.subscriber_acked) / dt),
          pending: status.pending,
          retries: counters.retries,
          redelivered: counters.redelivered,
        };
        timeline.push(sample);
        previous = { t_s: status.elapsed_s, published: status.published, subscriber_acked: counters.acked };
        const rssMb = sampleRss() / 2 ** 20;
        const live = bare ? undefined : liveLatency?.sample();
        progress(
          `[${status.elapsed_s.toFixed(0).padStart(4)}s/${totalS}s] ${sample.phase.padEnd(10)} offered ${sample.offered_per_s.toFixed(0)}/s  consumed ${sample.consumed_per_s.toFixed(0)}/s  backlog ${sample.backlog}  p99 ${live && live.count > 0 ? `${live.p99_ms.toFixed(1)} ms` : '—'}  puback p99 ${status.publish_ack_p99_ms.toFixed(1)} ms  lag max ${status.lag_max_ms.toFixed(1)} ms  dlq ${counters.dlq}  errors ${status.errors + counters.errors}  rss ${rssMb.toFixed(0)} MB`,
        );
      },
    });
    await during;
    const faultRecords = orderFaultRecords(scenario, [...load.faults, ...((await systemFaults?.finish()) ?? [])]);

    const publishCounters = load.log.counters;
    // A SIGKILLed aggregator takes the acks it sent after its last counters report with it, so after
    // a crash the self-reported count can stay short for good; then the sink itself is asked.
    const brokerAckedMessages = publishCounters.acked - publishCounters.copies_acked + publishCounters.raw_acked;
    const durable = aggregatorKind === 'reference' ? () => agg.restarts > 0 && countDurable(sinkFile) >= brokerAckedMessages : () => false;
    const drain = await drainAggregator(agg, publishCounters.acked + publishCounters.raw_acked, scenario.drain_timeout_s * 1000, progress, durable);
    await agg.stop();
    const counters = agg.totalCounters() ?? emptyCounters();
    const claimOrder = agg.claim_order ?? 'unknown';
    await broker.stop();
    broker = undefined;

    liveLatency?.close();
    const excluded = new Set(scenario.phases.flatMap((p, i) => (p.name === WARMUP_PHASE ? [i] : [])));
    const ledger = buildLedger({
      log: load.log,
      phases: load.phases,
      // A bare subscriber writes nothing: there is no sink to read.
      sink: bare ? [] : iterateSinkRows(sinkFile),
      dead_letters: bare ? [] : readDeadLetters(sinkFile).map(deadLetterKey),
      excluded_phases: excluded,
      expected_id: (source, seq, intended_us) => eventIdFor(scenario.seed, source, seq, intended_us),
      per_second_origin_us: load.start_us,
    });
    sampleRss();

    return assembleResult({
      runId,
      started,
      options,
      aggregatorKind,
      brokerKind: brokerSpec.kind,
      brokerUrl: brokerSpec.kind === 'external' ? brokerSpec.url : `embedded aedes (child process, ${persistence} persistence)`,
      load: { ...load, faults: faultRecords },
      ledger,
      timeline,
      drain,
      counters,
      claimOrder,
      excluded,
      rssPeakMb: rssPeak / 2 ** 20,
    });
  } finally {
    liveLatency?.close();
    await aggregator?.kill().catch(() => {});
    await broker?.stop().catch(() => {});
    await Promise.all([proxies?.publishers.stop(), proxies?.aggregator.stop()]).catch(() => {});
    if (redisKeys) {
      await deleteKeysWithPrefix(redisKeys.url, redisKeys.key_prefix).catch((error: unknown) =>
        progress(`warning: could not remove the broker's Redis keys under ${redisKeys!.key_prefix}: ${(error as Error).message}`),
      );
    }
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
  target: number,
  timeoutMs: number,
  progress: (line: string, final?: boolean) => void,
  /** Asked when progress stops: is everything durable anyway (the counters having missed some acks)? */
  durable: () => boolean = () => false,
): Promise<RunResult['drain']> {
  const start = Date.now();
  const stallMs = Math.min(5_000, timeoutMs);
  let lastAcked = -1;
  let lastProgressAt = Date.now();
  let lastLine = 0;
  let lastCheck = 0;
  while (Date.now() - start < timeoutMs) {
    const acked = aggregator.totalCounters()?.acked ?? 0;
    if (acked >= target) return { drain_s: (Date.now() - start) / 1000, complete: true, stopped: 'done', outstanding: 0 };
    if (acked !== lastAcked) {
      lastAcked = acked;
      lastProgressAt = Date.now();
    } else if (Date.now() - lastProgressAt > 500 && Date.now() - lastCheck > 500) {
      lastCheck = Date.now();
      if (durable()) return { drain_s: (Date.now() - start) / 1000, complete: true, stopped: 'done', outstanding: 0 };
    }
    if (Date.now() - lastProgressAt > stallMs) {
      return { drain_s: (Date.now() - start) / 1000, complete: false, stopped: 'stalled', outstanding: target - acked };
    }
    if (Date.now() - lastLine >= 1000) {
      lastLine = Date.now();
      progress(`[drain] subscriber acked ${acked}/${target} broker-acked publishes`);
    }
    await sleep(50);
  }
  const acked = aggregator.totalCounters()?.acked ?? 0;
  return { drain_s: (Date.now() - start) / 1000, complete: false, stopped: 'timeout', outstanding: Math.max(0, target - acked) };
}

function latencyResult(recorder: LatencyRecorder): LatencyResult {
  return { ...recorder.summary(), histogram: recorder.encode() };
}

interface Assembly {
  runId: string;
  started: Date;
  options: RunOptions;
  aggregatorKind: AggregatorKind;
  brokerKind: 'embedded' | 'external';
  brokerUrl: string;
  load: LoadOutcome;
  ledger: Ledger;
  timeline: TimelineSample[];
  drain: RunResult['drain'];
  counters: ReturnType<typeof emptyCounters>;
  claimOrder: string;
  excluded: ReadonlySet<number>;
  rssPeakMb: number;
}

function assembleResult(a: Assembly): RunResult {
  const { scenario } = a.options;
  const { ledger, load } = a;
  const open = scenario.load.model === 'open';
  const bare = a.aggregatorKind === 'none';
  const measuredIndexes = load.phases.flatMap((_, i) => (a.excluded.has(i) ? [] : [i]));
  const measured = measuredIndexes.map((i) => load.phases[i]!);
  const measuredS = measured.reduce((sum, p) => sum + (p.end_us - p.start_us) / 1e6, 0);
  const measuredPublished = measuredIndexes.reduce((sum, i) => sum + ledger.phases[i]!.published, 0);
  const measuredCommitted = measuredIndexes.reduce((sum, i) => sum + ledger.phases[i]!.unique_committed, 0);
  const target = open && measuredS > 0 ? measured.reduce((sum, p) => sum + p.target_rate * ((p.end_us - p.start_us) / 1e6), 0) / measuredS : 0;
  const firstMeasured = measured[0]?.start_us ?? load.phases[0]?.start_us ?? 0;
  const lag = load.lag.summary();
  const publishCounters = load.log.counters;

  // A bare subscriber commits nothing: its throughput is what it acknowledged, from the timeline.
  const measuredSamples = a.timeline.filter((s) => measured.some((p) => p.name === s.phase));
  const bareConsumed =
    measuredSamples.length >= 2 ? (measuredSamples.at(-1)!.subscriber_acked - measuredSamples[0]!.subscriber_acked) / (measuredSamples.at(-1)!.t_s - measuredSamples[0]!.t_s) : 0;
  const committedSpanS = Math.max(measuredS, (ledger.last_commit_us - firstMeasured) / 1e6);
  // In events/s like every other rate: the subscriber's messages include the injected copies.
  const originalShare = ledger.totals.published / Math.max(1, ledger.totals.published + ledger.totals.copies_published);
  const committedPerS = bare ? bareConsumed * originalShare : committedSpanS > 0 ? measuredCommitted / committedSpanS : 0;

  const publishErrors = publishCounters.publish_errors + publishCounters.puback_timeouts;
  const totals = {
    ...ledger.totals,
    // A bare subscriber commits nothing, so nothing can be classified as lost: not measured.
    ...(bare ? { lost: 0, lost_unacked: 0 } : {}),
    duplicates_delivered: a.counters.redelivered,
    duplicates_absorbed: a.counters.duplicates_absorbed,
    publish_errors: publishCounters.publish_errors,
    puback_timeouts: publishCounters.puback_timeouts,
    errors: a.counters.errors + publishErrors,
  };
  const deliveries = ledger.totals.published + ledger.totals.copies_published;
  const rates = {
    duplicate_rate: deliveries === 0 ? 0 : ledger.totals.copies_published / deliveries,
    loss_rate: bare || ledger.totals.published === 0 ? 0 : (ledger.totals.lost + ledger.totals.lost_unacked) / ledger.totals.published,
    error_rate: deliveries === 0 ? 0 : totals.errors / deliveries,
    dlq_rate: deliveries === 0 ? 0 : ledger.totals.dlq / deliveries,
  };
  const offered = measuredS > 0 ? measuredPublished / measuredS : 0;

  // Validity: is the generator, not the system, the limit? (A slow system is a result, below.)
  const invalid: string[] = [];
  if (open) {
    for (const i of measuredIndexes) {
      const phase = load.phases[i]!;
      const seconds = (phase.end_us - phase.start_us) / 1e6;
      const phaseOffered = ledger.phases[i]!.published / seconds;
      if (phaseOffered < phase.target_rate * OFFERED_RATE_TOLERANCE) {
        invalid.push(
          `the generator offered ${phaseOffered.toFixed(0)} ev/s in phase '${phase.name}' against a target of ${phase.target_rate.toFixed(0)} ev/s (below ${OFFERED_RATE_TOLERANCE * 100}%): the harness, not the system, was the limit`,
        );
      }
    }
    if (lag.p99_ms > GENERATOR_LAG_P99_LIMIT_MS) {
      invalid.push(`the generator fell behind its schedule: lag p99 ${lag.p99_ms.toFixed(1)} ms > ${GENERATOR_LAG_P99_LIMIT_MS} ms (more load workers may help: load.workers)`);
    }
  }

  /** Faults of a phase that act on the system (processes, network), not on the offered load. */
  const systemFaultsOf = (phase: string) => (scenario.phases.find((p) => p.name === phase)?.faults ?? []).filter((f) => runsIn(f) === 'system').map((f) => f.kind);

  // Overload: the broker accepted more than the subscriber finished, for the whole phase.
  const overload = measuredIndexes.flatMap((i) => {
    const verdict = phaseLoad(a.timeline, load.phases[i]!.name);
    return verdict ? [verdict] : [];
  });

  const findings: string[] = [];
  for (const verdict of overload.filter((v) => v.overloaded)) {
    const phase = load.phases.find((p) => p.name === verdict.phase)!;
    const faultKinds = systemFaultsOf(verdict.phase);
    const what =
      faultKinds.length > 0
        ? `fell behind during the fault${faultKinds.length === 1 ? '' : 's'} (${faultKinds.join(', ')})`
        : `overloaded at ${open ? `${phase.target_rate.toFixed(0)} ev/s` : 'the closed-model concurrency'}`;
    findings.push(
      `${what} in phase '${verdict.phase}': the subscriber finished ${verdict.consumed_per_s.toFixed(0)} msg/s of the ${verdict.accepted_per_s.toFixed(0)} msg/s the broker accepted (${(verdict.sustained_share * 100).toFixed(0)}%); the backlog grew by ${verdict.backlog_growth_per_s.toFixed(0)} msg/s to ${verdict.backlog_at_end} at the phase end, so this phase's latency measures queue length.`,
    );
  }
  if (bare) {
    findings.push('bare subscriber (--aggregator none): messages are acknowledged on receipt and nothing is committed, so loss, sink duplicates and end-to-end latency are not measured; committed throughput is the subscriber\'s acknowledgement rate.');
  }
  const undelivered = ledger.totals.acked_by_broker + ledger.totals.copies_acked - a.counters.received;
  if (!bare && ledger.totals.lost > 0) {
    if (a.brokerKind === 'external' && undelivered > 0) {
      findings.push(
        `${ledger.totals.lost} events were acknowledged by the broker but never committed, and the aggregator received ${undelivered} fewer messages than the broker acknowledged: the broker dropped them before delivery. Mosquitto with its default limits (max_queued_messages 1000, max_inflight_messages 20) silently discards QoS 1 messages for a subscriber that falls behind; raise max_queued_messages (0 = unlimited) or slow the load.`,
      );
    } else {
      findings.push(`${ledger.totals.lost} events were acknowledged by the broker but never committed to the sink.`);
    }
  }
  if (!a.drain.complete) {
    const why =
      a.drain.stopped === 'stalled'
        ? `stopped after ${a.drain.drain_s.toFixed(1)} s without progress, ${a.drain.outstanding} messages short of what the broker acknowledged`
        : `did not complete within ${scenario.drain_timeout_s} s (${a.drain.outstanding} messages outstanding)`;
    findings.push(
      `the drain ${why}${ledger.totals.lost > 0 ? '; events never committed count as lost' : "; the aggregator's graceful stop committed the rest"}.`,
    );
  }
  if (publishCounters.puback_timeouts > 0 || load.unsettled > 0) {
    findings.push(
      `${publishCounters.puback_timeouts} publishes got no PUBACK within ${scenario.load.puback_timeout_ms} ms (counted as errors)${load.unsettled > 0 ? `; ${load.unsettled} were still unsettled when the harness stopped waiting` : ''}.`,
    );
  }
  if (ledger.totals.sink_duplicates > 0) {
    findings.push(`${ledger.totals.sink_duplicates} duplicate rows reached the sink (dedup '${scenario.aggregator.dedup}', sink mode '${scenario.aggregator.sink_mode}').`);
  }
  if (!open) {
    findings.push(`closed model (${scenario.load.concurrency} events in flight): each event was sent when an earlier one finished, so latency counts from the actual send and a stall is hidden (coordinated omission); use it for capacity, not for latency.`);
  }

  const recovery = recoveries(
    load.phases.map((p, i) => ({
      name: p.name,
      start_s: (p.start_us - load.start_us) / 1e6,
      end_s: (p.end_us - load.start_us) / 1e6,
      // Recovery is from faults that end (process, network) and from overload (a burst above
      // capacity); duplicates and the like shape the load itself.
      has_faults: scenario.phases[i]!.faults.some((f) => runsIn(f) === 'system') || overload.some((v) => v.phase === p.name && v.overloaded),
    })),
    ledger.per_second,
    a.timeline,
    a.drain.stopped === 'stalled' ? a.drain.outstanding : 0,
    undefined,
    a.timeline.at(-1)?.backlog ?? 0,
  );
  for (const r of recovery.filter((x) => x.recovery_s === null)) {
    findings.push(`after phase '${r.phase}' the system did not get back to the p99 and backlog of phase '${r.baseline_phase}' within the run.`);
  }
  const lastObserved = Math.max(0, ...ledger.per_second.map((s) => s.t_s), ...a.timeline.map((s) => s.t_s));
  const recoveryForCheck = (r: Recovery) => r.recovery_s ?? lastObserved + 1 - (load.phases.find((p) => p.name === r.phase)!.end_us - load.start_us) / 1e6;
  const sampleAtEnd = (end_us: number) => {
    const t = (end_us - load.start_us) / 1e6;
    return a.timeline.filter((s) => s.t_s <= t + 0.5).at(-1);
  };

  const partial = {
    recovery_s: recovery.length === 0 ? 0 : round(Math.max(...recovery.map(recoveryForCheck)), 2),
    totals,
    latency: { end_to_end: latencyResult(ledger.latency), publish_ack: latencyResult(load.publish_ack) },
  };
  const checks = bare ? [] : evaluateChecks(scenario.checks, partial);
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
    aggregator: { kind: a.aggregatorKind, claim_order: a.claimOrder, self_reported: a.counters },
    rates,
    throughput: {
      model: scenario.load.model,
      target_per_s: round(target),
      offered_per_s: round(offered),
      committed_per_s: round(committedPerS),
    },
    generator: {
      model: scenario.load.model,
      workers: scenario.load.workers,
      publishers: scenario.load.publishers,
      lag_p99_ms: lag.p99_ms,
      lag_max_ms: lag.max_ms,
      window_waits: load.window_waits,
      unsettled: load.unsettled,
      rss_peak_mb: round(a.rssPeakMb),
    },
    drain: a.drain,
    ...partial,
    phases: load.phases.map((phase, i) => {
      const counted = ledger.phases[i]!;
      const duration_s = (phase.end_us - phase.start_us) / 1e6;
      const verdict = overload.find((v) => v.phase === phase.name);
      return {
        name: phase.name,
        duration_s,
        target_rate: phase.target_rate,
        offered_per_s: round(counted.published / duration_s),
        published: counted.published,
        unique_committed: counted.unique_committed,
        lost: counted.lost,
        excluded_from_totals: a.excluded.has(i),
        overloaded: verdict?.overloaded ?? false,
        system_faults: systemFaultsOf(phase.name),
        sink_duplicates: counted.sink_duplicates,
        retries: (sampleAtEnd(phase.end_us)?.retries ?? 0) - (sampleAtEnd(phase.start_us)?.retries ?? 0),
        redelivered: (sampleAtEnd(phase.end_us)?.redelivered ?? 0) - (sampleAtEnd(phase.start_us)?.redelivered ?? 0),
        recovery: recovery.find((r) => r.phase === phase.name) ?? null,
        load: verdict ?? null,
        latency: latencyResult(counted.latency),
      };
    }),
    timeline: a.timeline,
    commits_per_second: ledger.per_second,
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
