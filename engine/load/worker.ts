// One load worker (a worker thread): runs the publishers it owns (publisher p belongs to worker
// p mod W; in a sharded run, only this process's shard's publishers are shared out: shard.ts),
// follows the run's schedule for their events (open model) or the credits the main thread hands
// out (closed model), runs the faults of each phase for its own events, and records
// what it published in its own PublishLog. It answers status requests (the main thread samples
// every worker at the same moment) and, at the end, sends its log and histograms, which the main
// thread merges exactly.

import { parentPort, workerData } from 'node:worker_threads';
import { isoMicros, nowMicros, sleep } from '../../aggregator/clock.ts';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';
import { serializeEvent } from '../../aggregator/event/parse.ts';
import type { Event } from '../../aggregator/event/types.ts';
import { createPublishFault, runsIn } from '../faults/registry.ts';
import type { PublishFault, PublishFaultContext } from '../faults/index.ts';
import { LatencyRecorder } from '../metrics/histogram.ts';
import { EventEncoder } from './event-encoder.ts';
import { eventIdFor } from './identity.ts';
import { PublishLog, type SourceRecord } from './log.ts';
import { OutputBatch, PublisherConnection, type Outgoing, type PublisherEvents } from './publishers.ts';
import { Schedule } from './schedule.ts';
import { DEFAULT_MAX_LAG_MS, DEFAULT_WAKE_INTERVAL_MS } from '../../scenarios/schema.ts';
import { runsPublisher, WHOLE_RUN } from './shard.ts';
import type { FaultRecord, MainToWorker, WorkerPhase, WorkerPlan, WorkerStatus, WorkerToMain } from './messages.ts';
import { startThreadProfile } from '../thread-profile.ts';
import { currentThreadId } from '../metrics/process-cpu.ts';
import { Wakeups } from './wakeups.ts';

/** Send at most this many late events in a row before yielding, so acks and status still flow. */
const CATCH_UP_BURST = 256;
/** After a 'stop' (the run interrupted), the longest wait for the PUBACKs of what was sent. */
const STOP_SETTLE_MS = 1_000;

const plan = workerData as WorkerPlan;
const port = parentPort!;
const post = (message: WorkerToMain, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

function filler(bytes: number): string {
  return 'x'.repeat(bytes);
}

async function run(): Promise<void> {
  const profile = plan.cpu_prof_dir === undefined ? undefined : await startThreadProfile(plan.cpu_prof_dir, `load-worker-${plan.worker}`);
  const { scenario } = plan;
  const P = scenario.load.publishers;
  const W = scenario.load.workers;
  const shard = plan.shard ?? WHOLE_RUN;
  const runs = Array.from({ length: P }, (_, p) => runsPublisher(shard, W, plan.worker, p));
  const owned = Array.from({ length: P }, (_, p) => p).filter((p) => runs[p]);
  const log = new PublishLog();
  const publishAck = new LatencyRecorder();
  let intervalLagMaxUs = 0;

  // Raw messages (poison) are not events of the ledger: their fate is the DLQ's to show.
  const events: PublisherEvents = {
    sent: (item) => item.raw || log.sent(item.record, item.seq, item.copy),
    acked: (item, sentUs, ackedUs) => {
      if (item.raw) return void log.counters.raw_acked++;
      log.acked(item.record, item.seq, item.copy);
      publishAck.record(ackedUs - sentUs);
    },
    failed: (item, _error, timedOut) => item.raw || log.failed(item.record, item.seq, item.copy, timedOut),
  };
  // Every connection's frames of a wake-up leave together: the schedule loop below flushes them
  // once it has handed off the batch (a setImmediate for all of them otherwise, not one each).
  const output = new OutputBatch();
  const connectionOptions = { window: scenario.load.window, puback_timeout_ms: scenario.load.puback_timeout_ms, qos: scenario.load.qos ?? 1, output, ...(plan.broker_access ? { access: plan.broker_access } : {}) };
  /** By publisher index (only this worker's publishers are set): an array, read per event. */
  const publishers: ({ connection: PublisherConnection; record: SourceRecord; source: string; topic: string; next_seq: number } | undefined)[] = [];
  for (const p of owned) {
    const source = `pub-${p}`;
    const connection = await PublisherConnection.connect(plan.broker_url, `${plan.client_prefix}-pub-${p}`, connectionOptions, events);
    publishers[p] = { connection, record: log.record(source), source, topic: `${plan.topic_root}/${source}`, next_seq: 0 };
  }
  const other = await PublisherConnection.connect(plan.broker_url, `${plan.client_prefix}-dup-${plan.worker}`, connectionOptions, events);
  const connections = [...owned.map((p) => publishers[p]!.connection), other];

  const listeners = new Set<(item: Outgoing, publisher: number) => void>();
  const interceptors = new Set<(item: Outgoing, publisher: number, send: () => void) => boolean>();
  const reshapers = new Set<(event: Event, publisher: number) => Event>();
  const subscribe = <T>(set: Set<T>, hook: T) => {
    set.add(hook);
    return () => void set.delete(hook);
  };
  // The schedule's next events and the faults' delayed work share one timer and its wake-ups.
  const wakeups = new Wakeups((scenario.load.wake_interval_ms ?? DEFAULT_WAKE_INTERVAL_MS) * 1000);
  const rawRecord = log.record(`raw-${plan.worker}`); // never added to: raw items only point at it
  const faultContext = (label: string, place: string): PublishFaultContext => ({
    // Each shard's workers draw their own streams; one shard keeps the seeds a plain run always had.
    random: seededRandom(deriveSeed(scenario.seed, `${shard.count > 1 ? `shard${shard.index}of${shard.count}.` : ''}worker${plan.worker}.${label}`)),
    onPublished: (listener) => subscribe(listeners, listener),
    republish: (item, via) => {
      takeCredit();
      (via === 'other-connection' ? other : publishers[via.publisher]!.connection).publish(item);
    },
    intercept: (hook) => subscribe(interceptors, hook),
    reshape: (hook) => subscribe(reshapers, hook),
    publishRaw: (subtopic, payload) => {
      takeCredit();
      // A topic per worker and fault (phase and index): each fault numbers its raw messages from 1,
      // and the ledger tells dead letters apart by topic and bytes, so no two may share both.
      other.publish({ record: rawRecord, seq: 0, topic: `${plan.topic_root}/${subtopic}-w${plan.worker}-${place}`, payload, copy: false, raw: true });
    },
    later: (delay_ms, task) => wakeups.at(nowMicros() + delay_ms * 1000, task),
  });

  const payload = { data: filler(scenario.load.payload_bytes) };
  const encoder = new EventEncoder(scenario.seed, payload);
  /** An event a reshaping fault rewrites: built as an object, reshaped, serialised (the slow path). */
  const reshaped = (source: string, seq: number, topic: string, intended_us: number, p: number): Buffer => {
    const event_id = eventIdFor(scenario.seed, source, seq, intended_us);
    let event: Event = { v: 1, event_id, source, seq, topic, ts: isoMicros(intended_us), payload, bench: { intended_us } };
    for (const reshape of reshapers) event = reshape(event, p);
    return Buffer.from(serializeEvent(event));
  };
  const topics = scenario.load.topics;
  const open = scenario.load.model === 'open';
  const maxLagUs = (scenario.load.max_lag_ms ?? DEFAULT_MAX_LAG_MS) * 1000;
  /** Per phase of the schedule (filled once the schedule is known). */
  const phaseStats: { handed_off: number; dropped_late: number; dropped_window: number; lag: LatencyRecorder; end_us: number; wake_ups: number }[] = [];
  let dropped = 0;
  /**
   * Hand event (p, seq) of phase `phase` to its connection at `now`, or drop it (open model) when
   * its connection's window queue already holds a publish more than load.max_lag_ms behind its due
   * time: the new event would go out at least that late, and queuing it would let the harness's
   * memory grow with the schedule. A dropped event is never built, sent or logged, so no fault can
   * copy it and the ledger never sees it as published. True when it was handed off.
   */
  const publish = (p: number, seq: number, intended_us: number, phase: number, now: number): boolean => {
    const publisher = publishers[p]!;
    const stats = phaseStats[phase]!;
    if (open && publisher.connection.queuedLateness(now) > maxLagUs) {
      stats.dropped_window++;
      dropped++;
      return false;
    }
    // What the generator really offered in a phase: its events handed off before the phase ended.
    if (now < stats.end_us) stats.handed_off++;
    const topic = topics === 1 ? publisher.topic : `${publisher.topic}/${seq % topics}`;
    log.add(publisher.record, seq, intended_us);
    const payload = reshapers.size === 0 ? encoder.encode(publisher.source, seq, topic, intended_us) : reshaped(publisher.source, seq, topic, intended_us, p);
    const item: Outgoing = { record: publisher.record, seq, topic, payload, copy: false };
    if (interceptors.size === 0) publisher.connection.publish(item, intended_us, now);
    else {
      // A closure per event only when a fault may hold the event back (made per event, it cost ~1 µs under tsx).
      const send = () => publisher.connection.publish(item, intended_us);
      let taken = false;
      for (const intercept of interceptors) if (!taken) taken = intercept(item, p, send);
      if (!taken) send();
    }
    for (const listener of listeners) listener(item, p);
    return true;
  };

  // Credits for the closed model: one per message the main thread saw complete end to end (the
  // subscriber acks every message, so its completions count copies and raw messages too). A fault's
  // extra message (a duplicate copy, a poison message) takes a credit as well, going into debt if
  // there is none (it cannot be dropped); otherwise every copy would let one more event into
  // flight and the closed model's concurrency would grow without bound.
  let credits = 0;
  const takeCredit = () => {
    if (scenario.load.model === 'closed') credits--;
  };
  let creditWaiter: (() => void) | undefined;
  // The run was interrupted ('stop'): the schedule loops below end at their next check.
  let stopped = false;
  port.on('message', (message: MainToWorker) => {
    if (message.type === 'stop') {
      stopped = true;
      creditWaiter?.();
    } else if (message.type === 'credit') {
      credits += message.n;
      creditWaiter?.();
    } else if (message.type === 'status') {
      post(status());
      intervalLagMaxUs = 0;
    }
  });

  const status = (): WorkerStatus => ({
    type: 'status',
    worker: plan.worker,
    published: log.counters.published,
    // Raw messages count here: the subscriber acknowledges them too (into the DLQ).
    acked: log.counters.acked + log.counters.raw_acked,
    pending: connections.reduce((sum, c) => sum + c.pending, 0),
    errors: log.counters.publish_errors + log.counters.puback_timeouts,
    lag_max_us: intervalLagMaxUs,
    dropped,
    publish_ack_p99_us: publishAck.count === 0 ? 0 : publishAck.valueAtPercentile(99),
  });
  const tid = currentThreadId();
  post({ type: 'ready', worker: plan.worker, ...(tid !== undefined ? { tid } : {}) });
  const start_us = await new Promise<number>((resolve) => {
    port.on('message', (message: MainToWorker) => {
      if (message.type === 'go') resolve(message.start_us);
    });
  });

  const schedule = new Schedule(scenario.phases, start_us, P);
  /** This worker's events among global events [from, to): those of the publishers it runs. */
  const ownedIn = (from: number, to: number) => owned.reduce((n, p) => n + Math.max(0, Math.ceil((to - p) / P)) - Math.max(0, Math.ceil((from - p) / P)), 0);
  for (const phase of schedule.phases) phaseStats.push({ handed_off: 0, dropped_late: 0, dropped_window: 0, lag: new LatencyRecorder(), end_us: phase.end_us, wake_ups: 0 });
  const faults: FaultRecord[] = [];
  let burst = 0;
  for (const [i, phase] of schedule.phases.entries()) {
    if (stopped) break;
    const wait = (phase.start_us - nowMicros()) / 1000;
    if (wait > 0) await sleep(wait);
    // This worker's share of the phase's publish faults; system faults run in the main thread.
    const specs = scenario.phases[i]!.faults.map((spec, j) => ({ spec, j })).filter(({ spec }) => runsIn(spec) === 'publisher');
    const active: PublishFault[] = specs.map(({ spec, j }) => {
      const fault = createPublishFault(spec);
      fault.start(faultContext(`phase${i}.fault${j}.${spec.kind}`, `p${i}f${j}`));
      return fault;
    });

    const stats = phaseStats[i]!;
    const wakesBefore = wakeups.wakes;
    if (open) {
      // The clock is read once per wake-up (and after each yield), not per event: a batch is
      // handed off at the moment the worker woke, and its lag is measured from then.
      let now = nowMicros();
      for (let g = phase.first; g < phase.first + phase.count && !stopped; g++) {
        const p = g % P;
        if (!runs[p]) continue;
        const intended = schedule.intendedAt(g, i);
        if (intended > now) now = nowMicros();
        while (intended > now && !stopped) {
          burst = 0;
          // Wake up at the event's time, or with the next batch (at most one wake-up per
          // load.wake_interval_ms), and then send everything that has come due: spinning through the
          // event loop for sub-ms gaps would burn a core that the broker and the aggregator need on
          // a small machine. Costs up to about load.wake_interval_ms of recorded lag. At most 50 ms at a
          // time, so a 'stop' is seen.
          output.flush();
          await wakeups.until(Math.min(intended, now + 50_000));
          now = nowMicros();
        }
        if (stopped) break;
        // Generator lag: how late the hand-off is against the schedule. A full window comes after
        // this point and is the system's slowness, which end-to-end latency measures instead (for
        // up to max_lag_ms: see publish). Recorded per phase: the validity rule judges each measured phase on its own (a warm-up
        // absorbs the start: JIT, connections, caches).
        const late = now - intended;
        if (late > intervalLagMaxUs) intervalLagMaxUs = late;
        if (late > maxLagUs) {
          // Too far behind to be a measurement of this schedule (like k6's dropped_iterations):
          // sending it anyway would send the schedule ever later, with an ever longer queue. Every
          // event due before now − max_lag is as late: drop them in one step, not one at a time.
          const next = Math.max(g + 1, schedule.firstDueFrom(now - maxLagUs, i));
          const n = ownedIn(g, next);
          stats.dropped_late += n;
          dropped += n;
          g = next - 1;
        } else if (publish(p, Math.floor(g / P), intended, i, now)) stats.lag.record(late);
        if (++burst >= CATCH_UP_BURST) {
          burst = 0;
          output.flush();
          await new Promise((resolve) => setImmediate(resolve));
          now = nowMicros();
        }
      }
    } else {
      // Closed model: as fast as the credits allow, round robin over this worker's publishers;
      // the intended time is the actual send time (that is what a closed model measures).
      let turn = 0;
      while (nowMicros() < phase.end_us && !stopped) {
        if (credits <= 0) {
          output.flush();
          await new Promise<void>((resolve) => {
            creditWaiter = resolve;
            setTimeout(resolve, Math.max(1, Math.min(50, (phase.end_us - nowMicros()) / 1000))).unref();
          });
          creditWaiter = undefined;
          continue;
        }
        credits--;
        const p = owned[turn++ % owned.length]!;
        const publisher = publishers[p]!;
        const now = nowMicros();
        publish(p, publisher.next_seq++, now, i, now);
        if (++burst >= CATCH_UP_BURST) {
          burst = 0;
          output.flush();
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    }
    // Hold the phase open until its end even if its events were all sent early.
    for (let remaining = (phase.end_us - nowMicros()) / 1000; remaining > 0 && !stopped; remaining = (phase.end_us - nowMicros()) / 1000) await sleep(Math.min(remaining, 50));
    stats.wake_ups = wakeups.wakes - wakesBefore;
    for (const [j, fault] of active.entries()) {
      await fault.stop();
      faults.push({ phase: phase.name, fault: specs[j]!.j, kind: specs[j]!.spec.kind, injected: fault.injected() });
    }
  }

  // Wait (bounded) until every publish has its PUBACK, failed or timed out. The bound counts from
  // the schedule's end, not from the last hand-off: a generator that ran up to max_lag late must
  // not add that to the wait as well.
  // Interrupted: a short settle (STOP_SETTLE_MS), from the stop.
  const deadline = stopped ? Math.min(schedule.end_us + plan.settle_timeout_ms * 1000, nowMicros() + STOP_SETTLE_MS * 1000) : schedule.end_us + plan.settle_timeout_ms * 1000;
  while (connections.some((c) => c.pending > 0) && nowMicros() < deadline) await sleep(20);
  post(status());
  const window_waits = connections.reduce((sum, c) => sum + c.window_waits, 0);
  await Promise.all(connections.map((c) => c.close()));
  await profile?.stop();
  const { snapshot, transferList } = log.snapshot();
  post(
    {
      type: 'done',
      worker: plan.worker,
      log: snapshot,
      phases: phaseStats.map(({ handed_off, dropped_late, dropped_window, lag, wake_ups }): WorkerPhase => ({ handed_off, dropped_late, dropped_window, lag: lag.encode(), wake_ups })),
      publish_ack: publishAck.encode(),
      faults,
      window_waits,
      unsettled: connections.reduce((sum, c) => sum + c.pending, 0),
    },
    transferList,
  );
}

run().catch((error: unknown) => {
  post({ type: 'error', worker: plan.worker, message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
});
