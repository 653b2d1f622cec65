// The load generator's own CPU per published message, and the rate it sustains, against a broker
// and subscriber that cost it nothing: a private Mosquitto on a free port and mosquitto_sub (both
// separate processes), so everything this process spends is the generator's (main thread + load
// workers). Drives engine/load/generator.ts runLoad, the generator of every run, on an open-model
// schedule; the aggregator and the ledger are left out (see the lab note for what they cost).
//
//   npx tsx experiments/perf/generator-cost.ts [--rate 10000] [--seconds 10] [--replicates 3]
//       [--dup 0.3] [--workers 1] [--publishers 4] [--root DIR,DIR...] [--capacity] [--cpu-prof DIR]
//
// --root: repository roots whose engine/load/generator.ts to measure, interleaved per replicate
// (e.g. a git worktree of the commit before, and this one); DIR@MS runs that root with
// load.wake_interval_ms MS (e.g. --root .@1,.@4: the default interval against 4 ms). CPU is read from /proc/self/stat
// (utime + stime of every thread, dead or alive) from the moment the workers are started until
// runLoad returns, minus nothing: worker start-up (loading the modules) happens before.
// Each run also prints the load workers' wake-ups per second and messages per wake-up (a checkout
// that counts them), and the RESULT line the load worker thread's kernel (system) share.
// --capacity: instead of one rate, step the rate up (×1.25 from --rate) until the generator
// no longer keeps it (offered < 95% of target, or generator lag p99 > 100 ms); prints the last kept.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startMosquitto, type MosquittoBroker } from '../../engine/broker/mosquitto.ts';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '10' },
    replicates: { type: 'string', default: '3' },
    dup: { type: 'string', default: '0.3' },
    workers: { type: 'string', default: '1' },
    publishers: { type: 'string', default: '4' },
    root: { type: 'string', default: '.' },
    capacity: { type: 'boolean', default: false },
    broker: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});

const CLK_TCK = 100;
/** utime + stime (µs) of this process (all threads, including those that have exited) or of one thread. */
function cpuMicros(path = '/proc/self/stat', which: 'both' | 'system' = 'both'): number {
  const text = readFileSync(path, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((which === 'system' ? 0 : Number(fields[11])) + Number(fields[12])) * 1e6 / CLK_TCK;
}
/** CPU (µs) of each live thread of this process, by "tid name". */
function threadMicros(which: 'both' | 'system' = 'both'): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = tid === String(process.pid) ? 'main' : `${readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()}#${tid}`;
      out.set(`${tid} ${name}`, cpuMicros(`/proc/self/task/${tid}/stat`, which));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const children: ChildProcess[] = [];
let mosquitto: MosquittoBroker | undefined;

function subscriber(url: string, topic: string): ChildProcess {
  const u = new URL(url);
  const sub = spawn('mosquitto_sub', ['-h', u.hostname, '-p', u.port, '-q', '1', '-t', topic], { stdio: ['ignore', 'ignore', 'ignore'] });
  children.push(sub);
  return sub;
}

interface Outcome {
  root: string;
  rate: number;
  messages: number;
  cpu_us: number;
  us_per_msg: number;
  /** Of us_per_msg, the kernel's share (system time: socket writes and reads). */
  sys_us_per_msg: number;
  offered: number;
  lag_p99_ms: number;
  /** Publish → PUBACK latency of the whole run (the broker's, with the generator's reading of it), ms. */
  ack_p50_ms: number;
  ack_p99_ms: number;
  dropped: number;
  /** The load workers' wake-ups in the steady phase (undefined: a checkout that does not count them). */
  wake_ups: number | undefined;
  /** Each thread's CPU over the steady phase (a load worker's up to its last sample, a second before it ended at most), largest first. */
  threads_us: [string, number][];
  /** Of each thread's CPU, the kernel's (system time), by the same names. */
  threads_sys_us: Map<string, number>;
}

async function once(spec: string, url: string, rate: number, seconds: number, tag: string): Promise<Outcome> {
  const [root, wake] = spec.split('@') as [string, string | undefined];
  const { runLoad } = (await import(pathToFileURL(resolve(root, 'engine/load/generator.ts')).href)) as typeof import('../../engine/load/generator.ts');
  const { DEFAULT_AGGREGATOR, DEFAULT_LOAD } = (await import(pathToFileURL(resolve(root, 'scenarios/defaults.ts')).href)) as typeof import('../../scenarios/defaults.ts');
  const dup = Number(args.dup);
  const scenario = {
    name: 'generator-cost',
    description: 'generator cost',
    seed: 1,
    load: { ...DEFAULT_LOAD, publishers: Number(args.publishers), workers: Number(args.workers), ...(wake === undefined ? {} : { wake_interval_ms: Number(wake) }) },
    phases: [
      { name: 'warmup', duration_s: 1, rate: Math.min(rate, 2_000), faults: [] },
      {
        name: 'steady',
        duration_s: seconds,
        rate,
        faults: dup > 0 ? [{ kind: 'duplicate' as const, fraction: dup, immediate_share: 0.5, delay_ms: 500, other_connection_share: 0.5 }] : [],
      },
    ],
    aggregator: { ...DEFAULT_AGGREGATOR },
    drain_timeout_s: 5,
    checks: [],
  };
  const topic_root = `gencost/${tag}`;
  const sub = subscriber(url, `${topic_root}/#`);
  await new Promise((r) => setTimeout(r, 200));
  let cpuStart = 0;
  let threadsStart = new Map<string, number>();
  let steadyStartCpu = 0;
  let steadyStartSys = 0;
  // Threads are sampled every second: a load worker's thread has exited by the time runLoad returns,
  // so its last sample stands for its end (at most a second of it is missed: the total is exact).
  const lastSeen = new Map<string, number>();
  const lastSeenSys = new Map<string, number>();
  let threadsStartSys = new Map<string, number>();
  const sample = () => {
    for (const [tid, us] of threadMicros()) lastSeen.set(tid, us);
    for (const [tid, us] of threadMicros('system')) lastSeenSys.set(tid, us);
  };
  const sampler = setInterval(sample, 1_000);
  const outcome = await runLoad({
    scenario,
    broker_url: url,
    topic_root,
    client_prefix: `gencost-${tag}`,
    settle_timeout_ms: 5_000,
    ...(args['cpu-prof'] ? { cpu_prof_dir: resolve(args['cpu-prof'], tag) } : {}),
    onStarted: (start_us) => {
      cpuStart = cpuMicros();
      threadsStart = threadMicros();
      // The warm-up phase (1 s) is left out: read the CPU again when the steady phase starts.
      setTimeout(() => {
        steadyStartCpu = cpuMicros();
        steadyStartSys = cpuMicros('/proc/self/stat', 'system');
        threadsStart = threadMicros();
        threadsStartSys = threadMicros('system');
      }, (start_us - Date.now() * 1000) / 1000 + 1_000).unref();
    },
  });
  const cpuEnd = cpuMicros();
  const sysEnd = cpuMicros('/proc/self/stat', 'system');
  clearInterval(sampler);
  sample();
  const threadsEnd = lastSeen;
  sub.kill();
  void cpuStart;
  const steady = outcome.phases[1]!;
  const copies = outcome.log.counters.copies_sent;
  // Messages of the steady phase: its events handed off plus the copies (all copies: the warm-up has none).
  const messages = steady.handed_off + copies;
  const cpu_us = cpuEnd - steadyStartCpu;
  const threads_us = [...threadsEnd].map(([tid, end]): [string, number] => [tid, end - (threadsStart.get(tid) ?? 0)]).filter(([, t]) => t > 0).sort((a, b) => b[1] - a[1]);
  return {
    root,
    rate,
    messages,
    cpu_us,
    us_per_msg: cpu_us / messages,
    sys_us_per_msg: (sysEnd - steadyStartSys) / messages,
    offered: steady.handed_off / (steady.scheduled || 1),
    lag_p99_ms: steady.lag.valueAtPercentile(99) / 1000,
    ack_p50_ms: outcome.publish_ack.valueAtPercentile(50) / 1000,
    ack_p99_ms: outcome.publish_ack.valueAtPercentile(99) / 1000,
    dropped: steady.dropped_late + steady.dropped_window,
    wake_ups: (steady as { wake_ups?: number }).wake_ups,
    threads_us,
    threads_sys_us: new Map([...lastSeenSys].map(([tid, end]) => [tid, end - (threadsStartSys.get(tid) ?? 0)])),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  mosquitto = args.broker === undefined ? await startMosquitto({ maxQueuedMessages: 0, maxInflightMessages: 0 }) : undefined;
  const url = args.broker ?? mosquitto!.url;
  const roots = args.root.split(',');
  const seconds = Number(args.seconds);
  let n = 0;
  if (args.capacity) {
    for (const root of roots) {
      let rate = Number(args.rate);
      let kept = 0;
      for (let step = 0; step < 12; step++) {
        const o = await once(root, url, rate, seconds, `c${n++}`);
        const ok = o.offered >= 0.95 && o.lag_p99_ms <= 100 && o.dropped === 0;
        console.log(`${root} rate ${rate}: offered ${(o.offered * 100).toFixed(1)}% lag p99 ${o.lag_p99_ms.toFixed(1)} ms dropped ${o.dropped} ${o.us_per_msg.toFixed(1)} µs/msg ${ok ? 'kept' : 'NOT kept'}`);
        if (!ok) break;
        kept = rate;
        rate = Math.round(rate * 1.25);
      }
      console.log(`CAPACITY ${root}: ${kept} ev/s (+${args.dup} copies)`);
    }
    return;
  }
  const results = new Map<string, Outcome[]>(roots.map((r) => [r, []]));
  for (let r = 0; r < Number(args.replicates); r++) {
    for (const root of roots) {
      const o = await once(root, url, Number(args.rate), seconds, `r${n++}`);
      results.get(root)!.push(o);
      console.log(
        `${root} #${r}: ${o.messages} msgs, ${(o.cpu_us / 1e6).toFixed(2)} s CPU, ${o.us_per_msg.toFixed(2)} µs/msg (system ${o.sys_us_per_msg.toFixed(2)}), offered ${(o.offered * 100).toFixed(1)}%, lag p99 ${o.lag_p99_ms.toFixed(1)} ms, publish→PUBACK p50 ${o.ack_p50_ms.toFixed(2)} p99 ${o.ack_p99_ms.toFixed(2)} ms, ${o.wake_ups === undefined ? 'wake-ups not counted' : `${Math.round(o.wake_ups / seconds)} wake-ups/s, ${(o.messages / o.wake_ups).toFixed(1)} msgs/wake-up`}, threads µs/msg ${o.threads_us
          .slice(0, 8)
          .map(([name, t]) => `${name.split(' ').slice(1).join(' ')} ${(t / o.messages).toFixed(1)}`)
          .join(', ')}`,
      );
    }
  }
  for (const [root, os] of results) {
    const us = os.map((o) => o.us_per_msg);
    const range = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`;
    // The load workers' threads (named like the worker: libuv and V8 helper threads are "node" too, so by the largest share) and the main thread.
    const worker = os.map((o) => (o.threads_us.find(([name]) => !name.endsWith(' main'))?.[1] ?? 0) / o.messages);
    const workerSys = os.map((o) => (o.threads_sys_us.get(o.threads_us.find(([name]) => !name.endsWith(' main'))?.[0] ?? '') ?? 0) / o.messages);
    const perWake = os.filter((o) => o.wake_ups !== undefined).map((o) => o.messages / o.wake_ups!);
    const main = os.map((o) => (o.threads_us.find(([name]) => name.endsWith(' main'))?.[1] ?? 0) / o.messages);
    console.log(
      `RESULT ${root}: median ${range(us, 2)} µs/msg (all threads) at ${args.rate} ev/s + ${args.dup} copies, ${os.length} replicates; ` +
        `load worker thread ${range(worker, 1)} (kernel ${range(workerSys, 1)}), main thread ${range(main, 1)}; lag p99 ${range(os.map((o) => o.lag_p99_ms), 1)} ms; ` +
        `publish→PUBACK p50 ${range(os.map((o) => o.ack_p50_ms), 2)} ms, p99 ${range(os.map((o) => o.ack_p99_ms), 2)} ms` +
        (perWake.length > 0 ? `; messages per wake-up ${range(perWake, 1)}` : ''),
    );
  }
}

try {
  await main();
} finally {
  for (const child of children) child.kill();
  await mosquitto?.stop();
}
