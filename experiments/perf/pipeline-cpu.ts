// The reference aggregator's pipeline alone, in this process, without a broker or a harness: its CPU
// per message (all threads of the process, the SQLite sink's thread included) and its own capacity,
// for each repository root given, interleaved per round. Messages are dup-storm-like events
// (serialized once up front, 30% repeated), pushed into a Pipeline as a socket would hand them
// (a chunk per event-loop turn) with --in-flight un-acked at most (a closed loop, like the bench's).
//
//   npx tsx experiments/perf/pipeline-cpu.ts [--root DIR,DIR...] [--dedup memory] [--sink-thread off,on]
//       [--messages 60000] [--in-flight 1000] [--rounds 5]
//
// --root: checkouts whose aggregator/ to load (e.g. a `git worktree` of the base commit and '.');
// --sink-thread: the SQLite sink in this thread (off) and/or on its own (on, where a root has
// aggregator/sink/sqlite-thread.ts); every root × value is one arm, all interleaved per round.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values: args } = parseArgs({
  options: {
    root: { type: 'string', default: '.' },
    dedup: { type: 'string', default: 'memory' },
    'sink-thread': { type: 'string', default: 'off' },
    messages: { type: 'string', default: '60000' },
    'in-flight': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
  },
});
const roots = args.root.split(',').map((root) => resolve(root));
const MESSAGES = Number(args.messages);
const IN_FLIGHT = Number(args['in-flight']);
const CHUNK = 50;

const load = (root: string, path: string) => import(pathToFileURL(join(root, path)).href);

async function once(root: string, thread: boolean, round: number): Promise<{ cpu_us_per_msg: number; msgs_per_s: number }> {
  const { Pipeline } = await load(root, 'aggregator/pipeline.ts');
  const { SqliteSink } = await load(root, 'aggregator/sink/sqlite.ts');
  const { createDedupStore } = await load(root, 'aggregator/dedup/registry.ts');
  const { serializeEvent } = await load(root, 'aggregator/event/parse.ts');
  const { DEFAULT_RETRY_POLICY } = await load(root, 'aggregator/retry.ts');
  const { seededRandom } = await load(root, 'aggregator/random.ts');
  const SinkClass = thread ? (await load(root, 'aggregator/sink/sqlite-thread.ts')).ThreadedSqliteSink : SqliteSink;

  const dir = mkdtempSync(join(tmpdir(), 'pipeline-cpu-'));
  const sink = new SinkClass({ path: join(dir, 'sink.db'), mode: 'idempotent' });
  const store = createDedupStore(args.dedup, { namespace: `pipeline-cpu-${process.pid}-${round}-${Date.now()}` });
  await store.open?.();
  const pipeline = new Pipeline(store, sink, {
    batch_size: 200,
    batch_wait_ms: 5,
    dedup_ttl_ms: 600_000,
    retry: DEFAULT_RETRY_POLICY,
    parse: { maxPayloadBytes: 65_536 },
    random: seededRandom(1),
  });
  if (SinkClass !== SqliteSink) await sink.commit([]); // the thread started and the schema made: outside the measurement
  const random = seededRandom(round + 1);
  const payloads: Buffer[] = [];
  for (let seq = 0; payloads.length < MESSAGES; seq++) {
    const id = `01JPERF${String(round).padStart(3, '0')}${String(seq).padStart(16, '0')}`;
    const event = { v: 1, event_id: id, source: 'pub-0', seq, topic: 'events/pub-0', ts: '2026-12-03T00:00:00.000001Z', payload: { n: seq, filler: 'x'.repeat(64) }, bench: { intended_us: 1_764_720_000_000_000 + seq } };
    const bytes = Buffer.from(serializeEvent(event));
    payloads.push(bytes);
    if (random() < 0.3 && payloads.length < MESSAGES) payloads.push(bytes);
  }

  let sent = 0;
  let acked = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await new Promise<void>((done) => {
    // Like a paused socket: at the in-flight limit nothing is scheduled until an ack frees room.
    let scheduled = false;
    const schedule = () => {
      if (scheduled || sent >= MESSAGES || sent - acked >= IN_FLIGHT) return;
      scheduled = true;
      setImmediate(feed);
    };
    const ack = () => {
      acked++;
      if (acked === MESSAGES) done();
      else schedule();
    };
    const feed = () => {
      scheduled = false;
      let chunk = 0;
      while (sent < MESSAGES && sent - acked < IN_FLIGHT && chunk < CHUNK) {
        pipeline.push({ topic: 'events/pub-0', payload: payloads[sent++]!, dup: false, ack });
        chunk++;
      }
      schedule();
    };
    feed();
  });
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - started) / 1000;
  await pipeline.drain();
  await store.close?.();
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
  return { cpu_us_per_msg: (cpu.user + cpu.system) / MESSAGES, msgs_per_s: MESSAGES / seconds };
}

const arms = roots.flatMap((root) =>
  args['sink-thread']
    .split(',')
    .filter((value) => value === 'off' || existsSync(join(root, 'aggregator/sink/sqlite-thread.ts')))
    .map((value) => ({ root, thread: value === 'on', name: `${root} sink-thread ${value}`, cpu: [] as number[], rate: [] as number[] })),
);
for (let round = 0; round < Number(args.rounds); round++) {
  const order = round % 2 === 0 ? arms : [...arms].reverse();
  for (const arm of order) {
    const result = await once(arm.root, arm.thread, round);
    arm.cpu.push(result.cpu_us_per_msg);
    arm.rate.push(result.msgs_per_s);
    console.log(`round ${round + 1} ${arm.name}: ${result.cpu_us_per_msg.toFixed(2)} µs CPU per message, ${result.msgs_per_s.toFixed(0)} msg/s`);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
for (const { name, cpu, rate } of arms) {
  console.log(`RESULT ${name}, dedup ${args.dedup}: median ${median(cpu).toFixed(2)} µs CPU per message [${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)}], ${median(rate).toFixed(0)} msg/s [${Math.min(...rate).toFixed(0)}–${Math.max(...rate).toFixed(0)}]`);
}
process.exit(0);
