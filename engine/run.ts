// One benchmark run, start to finish: broker up, aggregator up, open-model load with its faults,
// bounded drain, graceful stop, final read of the sink, ledger, result. Owns processes and timers;
// all counting is done by the ledger and all rendering by reports/. The consumer under test is a
// ConsumerProcess (engine/target/): the reference aggregator, the bare subscriber or your own command.
// Some 500 lines: the order of one run's steps (and of their undoing in `finally`) reads best in one
// place; what each step does lives in its own module.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_AGGREGATOR_CONFIG, type AggregatorConfig } from '../aggregator/service.ts';
import type { Mutation } from '../aggregator/config.ts';
import { emptyCounters } from '../aggregator/pipeline.ts';
import { parseDedupSpec } from '../aggregator/dedup/registry.ts';
import { isUnselectableDatabase } from '../aggregator/dedup/redis.ts';
import { nowMicros, sleep } from '../aggregator/clock.ts';
import { NETWORK_FAULT_KINDS, WARMUP_PHASE, type Scenario } from '../scenarios/schema.ts';
import { parseBrokerSpec, startBroker, type BrokerHandle } from './broker/index.ts';
import { deleteKeysWithPrefix, redisUrl } from './broker/redis-keys.ts';
import { ToxicProxy, type Direction } from './network/proxy.ts';
import { deriveSeed } from '../aggregator/random.ts';
import { AggregatorProcess } from './aggregator-process.ts';
import { mqttVersionName, PLAIN_ACCESS, type BrokerAccess } from '../aggregator/consumer/access.ts';
import { removeRunDedup, runDedupPlace, type RunDedupPlace } from './dedup-isolation.ts';
import { runLoad } from './load/generator.ts';
import { eventIdFor, eventLocator } from './load/identity.ts';
import { shardPublishers, type Shard } from './load/shard.ts';
import { buildLedgerAsync, deadLetterKey } from './ledger/index.ts';
import type { BacklogSource, TimelineSample } from './metrics/backlog.ts';
import type { LiveLatency } from './metrics/live-latency.ts';
import type { RunMetrics } from './metrics/run-metrics.ts';
import { parseSinkChoice, runSinkFor, sinkDedupProblems, type RunSink } from './run-sink/index.ts';
import { orderFaultRecords, scheduleSystemFaults, type SystemControls, type SystemFaultRun } from './faults/scheduler.ts';
import type { DrainCount, RunResult } from './result.ts';
import { assembleResult, markInterrupted, round } from './result-assembly.ts';
import { startThreadProfile, type ThreadProfile } from './thread-profile.ts';
import { costSection, CpuMeter, HARNESS_MAIN_THREAD } from './metrics/process-cpu.ts';
import type { ConsumerProcess, TargetKind } from './target/interface.ts';
import { ExternalProcess } from './target/external-process.ts';
import { targetEnvironment } from './target/contract.ts';
import { describeTarget, targetProblems } from './target/needs.ts';
import { createRunSchema, QueryRunSink } from './run-sink/query.ts';
import { LiveRun } from './run-registry.ts';

export type AggregatorKind = 'reference' | 'none';

export interface RunOptions {
  scenario: Scenario;
  overrides: Record<string, unknown>;
  /** 'embedded', mqtt://host:port or mqtts://host:port (credentials, if any, are in broker_access) */
  broker: string;
  /**
   * An external broker's MQTT version, TLS material and credentials, for the probe, the publishers
   * and the aggregator alike (the aggregator gets them over IPC, the load workers by structured
   * clone: never argv). Absent: MQTT 3.1.1, no TLS material, no credentials.
   */
  broker_access?: BrokerAccess;
  /**
   * The pid of an external broker on this machine that the caller started (perf's private
   * Mosquitto): its CPU is read from /proc as the broker's, from the run's first reading. Absent,
   * an external broker's CPU is not measured (the cost section says so).
   */
  external_broker_pid?: number;
  /**
   * Where the aggregator commits and the ledger reads back: 'sqlite' (default: the file
   * <out_dir>/sink.db), 'postgres' (DATABASE_URL or the local default) or postgres://USER@HOST:PORT/DB.
   * A PostgreSQL sink gets a schema of the run's own, dropped after the final read.
   */
  sink?: string;
  out_dir: string;
  /**
   * 'reference': the aggregator under test. 'none': a bare subscriber that acks on receipt (no
   * dedup, no sink) — the ceiling the generator and broker allow, to compare the aggregator with.
   * Ignored when the scenario has a `target` (your own consumer: engine/target/).
   */
  aggregator?: AggregatorKind;
  /** Progress lines (already formatted); the CLI decides where they go. */
  progress?: (line: string, final?: boolean) => void;
  /**
   * Lines that stay (already formatted): warnings, and the embedded broker's error output once it
   * serves. Default: the progress callback. The engine prints nothing itself.
   */
  log?: (line: string) => void;
  /**
   * Read the sink every second for the progress line's p99 (default true). Costs the harness CPU in
   * proportion to the commit rate, which a bare subscriber's runs never pay, so runs that show no
   * progress line (a comparison not on a terminal) turn it off.
   */
  live_latency?: boolean;
  /**
   * Called once the schedule has started, with the aggregator process and the schedule's start
   * time (µs): the hook that process-level interventions (a pause, a kill) use. Awaited before the
   * drain; it must finish by itself.
   */
  during?: (control: { aggregator: AggregatorProcess; broker: BrokerHandle; start_us: number }) => Promise<void>;
  /**
   * Test only: a planted break, so a test can show that its checks fail without the property
   * (tests/mutations.test.ts). The aggregator's (aggregator/config.ts MUTATIONS) go to it in its
   * configuration; 'noop-broker-kill' makes the broker-kill fault kill nothing. Refused unless
   * CHAOSBENCH_ALLOW_MUTATIONS=1.
   */
  mutation?: Mutation | 'noop-broker-kill';
  /**
   * This process's share of a run driven by several harness processes (--shard 2/3): it publishes
   * only its shard's publishers' events, to its own topics, consumed by its own aggregator.
   */
  shard?: Shard;
  /**
   * Write CPU profiles (node --cpu-prof) of the aggregator and the embedded broker into
   * <out_dir>/profiles/{aggregator,broker}/, with a summary (profile.md) beside them.
   */
  cpu_prof?: boolean;
  /**
   * The harness's Prometheus metrics (bench --metrics-port; engine/metrics/run-metrics.ts), fed each
   * tick. The reference aggregator then serves its own on a free port too (told to
   * metrics.aggregatorAt, which bench prints), and waits for the final scrapes (at most metrics.linger_s) when it stops.
   */
  metrics?: RunMetrics;
  /**
   * Aborted (bench on SIGINT/SIGTERM, the reason being the signal's name): the load ends its
   * schedule now, the drain is skipped, the final read and the ledger are built from what exists,
   * everything the run made is removed as usual, and the result is marked `interrupted` (verdict
   * INTERRUPTED: its checks are not judged).
   */
  signal?: AbortSignal;
}

export { WARMUP_PHASE } from '../scenarios/schema.ts';

export { GENERATOR_LAG_P99_LIMIT_MS, OFFERED_RATE_TOLERANCE } from './result-assembly.ts';
/** How often the aggregator reports its counters: often enough to pace a closed model. */
const REPORT_INTERVAL_MS = { open: 100, closed: 10 } as const;

/** The meter's name for the harness process as a whole (result.json cost.harness_process, not a row of cost.processes). */
const HARNESS_PROCESS = 'harness process';
/** The role of the consumer process in result.json cost.processes. */
const CONSUMER_ROLE: Record<TargetKind, string> = { reference: 'aggregator', none: 'bare subscriber', external: 'target' };
/** Interrupted: the longest the aggregator (or target) gets to finish its in-flight batches before it is killed. */
const INTERRUPTED_STOP_MS = 3_000;

export function makeRunId(scenario: string, date = new Date()): string {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${stamp}-${scenario}`;
}

export async function runScenario(options: RunOptions): Promise<RunResult> {
  const { scenario } = options;
  const aggregatorKind: TargetKind = scenario.target ? 'external' : (options.aggregator ?? 'reference');
  // Checked up front by the commands too (exit 2): a fault or check the target cannot support.
  const unsupported = targetProblems(scenario, aggregatorKind, describeTarget(aggregatorKind, scenario.target?.command));
  if (unsupported.length > 0) throw new Error(unsupported.join('; '));
  if (aggregatorKind === 'external' && options.during) throw new Error('a during hook needs the reference aggregator (it is handed its process)');
  if (options.mutation !== undefined && process.env.CHAOSBENCH_ALLOW_MUTATIONS !== '1') throw new Error('mutation is a planted break for tests only: refused unless CHAOSBENCH_ALLOW_MUTATIONS=1');
  const started = new Date();
  const runId = makeRunId(scenario.name, started);
  // In topic roots and client ids: shards started in the same second on machines whose harness has
  // the same pid (containers) must still not share a topic or take over each other's MQTT session.
  const shard = options.shard && options.shard.count > 1 ? options.shard : undefined;
  const tag = `${runId}-${shard ? `s${shard.index}of${shard.count}-` : ''}${process.pid}`;
  // Checked before anything starts: a bad --sink, or a dedup store that cannot live beside it. The
  // dedup store is parsed here once, for that check and for the place of the run's claims.
  const sinkChoice = parseSinkChoice(options.sink ?? 'sqlite');
  const dedupSpec = parseDedupSpec(scenario.aggregator.dedup);
  const sinkProblems = aggregatorKind === 'reference' ? sinkDedupProblems(sinkChoice, dedupSpec) : [];
  if (sinkProblems.length > 0) throw new Error(sinkProblems.join('; '));
  mkdirSync(options.out_dir, { recursive: true });
  const targetSink = scenario.target?.sink;
  const runSink: RunSink = runSinkFor(sinkChoice, { out_dir: options.out_dir, tag }, targetSink?.kind === 'query' ? targetSink : undefined);
  const progress = options.progress ?? (() => {});
  const log = options.log ?? progress;

  const brokerSpec = parseBrokerSpec(options.broker);
  const access = options.broker_access ?? PLAIN_ACCESS;
  let broker: BrokerHandle | undefined;
  let aggregator: ConsumerProcess | undefined;
  let external: ExternalProcess | undefined;
  let redisKeys: { url: string; key_prefix: string } | undefined;
  let dedupPlace: RunDedupPlace | undefined;
  let proxies: { publishers: ToxicProxy; aggregator: ToxicProxy } | undefined;
  let toxicSerial = 0;
  let liveLatency: LiveLatency | undefined;
  let harnessProfile: ThreadProfile | undefined;
  // CPU time of every process and thread the run starts, from /proc (engine/metrics/process-cpu.ts).
  const cpu = new CpuMeter();
  // In the registry of live runs until everything below is undone: what a SIGKILLed run leaves, `npm run clean` finds.
  const liveRun = new LiveRun({ run_id: runId, out_dir: options.out_dir, started }, log);
  const interrupted = options.signal;
  let interruptedAt: number | undefined;
  const noteInterruption = () => void (interruptedAt ??= Date.now());
  if (interrupted?.aborted) noteInterruption();
  interrupted?.addEventListener('abort', noteInterruption, { once: true });
  // Anything the finally below could not remove keeps the run's registry file, for `npm run clean`.
  let leftOver = false;
  try {
    cpu.watch(HARNESS_PROCESS, () => ({ pid: process.pid }), { from_first_reading: true });
    cpu.watch(HARNESS_MAIN_THREAD, () => ({ pid: process.pid, tid: process.pid }), { from_first_reading: true });
    cpu.start();
    const persistence = scenario.broker?.persistence ?? 'memory';
    if (persistence === 'redis') {
      redisKeys = { url: redisUrl(), key_prefix: `chaosbench:${tag}:` };
      liveRun.addRedis(redisKeys.url, redisKeys.key_prefix);
    }
    if (runSink.kind === 'postgres' && runSink.aggregator.sink_schema) liveRun.addPostgres(runSink.aggregator.sink, runSink.aggregator.sink_schema);
    const profileDir = options.cpu_prof ? resolve(options.out_dir, 'profiles') : undefined;
    // The harness's own threads (this one and the load workers) are profiled from inside: npm starts this process without flags.
    if (profileDir) harnessProfile = await startThreadProfile(resolve(profileDir, 'harness'), 'main-thread');
    const maxPublishBytes = scenario.broker?.max_publish_bytes;
    broker = await startBroker(brokerSpec, {
      persistence,
      ...(maxPublishBytes === undefined ? {} : { max_publish_bytes: maxPublishBytes }),
      access,
      ...(redisKeys ? { redis: redisKeys } : {}),
      ...(profileDir ? { cpu_prof_dir: resolve(profileDir, 'broker') } : {}),
      error_output: log,
    });
    const brokerHandle = broker;
    if (brokerSpec.kind !== 'external') cpu.watch('broker', () => (brokerHandle.pid === undefined ? undefined : { pid: brokerHandle.pid }));
    else if (options.external_broker_pid !== undefined) {
      // Running before the run: its CPU counts from the run's first reading, as the harness's does.
      const pid = options.external_broker_pid;
      cpu.watch('broker', () => ({ pid }), { from_first_reading: true });
    }
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
    // Through a proxy an mqtts client still speaks TLS end to end with the broker, whose certificate
    // must then name the broker's host, not the proxy's.
    const tlsBroker = new URL(broker.url).protocol === 'mqtts:';
    const viaProxy = (proxy: ToxicProxy | undefined) => (proxy ? (tlsBroker ? proxy.url.replace(/^mqtt:/, 'mqtts:') : proxy.url) : broker!.url);
    const clientAccess: BrokerAccess = proxies && tlsBroker ? { ...access, verify_host: new URL(broker.url).hostname } : access;
    const publisherUrl = viaProxy(proxies?.publishers);
    const config: AggregatorConfig = {
      ...DEFAULT_AGGREGATOR_CONFIG,
      broker_url: viaProxy(proxies?.aggregator),
      broker_access: clientAccess,
      // Unique per run: an external broker keeps sessions (clean: false) and would otherwise hand
      // this run the previous run's leftovers.
      client_id: `chaosbench-agg-${tag}`,
      topic: `events/${tag}/#`,
      ...scenario.aggregator,
      dedup: aggregatorKind === 'none' ? 'none' : scenario.aggregator.dedup,
      ...runSink.aggregator,
      seed: scenario.seed,
      bare: aggregatorKind === 'none',
      ...(options.metrics ? { metrics_port: 0 } : {}),
      ...(options.mutation === undefined || options.mutation === 'noop-broker-kill' ? {} : { mutation: options.mutation }),
    };
    // The run's dedup claims on a shared Redis or PostgreSQL go to a place of the run's own, removed
    // afterwards. A PostgreSQL store's schema is named after the run's tag exactly like a PostgreSQL
    // sink's (runSchemaName), so with both on one database the claims sit beside the events they
    // guard in one schema. (The claim joins the sink's transaction either way: claimerFor compares
    // databases, not schemas.)
    if (aggregatorKind === 'reference') {
      dedupPlace = runDedupPlace(dedupSpec, config.dedup_namespace ?? config.client_id, tag);
      if (dedupPlace.kind === 'postgres') config.dedup_schema = dedupPlace.schema;
      if (dedupPlace.kind === 'redis') liveRun.addRedis(dedupPlace.url, dedupPlace.key_prefix);
      if (dedupPlace.kind === 'postgres') liveRun.addPostgres(dedupPlace.url, dedupPlace.schema);
    }
    // The reference aggregator (and the bare subscriber) take their configuration over IPC; your
    // own consumer takes the same facts in its environment (engine/target/contract.ts).
    const reference = aggregatorKind === 'external'
      ? undefined
      : new AggregatorProcess(config, {
          report_interval_ms: REPORT_INTERVAL_MS[scenario.load.model],
          ...(profileDir ? { cpu_prof_dir: resolve(profileDir, 'aggregator') } : {}),
        });
    if (scenario.target) {
      if (runSink.kind === 'postgres' && runSink.aggregator.sink_schema) await createRunSchema(runSink.aggregator.sink, runSink.aggregator.sink_schema);
      external = new ExternalProcess(
        scenario.target,
        targetEnvironment({ broker_url: config.broker_url, topic_filter: config.topic, client_id: config.client_id, sink: runSink.aggregator }),
      );
    }
    const agg: ConsumerProcess = reference ?? external!;
    aggregator = agg;
    // The run's processes as the registry knows them: again on every tick (a restart has a new pid).
    const noteChildren = () =>
      liveRun.setChildren([
        { role: 'broker', pid: brokerHandle.pid },
        { role: CONSUMER_ROLE[aggregatorKind], pid: agg.pid, group: aggregatorKind === 'external' },
      ]);
    await agg.start();
    noteChildren();
    if (reference?.metrics_port !== undefined) options.metrics?.aggregatorAt(reference.metrics_port);
    cpu.watch(CONSUMER_ROLE[aggregatorKind], () => (agg.pid === undefined ? undefined : { pid: agg.pid }));

    const totalS = scenario.phases.reduce((sum, p) => sum + p.duration_s, 0);
    const timeline: TimelineSample[] = [];
    const bare = aggregatorKind === 'none';
    if (!bare && options.live_latency !== false) liveLatency = runSink.liveLatency();
    // The harness's own memory (main thread and load workers share the process): bounded for long runs.
    let rssPeak = process.memoryUsage().rss;
    const sampleRss = () => {
      const rss = process.memoryUsage().rss;
      if (rss > rssPeak) rssPeak = rss;
      return rss;
    };
    let previous = { t_s: 0, published: 0, subscriber_acked: 0 };
    const consumed = consumedCounter(brokerHandle, agg);
    // The timeline's samples, in tick order: each waits for its count of what the subscriber finished.
    let ticks = Promise.resolve();
    let during: Promise<void> | undefined;
    let systemFaults: SystemFaultRun | undefined;
    const controls: SystemControls = {
      crashConsumer: async (downtimeMs) => {
        await cpu.around(() => agg.kill());
        await sleep(downtimeMs);
        await agg.start();
        agg.restarts++;
      },
      killBroker: async (downtimeMs) => {
        // Planted break (test only): the fault strikes and counts, and nothing is killed.
        if (options.mutation === 'noop-broker-kill') return sleep(downtimeMs);
        await cpu.around(() => brokerHandle.kill());
        await sleep(downtimeMs);
        await brokerHandle.restart();
      },
      // Only the reference takes these (targetProblems refused slow-sink for any other target).
      setSinkSlowdown: (profile, seed) => reference?.send({ type: 'slow-sink', profile, seed }),
      stallSink: (ms) => reference?.send({ type: 'stall-sink', ms }),
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
    // Each load worker thread by its thread id, once it has told it (engine/load/worker.ts).
    const workerThreads = new Map<number, number>();
    for (let w = 0; w < scenario.load.workers; w++) {
      cpu.watch(`load worker ${w + 1}`, () => (workerThreads.has(w) ? { pid: process.pid, tid: workerThreads.get(w)! } : undefined));
    }
    const load = await runLoad({
      scenario,
      broker_url: publisherUrl,
      broker_access: clientAccess,
      topic_root: `events/${tag}`,
      client_prefix: `chaosbench-${tag}`,
      ...(shard ? { shard } : {}),
      ...(profileDir ? { cpu_prof_dir: resolve(profileDir, 'harness') } : {}),
      onWorkerThread: (worker, tid) => {
        if (tid !== undefined) workerThreads.set(worker, tid);
        cpu.sample();
      },
      beforeWorkersExit: () => cpu.sample(),
      // Every publish acknowledged or given up: what follows (merging the workers' logs, the drain, the ledger) is after the load.
      onLoadEnd: () => cpu.markLoadEnd(),
      settle_timeout_ms: scenario.drain_timeout_s * 1000,
      completed: () => agg.totalCounters()?.acked ?? 0,
      onCompletion: (listener) => agg.onCounters(listener),
      onStarted: (start_us) => {
        // Everything so far was start-up: result.json cost splits each row's CPU here.
        cpu.markStart();
        systemFaults = scheduleSystemFaults(scenario, start_us, controls);
        if (reference) during = options.during?.({ aggregator: reference, broker: brokerHandle, start_us });
      },
      ...(interrupted ? { signal: interrupted } : {}),
      onTick: (status) => {
        noteChildren();
        ticks = ticks.then(async () => {
          const reported = await consumed.read();
          const counters = agg.totalCounters() ?? emptyCounters();
          // A broker that cannot answer (killed, restarting) is taken to have seen nothing new.
          const subscriberAcked = reported ?? previous.subscriber_acked;
          const dt = Math.max(1e-3, status.elapsed_s - previous.t_s);
          const sample: TimelineSample = {
            t_s: round(status.elapsed_s, 3),
            phase: phaseAt(scenario, status.elapsed_s),
            published: status.published,
            broker_acked: status.acked,
            subscriber_acked: subscriberAcked,
            backlog: status.acked + status.pending - subscriberAcked,
            offered_per_s: round((status.published - previous.published) / dt),
            consumed_per_s: round((subscriberAcked - previous.subscriber_acked) / dt),
            pending: status.pending,
            retries: counters.retries,
            redelivered: counters.redelivered,
          };
          timeline.push(sample);
          previous = { t_s: status.elapsed_s, published: status.published, subscriber_acked: subscriberAcked };
          const rssMb = sampleRss() / 2 ** 20;
          const live = bare ? undefined : liveLatency?.sample();
          options.metrics?.tick(sample, live);
          // Every figure the aggregator gives about itself is labelled so; the rest is the harness's (or the broker's) count.
          progress(
            `[${status.elapsed_s.toFixed(0).padStart(4)}s/${totalS}s] ${sample.phase.padEnd(10)} offered ${sample.offered_per_s.toFixed(0)}/s  consumed ${sample.consumed_per_s.toFixed(0)}/s  backlog ${sample.backlog}${consumed.source === 'broker' ? '' : ' (consumed and backlog self-reported)'}  p99 ${live && live.count > 0 ? `${live.p99_ms.toFixed(1)} ms` : '—'}  puback p99 ${status.publish_ack_p99_ms.toFixed(1)} ms  lag max ${status.lag_max_ms.toFixed(1)} ms${status.dropped > 0 ? `  dropped ${status.dropped}` : ''}  publish errors ${status.errors}  ${external ? '' : `${bare ? 'subscriber' : 'aggregator'} dlq ${counters.dlq}, errors ${counters.errors} (self-reported)  `}rss ${rssMb.toFixed(0)} MB`,
          );
        });
      },
    });
    await ticks;
    options.metrics?.draining();
    await during;
    const faultRecords = orderFaultRecords(scenario, [...load.faults, ...((await systemFaults?.finish(interrupted?.aborted)) ?? [])]);

    const publishCounters = load.log.counters;
    // What the drain waits for: every message the broker acknowledged, accounted for by the sink
    // itself (distinct events plus dead letters) — the harness's own evidence. A bare subscriber
    // has no sink: its acks are counted where the timeline counts them, by the broker where it can
    // (the embedded one), else by the subscriber's own word, and result.json says which.
    const brokerAcked = { messages: publishCounters.acked + publishCounters.raw_acked, distinct: publishCounters.acked - publishCounters.copies_acked + publishCounters.raw_acked };
    const drain = await drainAggregator(
      bare
        ? { counted: consumed.source, target: brokerAcked.messages, count: () => consumed.read() }
        : { counted: 'sink', target: brokerAcked.distinct, count: () => runSink.countDurable() },
      // One budget from the end of the schedule: the load workers' wait for PUBACKs has spent part
      // of it, so a run ends within its duration plus drain_timeout_s, not plus twice that.
      // Interrupted: one count of what is there, no wait.
      interrupted?.aborted ? 0 : Math.max(0, scenario.drain_timeout_s * 1000 - (nowMicros() - (load.phases.at(-1)?.end_us ?? nowMicros())) / 1000),
      progress,
      interrupted,
    );
    // With metrics, the aggregator's endpoint stays after its drain until the final scrapes have read its counters.
    // Interrupted: a short stop, and no lingering for the final scrapes.
    const stopConsumer = () => {
      if (!reference) return agg.stop();
      if (interrupted?.aborted) return reference.stop(INTERRUPTED_STOP_MS);
      return options.metrics ? reference.stop(undefined, options.metrics.linger_s * 1000) : reference.stop();
    };
    await cpu.around(stopConsumer);
    options.metrics?.consumed(await consumed.read());
    const counters = agg.totalCounters() ?? emptyCounters();
    const claimOrder = agg.claim_order ?? 'unknown';
    const brokerSoftware = broker.software;
    const stopping = broker;
    await cpu.around(() => stopping.stop());
    broker = undefined;

    await liveLatency?.close();
    const excluded = new Set(scenario.phases.flatMap((p, i) => (p.name === WARMUP_PHASE ? [i] : [])));
    // The final read. A bare subscriber writes nothing: there is no sink to read.
    const deadLetters = bare ? [] : (await runSink.deadLetters()).map(deadLetterKey);
    // A query's rows carry only event ids: they are named from the publish log.
    const locate = runSink instanceof QueryRunSink ? eventLocator(load.log.sources, scenario.seed) : undefined;
    const ledger = await buildLedgerAsync({
      log: load.log,
      phases: load.phases,
      sink: bare ? [] : runSink.rows(locate),
      measures_latency: runSink.measures_latency !== false,
      dead_letters: deadLetters,
      excluded_phases: excluded,
      expected_id: (source, seq, intended_us) => eventIdFor(scenario.seed, source, seq, intended_us),
      per_second_origin_us: load.start_us,
    });
    sampleRss();
    cpu.stop();
    cpu.sample();
    const measured = cpu.totals();

    // Without /proc (not Linux) nothing was measured: no cost section rather than zeros.
    const harnessCpu = measured.find((m) => m.role === HARNESS_PROCESS);
    const loadWallS = cpu.loadWallSeconds();
    const cost = harnessCpu && harnessCpu.incarnations > 0 ? costSection({
      clock_ticks_per_s: cpu.clock_ticks_per_s,
      sampling_interval_s: cpu.interval_ms / 1000,
      // What the harness put on the wire: originals handed to a connection and the copies sent.
      messages: publishCounters.published + publishCounters.copies_sent,
      processes: measured.filter((m) => m.role !== HARNESS_PROCESS),
      harness_process_cpu_s: harnessCpu.cpu_s,
      ...(harnessCpu.startup_cpu_s !== undefined ? { harness_process_startup_cpu_s: harnessCpu.startup_cpu_s } : {}),
      ...(harnessCpu.after_load_cpu_s !== undefined ? { harness_process_after_load_cpu_s: harnessCpu.after_load_cpu_s } : {}),
      ...(loadWallS !== undefined ? { load_wall_s: loadWallS } : {}),
      not_measured: brokerSpec.kind === 'external' && options.external_broker_pid === undefined ? [`broker: external (${brokerSpec.url}), not started by the run`] : [],
    }) : undefined;
    const result = assembleResult({
      runId,
      started,
      options,
      aggregatorKind,
      brokerKind: brokerSpec.kind,
      brokerUrl:
        brokerSpec.kind === 'external'
          ? brokerSpec.url
          : `embedded aedes (child process, ${persistence} persistence${scenario.broker?.max_publish_bytes === undefined ? '' : `, PUBLISH at most ${scenario.broker.max_publish_bytes} bytes`})`,
      brokerSoftware,
      brokerAccess: { mqtt_version: mqttVersionName(access.mqtt_version) as '3.1.1' | '5', client_certificate: access.cert !== undefined, password: access.password !== undefined },
      ...(bare ? {} : { sink: runSink.description }),
      load: { ...load, faults: faultRecords },
      ledger,
      timeline,
      backlogSource: consumed.source,
      drain,
      counters,
      claimOrder,
      excluded,
      rssPeakMb: rssPeak / 2 ** 20,
      ...(external ? { target: external.record(runSink.measures_latency !== false) } : {}),
      ...(cost ? { cost } : {}),
    });
    // The target's stderr is kept for a run that did not pass, or a target that exited by itself.
    const target = result.aggregator.target;
    if (target && result.passed && target.unexpected_exits.length === 0) delete target.stderr_tail;
    await harnessProfile?.stop();
    if (interrupted?.aborted) markInterrupted(result, { signal: String(interrupted.reason), at_s: round(interruptedAt! / 1000 - started.getTime() / 1000, 1) });
    // A shard ran only its own publishers; the merge adds the shards' counts back up.
    return shard ? { ...result, generator: { ...result.generator, publishers: shardPublishers(shard, scenario.load.publishers).length }, shard } : result;
  } finally {
    cpu.stop();
    await harnessProfile?.stop().catch(() => {});
    await liveLatency?.close();
    await aggregator?.kill().catch(() => {});
    await broker?.stop().catch(() => {});
    await Promise.all([proxies?.publishers.stop(), proxies?.aggregator.stop()]).catch(() => {});
    if (dedupPlace) {
      const place = dedupPlace;
      // A database the server refuses to select held none of the claims (the aggregator stopped at that step).
      await removeRunDedup(place).catch((error: unknown) =>
        !isUnselectableDatabase(error) && (leftOver = true) && log(`warning: could not remove the run's dedup claims (${place.kind}): ${(error as Error).message}`),
      );
    }
    // After the final read (above, in the try) and after the aggregator is gone: the sink's schema on a shared server.
    if (aggregatorKind !== 'none') {
      await runSink.remove().catch((error: unknown) =>
        (leftOver = true) && log(`warning: could not remove the run's sink (${runSink.kind}): ${(error as Error).message}`),
      );
    }
    if (redisKeys) {
      // A database the server refuses to select held none of them: the broker did not start.
      await deleteKeysWithPrefix(redisKeys.url, redisKeys.key_prefix).catch((error: unknown) =>
        !isUnselectableDatabase(error) && (leftOver = true) && log(`warning: could not remove the broker's Redis keys under ${redisKeys!.key_prefix}: ${(error as Error).message}`),
      );
    }
    interrupted?.removeEventListener('abort', noteInterruption);
    if (!leftOver) liveRun.close();
  }
}

/** How far the subscriber has got, and who says so: the timeline's backlog source. */
interface ConsumedCounter {
  source: BacklogSource;
  /** Messages the subscriber has acknowledged so far; undefined when the source cannot answer now. Never rejects. */
  read(): Promise<number | undefined>;
}

/**
 * The broker's count of its subscriber's PUBACKs when the broker gives one (the embedded broker):
 * evidence that does not rest on the subscriber's word, and unlike the aggregator's own counter it
 * keeps counting the PUBACKs of a process that is then SIGKILLed before it reports them. Otherwise
 * (an external broker) the subscriber's self-reported acks, labelled so wherever shown.
 */
function consumedCounter(broker: BrokerHandle, subscriber: ConsumerProcess): ConsumedCounter {
  if (broker.subscriberAcks) {
    const acks = broker.subscriberAcks.bind(broker);
    return { source: 'broker', read: () => acks().catch(() => undefined) };
  }
  return { source: 'subscriber (self-reported)', read: async () => subscriber.totalCounters()?.acked ?? 0 };
}

function phaseAt(scenario: Scenario, elapsedS: number): string {
  let end = 0;
  for (const phase of scenario.phases) {
    end += phase.duration_s;
    if (elapsedS < end) return phase.name;
  }
  return 'drain';
}

/** What the drain counts: the sink's durable events (harness evidence), or a bare subscriber's acks. */
interface DrainWatch {
  counted: DrainCount;
  /** The count that means every message the broker acknowledged is accounted for. */
  target: number;
  /** The count now; undefined while its source cannot answer (a broker restarting): the last count stands. */
  count: () => Promise<number | undefined>;
}

/** What the drain's progress line says it counts. */
const DRAIN_COUNT_LINE: Record<DrainCount, string> = {
  sink: 'sink',
  broker: "subscriber's PUBACKs (counted by the broker)",
  'subscriber (self-reported)': "subscriber's acks (self-reported)",
};

/**
 * Wait until everything the broker acknowledged is accounted for, or timeoutMs (what the load's
 * wait for PUBACKs left of drain_timeout_s) has passed.
 * A pause in progress is no reason to stop: a broker that redelivers on a timer (an ack-wait of
 * 30 s is common) or a consumer that is restarting delivers late, and stopping early would report
 * its events as lost.
 */
async function drainAggregator(watch: DrainWatch, timeoutMs: number, progress: (line: string, final?: boolean) => void, interrupted?: AbortSignal): Promise<RunResult['drain']> {
  const start = Date.now();
  const seconds = () => (Date.now() - start) / 1000;
  let counted = -1;
  let lastProgressAt: number | undefined;
  let lastLine = 0;
  for (;;) {
    // Counting a big sink takes a while: it never takes more than about a tenth of the drain's time.
    const before = Date.now();
    const now = (await watch.count().catch(() => undefined)) ?? counted;
    if (now > counted) {
      // The first count is where the drain starts, not progress.
      if (counted >= 0) lastProgressAt = Date.now();
      counted = now;
    }
    if (counted >= watch.target) return { drain_s: seconds(), complete: true, stopped: 'done', outstanding: 0, counted: watch.counted };
    if (Date.now() - start >= timeoutMs || interrupted?.aborted) break;
    if (Date.now() - lastLine >= 1000) {
      lastLine = Date.now();
      progress(`[drain] ${DRAIN_COUNT_LINE[watch.counted]}: ${Math.max(0, counted)}/${watch.target} broker-acked messages accounted for`);
    }
    await sleep(Math.min(Math.max(50, 9 * (Date.now() - before)), Math.max(0, timeoutMs - (Date.now() - start))));
  }
  return {
    drain_s: seconds(),
    complete: false,
    stopped: 'timeout',
    outstanding: Math.max(0, watch.target - Math.max(0, counted)),
    counted: watch.counted,
    last_progress_s: lastProgressAt === undefined ? null : round((lastProgressAt - start) / 1000, 1),
  };
}
