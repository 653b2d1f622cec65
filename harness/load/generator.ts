// Open-model load: a schedule of *intended* send times per phase (constant arrival rate), followed
// regardless of how fast the system answers. Latency is later measured from the intended time, so a
// stall cannot hide behind a slowed-down generator (coordinated omission). The generator's own lag
// behind the schedule is recorded so that a saturated generator is never mistaken for a slow system.

import { ulid } from 'ulid';
import { isoMicros, nowMicros, sleep } from '../../aggregator/clock.ts';
import { deriveSeed, seededRandom, type Random } from '../../aggregator/random.ts';
import { serializeEvent } from '../../aggregator/event/parse.ts';
import type { Event } from '../../aggregator/event/types.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { LatencyRecorder } from '../metrics/histogram.ts';
import { createFault } from '../faults/registry.ts';
import type { Fault, FaultContext } from '../faults/index.ts';
import { PublishLog } from './log.ts';
import { PublisherConnection, type Outgoing, type PublisherEvents } from './publishers.ts';

export interface PhaseWindow {
  name: string;
  start_us: number;
  end_us: number;
  target_rate: number;
  scheduled: number;
}

export interface FaultRecord {
  phase: string;
  kind: string;
  injected: Record<string, number>;
}

export interface LoadOutcome {
  log: PublishLog;
  phases: PhaseWindow[];
  /** Hand-off time − intended time of every original event (µs): the generator's own lag. */
  lag: LatencyRecorder;
  window_waits: number;
  faults: FaultRecord[];
  /** When the last scheduled event was due, and when every publish (copies too) had settled. */
  schedule_end_us: number;
  settled_us: number;
}

export interface LoadOptions {
  scenario: Scenario;
  broker_url: string;
  /** Topic root for this run, e.g. events/<run id>; each publisher publishes to <root>/<source>. */
  topic_root: string;
  client_prefix: string;
  /** Called about once a second with what has been published so far. */
  onTick?: (status: { elapsed_s: number; published: number; acked: number }) => void;
  /** Longest wait for un-acked publishes after the schedule ends. */
  settle_timeout_ms: number;
}

/** Deterministic filler so that payload size is exact and costs nothing per event. */
function filler(bytes: number): string {
  return 'x'.repeat(bytes);
}

export async function runLoad(options: LoadOptions): Promise<LoadOutcome> {
  const { scenario } = options;
  const log = new PublishLog();
  const lag = new LatencyRecorder();
  const events: PublisherEvents = {
    sent: (item, atUs) => log.sent(item.index, item.copy, atUs),
    acked: (item, atUs) => log.acked(item.index, item.copy, atUs),
    failed: (item) => log.failed(item.index),
  };

  const publishers: PublisherConnection[] = [];
  for (let i = 0; i < scenario.load.publishers; i++) {
    publishers.push(await PublisherConnection.connect(options.broker_url, `${options.client_prefix}-pub-${i}`, scenario.load.window, events));
  }
  const other = await PublisherConnection.connect(options.broker_url, `${options.client_prefix}-dup`, scenario.load.window, events);

  const listeners = new Set<(item: Outgoing, publisher: number) => void>();
  const faultContext = (label: string): FaultContext => ({
    random: seededRandom(deriveSeed(scenario.seed, label)),
    onPublished: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    republish: (item, via) => (via === 'other-connection' ? other : publishers[via.publisher]!).publish(item),
  });

  const idRandom: Random = seededRandom(deriveSeed(scenario.seed, 'event-ids'));
  const seqs = new Array<number>(scenario.load.publishers).fill(0);
  const payload = { data: filler(scenario.load.payload_bytes) };
  const phases: PhaseWindow[] = [];
  const faults: FaultRecord[] = [];
  const start_us = nowMicros() + 50_000; // a short lead so the first events are not already late
  let phaseStart = start_us;
  let global = 0;
  let lastTick = 0;

  for (const [phaseIndex, phase] of scenario.phases.entries()) {
    const scheduled = Math.round(phase.rate * phase.duration_s);
    const interval_us = 1e6 / phase.rate;
    const window: PhaseWindow = {
      name: phase.name,
      start_us: phaseStart,
      end_us: phaseStart + phase.duration_s * 1e6,
      target_rate: phase.rate,
      scheduled,
    };
    phases.push(window);
    const active: Fault[] = phase.faults.map((spec, j) => {
      const fault = createFault(spec);
      fault.start(faultContext(`phase${phaseIndex}.fault${j}.${spec.kind}`));
      return fault;
    });

    for (let k = 0; k < scheduled; ) {
      const now = nowMicros();
      // Send everything that is due; if we are late, we catch up at once (the lag is recorded).
      while (k < scheduled) {
        const intended_us = Math.round(phaseStart + k * interval_us);
        if (intended_us > now) break;
        const publisher = global % scenario.load.publishers;
        const source = `pub-${publisher}`;
        const seq = seqs[publisher]!++;
        const topic = `${options.topic_root}/${source}`;
        const event: Event = {
          v: 1,
          event_id: ulid(Math.floor(intended_us / 1000), idRandom),
          source,
          seq,
          topic,
          ts: isoMicros(intended_us),
          payload,
          bench: { intended_us },
        };
        const index = log.add({ event_id: event.event_id, source, seq, phase: phaseIndex, intended_us });
        const item: Outgoing = { index, topic, payload: Buffer.from(serializeEvent(event)), copy: false };
        // Generator lag: how late the hand-off is against the schedule. Waiting for a full window
        // comes after this point and is the system's slowness, measured in latency instead.
        lag.record(nowMicros() - intended_us);
        publishers[publisher]!.publish(item);
        for (const listener of listeners) listener(item, publisher);
        k++;
        global++;
      }
      if (options.onTick && now - lastTick >= 1e6) {
        lastTick = now;
        options.onTick({ elapsed_s: (now - start_us) / 1e6, published: log.events.length, acked: log.ackedPublishes() });
      }
      if (k < scheduled) {
        const next = Math.round(phaseStart + k * interval_us);
        const waitMs = (next - nowMicros()) / 1000;
        // setTimeout cannot wait less than ~1 ms; sub-ms gaps are caught up on the next pass.
        if (waitMs >= 1) await sleep(Math.min(waitMs, 50));
        else await new Promise((resolve) => setImmediate(resolve));
      }
    }
    // Hold the phase open until its end even if its events were all sent early.
    const remaining = (window.end_us - nowMicros()) / 1000;
    if (remaining > 0) await sleep(remaining);
    for (const [j, fault] of active.entries()) {
      await fault.stop();
      faults.push({ phase: phase.name, kind: phase.faults[j]!.kind, injected: fault.injected() });
    }
    phaseStart = window.end_us;
  }
  const schedule_end_us = phaseStart;

  // Wait (bounded) until every publish has its PUBACK or failed.
  const deadline = Date.now() + options.settle_timeout_ms;
  while (log.unsettled() > 0 && Date.now() < deadline) await sleep(20);
  const settled_us = nowMicros();
  const window_waits = publishers.reduce((sum, p) => sum + p.window_waits, other.window_waits);
  await Promise.all([...publishers, other].map((p) => p.close()));
  return { log, phases, lag, window_waits, faults, schedule_end_us, settled_us };
}
