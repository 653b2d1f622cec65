// Micro-benchmark of the generator's per-event bookkeeping and encoding, each alone in a tight loop
// (no sockets): the publish log (add + sent + acked), HDR recording (the lag and publish→ack
// histograms: two records per event), event id, timestamp, and the whole event's JSON
// (EventEncoder) against the object + serializeEvent path it replaced. ns per event, median of 5,
// in CPU time of this process (process.cpuUsage: on a shared machine, wall time counts the other
// processes' turns on the core too), with the wall-clock median beside it.
//
//   npx tsx experiments/perf/per-event-micro.ts [--events 200000]

import { parseArgs } from 'node:util';
import { isoMicros, writeIsoMicros } from '../../aggregator/clock.ts';
import { serializeEvent } from '../../aggregator/event/parse.ts';
import { LatencyRecorder } from '../../engine/metrics/histogram.ts';
import { EventEncoder } from '../../engine/load/event-encoder.ts';
import { eventIdFor, writeEventId } from '../../engine/load/identity.ts';
import { PublishLog } from '../../engine/load/log.ts';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
const N = Number(args.events);
const T0 = 1_764_700_000_000_000;
const payload = { data: 'x'.repeat(256) };
const scratch = Buffer.alloc(64);

const cases: Record<string, () => void> = {
  'publish log: add + sent + acked': () => {
    const log = new PublishLog();
    const record = log.record('pub-0');
    for (let i = 0; i < N; i++) {
      log.add(record, i, T0 + i * 100);
      log.sent(record, i, false);
      log.acked(record, i, false);
    }
  },
  'publish log + HDR: everything recorded per event (issue 19: <= 1 µs)': () => {
    const log = new PublishLog();
    const record = log.record('pub-0');
    const lag = new LatencyRecorder();
    const ack = new LatencyRecorder();
    for (let i = 0; i < N; i++) {
      log.add(record, i, T0 + i * 100);
      lag.record((i * 37) % 5_000);
      log.sent(record, i, false);
      log.acked(record, i, false);
      ack.record(200 + ((i * 53) % 20_000));
    }
  },
  'HDR: lag + publish→ack records': () => {
    const lag = new LatencyRecorder();
    const ack = new LatencyRecorder();
    for (let i = 0; i < N; i++) {
      lag.record((i * 37) % 5_000);
      ack.record(200 + ((i * 53) % 20_000));
    }
  },
  'event id (writeEventId)': () => {
    for (let i = 0; i < N; i++) writeEventId(scratch, 0, 1, 'pub-0', i, T0 + i * 100);
  },
  'event id (eventIdFor, a string)': () => {
    for (let i = 0; i < N; i++) eventIdFor(1, 'pub-0', i, T0 + i * 100);
  },
  'timestamp (writeIsoMicros)': () => {
    for (let i = 0; i < N; i++) writeIsoMicros(scratch, 0, T0 + i * 100);
  },
  'event JSON: EventEncoder': () => {
    const encoder = new EventEncoder(1, payload);
    for (let i = 0; i < N; i++) encoder.encode('pub-0', i, 'events/run/pub-0', T0 + i * 100);
  },
  'event JSON: object + serializeEvent + Buffer.from (before)': () => {
    for (let i = 0; i < N; i++) {
      const intended_us = T0 + i * 100;
      const event = { v: 1 as const, event_id: eventIdFor(1, 'pub-0', i, intended_us), source: 'pub-0', seq: i, topic: 'events/run/pub-0', ts: isoMicros(intended_us), payload, bench: { intended_us } };
      Buffer.from(serializeEvent(event));
    }
  },
};

for (const [name, run] of Object.entries(cases)) {
  run(); // warm up
  const ns: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    run();
    const used = process.cpuUsage(cpu);
    ns.push(((used.user + used.system) * 1000) / N);
    wall.push(Number(process.hrtime.bigint() - start) / N);
  }
  ns.sort((a, b) => a - b);
  wall.sort((a, b) => a - b);
  console.log(`${name.padEnd(70)} ${ns[2]!.toFixed(0).padStart(6)} ns/event CPU [${ns[0]!.toFixed(0)}–${ns[4]!.toFixed(0)}], wall ${wall[2]!.toFixed(0)}`);
}
