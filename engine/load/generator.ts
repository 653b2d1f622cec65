// The load generator's main-thread side: starts the worker threads that run the publishers
// (engine/load/worker.ts), starts them all on one schedule, hands out credits in the closed
// model, sums their status for progress, and at the end merges their publish logs and histograms
// exactly. Open model: the schedule of intended send times (engine/load/schedule.ts) is followed
// whatever the system does, so a stall cannot hide (coordinated omission); the generator's own lag
// behind that schedule is recorded per phase, with what it really handed off within each phase and
// the events it dropped (more than load.max_lag_ms late), so that a saturated generator is never
// reported as a slow system.

import { Worker } from 'node:worker_threads';
import { nowMicros } from '../../aggregator/clock.ts';
import { WARMUP_PHASE, type Scenario } from '../../scenarios/schema.ts';
import { LatencyRecorder } from '../metrics/histogram.ts';
import { PublishLog } from './log.ts';
import { meanRate, Schedule } from './schedule.ts';
import { shardEventCount, shardShare, type Shard } from './shard.ts';
import type { FaultRecord, MainToWorker, WorkerDone, WorkerPhase, WorkerPlan, WorkerStatus, WorkerToMain } from './messages.ts';
import type { BrokerAccess } from '../../aggregator/consumer/access.ts';

export type { FaultRecord } from './messages.ts';

export interface PhaseWindow {
  name: string;
  start_us: number;
  end_us: number;
  /** Mean target arrival rate (open model); 0 for the closed model, which has none. */
  target_rate: number;
  /** Events the schedule planned for the phase (open model); 0 for the closed model. */
  scheduled: number;
  /**
   * The phase's events handed to their connection before the phase ended: what the generator
   * really offered in it. A generator that hands off late has events land after the end instead.
   */
  handed_off: number;
  /** The phase's events dropped, never sent: more than load.max_lag_ms behind schedule at hand-off... */
  dropped_late: number;
  /** ...or behind a window queue whose oldest publish was already that late (PUBACKs too slow for the window). */
  dropped_window: number;
  /** Hand-off time − intended time of the phase's events that were handed off (µs). */
  lag: LatencyRecorder;
  /** The load workers' wake-ups during the phase, all workers together (what the generator's CPU per wake-up is counted against). */
  wake_ups?: number;
}

export interface LoadStatus {
  elapsed_s: number;
  /** Original events handed to a connection. */
  published: number;
  /** Publishes (originals and copies) the broker acknowledged. */
  acked: number;
  /** Publishes queued or waiting for their PUBACK. */
  pending: number;
  errors: number;
  /** Worst generator lag in the last status interval of any worker (ms). */
  lag_max_ms: number;
  /** Events dropped so far (more than load.max_lag_ms behind schedule). */
  dropped: number;
  publish_ack_p99_ms: number;
}

export interface LoadOutcome {
  log: PublishLog;
  phases: PhaseWindow[];
  /** Hand-off time − intended time of the originals of the measured (non-warm-up) phases (µs): the generator's own lag. */
  lag: LatencyRecorder;
  /** Publish → PUBACK, from the actual send time (µs), originals and copies. */
  publish_ack: LatencyRecorder;
  window_waits: number;
  faults: FaultRecord[];
  start_us: number;
  /** Publishes still without a PUBACK when the settle timeout ran out. */
  unsettled: number;
}

export interface LoadOptions {
  scenario: Scenario;
  broker_url: string;
  /** MQTT version, TLS material and credentials for broker_url; absent: MQTT 3.1.1, none of the rest. */
  broker_access?: BrokerAccess;
  /** Topic root for this run, e.g. events/<run id>; each publisher publishes to <root>/<source>[/n]. */
  topic_root: string;
  client_prefix: string;
  /** Called once, when the workers have been given the schedule's start time (µs). */
  onStarted?: (start_us: number) => void;
  /** Called about once a second with the summed status of the workers. */
  onTick?: (status: LoadStatus) => void;
  /** Longest wait for un-acked publishes, counted from the end of the schedule. */
  settle_timeout_ms: number;
  /**
   * Closed model only: events completed end to end so far (committed, absorbed or dead-lettered);
   * the generator keeps `load.concurrency` events between publish and completion.
   */
  completed?: () => number;
  /** Closed model only: call the returned function's argument whenever `completed` may have grown. */
  onCompletion?: (listener: () => void) => () => void;
  /** This process's share of the publishers (--shard); absent: all of them. */
  shard?: Shard;
  /** --cpu-prof: each load worker writes its CPU profile into this directory. */
  cpu_prof_dir?: string;
  /** Called as each load worker thread is ready, with its thread id (absent without /proc): its CPU time is read from /proc. */
  onWorkerThread?: (worker: number, tid: number | undefined) => void;
  /** Aborted (the run interrupted): the workers end the schedule now, settle briefly and report what they sent. */
  signal?: AbortSignal;
  /** Called right before the worker threads are terminated (their /proc entries go with them): the last moment to read them. */
  beforeWorkersExit?: () => void;
  /** Called once every worker is done (every publish acknowledged or given up), before their logs are merged: the load's end. */
  onLoadEnd?: () => void;
}

const WORKER_ENTRY = new URL('../../aggregator/typescript-worker-entry.mjs', import.meta.url);
const WORKER_MODULE = new URL('./worker.ts', import.meta.url).href;
/** A short lead so that the first events are not already late when the workers get the start time. */
const START_LEAD_US = 200_000;
/** A worker busy catching up may answer a status request late; past this the tick uses what it has. */
const STATUS_REPLY_TIMEOUT_MS = 100;

export async function runLoad(options: LoadOptions): Promise<LoadOutcome> {
  const { scenario } = options;
  const W = scenario.load.workers;
  const workers: Worker[] = [];
  const statuses = new Map<number, WorkerStatus & { version: number }>();
  let statusVersion = 0;
  const done = new Map<number, WorkerDone>();
  let failure: Error | undefined;
  let wake: () => void = () => {};
  const changed = () => wake();
  const waitFor = async (condition: () => boolean, what: string): Promise<void> => {
    while (!condition()) {
      if (failure) throw failure;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    if (failure) throw new Error(`${what}: ${failure.message}`);
  };
  const ready = new Set<number>();

  for (let w = 0; w < W; w++) {
    const plan: WorkerPlan & { module_url: string } = {
      scenario,
      worker: w,
      broker_url: options.broker_url,
      ...(options.broker_access ? { broker_access: options.broker_access } : {}),
      topic_root: options.topic_root,
      client_prefix: options.client_prefix,
      settle_timeout_ms: options.settle_timeout_ms,
      ...(options.shard ? { shard: options.shard } : {}),
      ...(options.cpu_prof_dir !== undefined ? { cpu_prof_dir: options.cpu_prof_dir } : {}),
      module_url: WORKER_MODULE,
    };
    const worker = new Worker(WORKER_ENTRY, { workerData: plan });
    worker.on('message', (message: WorkerToMain) => {
      if (message.type === 'ready') {
        ready.add(message.worker);
        options.onWorkerThread?.(message.worker, message.tid);
      }
      else if (message.type === 'status') statuses.set(message.worker, { ...message, version: ++statusVersion });
      else if (message.type === 'done') done.set(message.worker, message);
      else if (message.type === 'error') failure ??= new Error(`load worker ${message.worker} failed: ${message.message}`);
      changed();
    });
    worker.on('error', (error) => {
      failure ??= new Error(`load worker ${w} crashed: ${error.message}`);
      changed();
    });
    worker.on('exit', (code) => {
      if (!done.has(w)) failure ??= new Error(`load worker ${w} exited (code ${code}) before reporting its results`);
      changed();
    });
    workers.push(worker);
  }
  const send = (w: number, message: MainToWorker) => workers[w]!.postMessage(message);

  let ticker: NodeJS.Timeout | undefined;
  let stopCredits: () => void = () => {};
  let stopListening: () => void = () => {};
  try {
    await waitFor(() => ready.size === W, 'starting the load workers');
    const start_us = nowMicros() + START_LEAD_US;
    for (let w = 0; w < W; w++) send(w, { type: 'go', start_us });
    const stopWorkers = () => workers.forEach((_, w) => !done.has(w) && send(w, { type: 'stop' }));
    if (options.signal?.aborted) stopWorkers();
    options.signal?.addEventListener('abort', stopWorkers, { once: true });
    stopListening = () => options.signal?.removeEventListener('abort', stopWorkers);
    options.onStarted?.(start_us);
    const schedule = new Schedule(scenario.phases, start_us, scenario.load.publishers);

    if (scenario.load.model === 'closed') {
      const completed = options.completed ?? (() => 0);
      let issued = 0;
      let turn = 0;
      const topUp = () => {
        const want = scenario.load.concurrency - (issued - completed());
        if (want <= 0) return;
        const shares = new Array<number>(W).fill(Math.floor(want / W));
        for (let n = 0; n < want % W; n++) shares[turn++ % W]!++;
        shares.forEach((n, w) => n > 0 && send(w, { type: 'credit', n }));
        issued += want;
      };
      topUp();
      stopCredits = options.onCompletion?.(topUp) ?? (() => {});
    }

    const sum = (all: WorkerStatus[], pick: (s: WorkerStatus) => number) => all.reduce((total, s) => total + pick(s), 0);
    if (options.onTick) {
      // Every worker is asked at the same moment, so that the sum is one consistent sample.
      let asked = 0;
      ticker = setInterval(() => {
        const since = statusVersion;
        asked = since;
        for (let w = 0; w < W; w++) if (!done.has(w)) send(w, { type: 'status' });
        const deadline = Date.now() + STATUS_REPLY_TIMEOUT_MS;
        const report = () => {
          if (asked !== since) return;
          const fresh = [...statuses.values()].filter((s) => s.version > since).length;
          if (fresh < W - done.size && Date.now() < deadline) return void setTimeout(report, 2).unref();
          const all = [...statuses.values()];
          options.onTick!({
            elapsed_s: (nowMicros() - start_us) / 1e6,
            published: sum(all, (s) => s.published),
            acked: sum(all, (s) => s.acked),
            pending: sum(all, (s) => s.pending),
            errors: sum(all, (s) => s.errors),
            lag_max_ms: Math.max(0, ...all.map((s) => s.lag_max_us)) / 1000,
            dropped: sum(all, (s) => s.dropped),
            publish_ack_p99_ms: Math.max(0, ...all.map((s) => s.publish_ack_p99_us)) / 1000,
          });
        };
        report();
      }, 1000);
      ticker.unref();
    }

    await waitFor(() => done.size === W, 'running the load');
    options.onLoadEnd?.();
    stopCredits();
    const results = [...done.values()].sort((a, b) => a.worker - b.worker);
    const log = PublishLog.merge(results.map((r) => r.log));
    const publishAck = new LatencyRecorder();
    for (const r of results) publishAck.merge(LatencyRecorder.decode(r.publish_ack));
    const phaseLag = schedule.phases.map((_, i) => {
      const recorder = new LatencyRecorder();
      for (const r of results) recorder.merge(LatencyRecorder.decode(r.phases[i]!.lag));
      return recorder;
    });
    const phaseSum = (i: number, pick: (phase: WorkerPhase) => number) => results.reduce((total, r) => total + pick(r.phases[i]!), 0);
    // The pooled lag leaves the warm-up out: its start-up lag says nothing about the measurement.
    const lag = new LatencyRecorder();
    schedule.phases.forEach((p, i) => p.name !== WARMUP_PHASE && lag.merge(phaseLag[i]!));
    const open = scenario.load.model === 'open';
    // A shard is held to its share of the target: the shards' targets add up to the scenario's.
    const share = options.shard ? shardShare(options.shard, scenario.load.publishers) : 1;
    return {
      log,
      phases: schedule.phases.map((p, i) => ({
        name: p.name,
        start_us: p.start_us,
        end_us: p.end_us,
        target_rate: open ? meanRate(p.rate) * share : 0,
        scheduled: open ? (options.shard ? shardEventCount(options.shard, scenario.load.publishers, p.first, p.count) : p.count) : 0,
        handed_off: phaseSum(i, (w) => w.handed_off),
        dropped_late: phaseSum(i, (w) => w.dropped_late),
        dropped_window: phaseSum(i, (w) => w.dropped_window),
        wake_ups: phaseSum(i, (w) => w.wake_ups),
        lag: phaseLag[i]!,
      })),
      lag,
      publish_ack: publishAck,
      window_waits: results.reduce((total, r) => total + r.window_waits, 0),
      // Each worker ran its own instance of every fault on its own events: add their counts up.
      faults: mergeFaultRecords(results.map((r) => r.faults)),
      start_us,
      unsettled: results.reduce((total, r) => total + r.unsettled, 0),
    };
  } finally {
    stopCredits();
    stopListening();
    if (ticker) clearInterval(ticker);
    options.beforeWorkersExit?.();
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/** Sum the per-worker records of the same fault (same phase, same position) into one. Pure. */
export function mergeFaultRecords(perWorker: readonly (readonly FaultRecord[])[]): FaultRecord[] {
  const merged: FaultRecord[] = [];
  for (const records of perWorker) {
    records.forEach((record, i) => {
      const into = merged[i];
      if (!into) {
        merged[i] = { phase: record.phase, fault: record.fault, kind: record.kind, injected: { ...record.injected } };
        return;
      }
      for (const [key, value] of Object.entries(record.injected)) into.injected[key] = (into.injected[key] ?? 0) + value;
    });
  }
  return merged;
}
