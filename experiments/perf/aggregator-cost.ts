// The reference aggregator's CPU per message, measured like the generator's
// (experiments/perf/generator-cost.ts): a real `bench` run against a private Mosquitto on a free
// port, the aggregator process's utime + stime read from /proc/<pid>/stat every 200 ms (its last
// reading before it exits stands for its end), divided by the messages it was delivered (events
// handed off + copies acked by the broker, from result.json). Start-up is included (a few hundred
// ms of module loading): run long enough for it not to matter.
//
//   npx tsx experiments/perf/aggregator-cost.ts [--rate 5000] [--duration 20s] [--dedup memory] [--replicates 3]

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startMosquitto } from '../../engine/broker/mosquitto.ts';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '5000' },
    duration: { type: 'string', default: '20s' },
    dedup: { type: 'string', default: 'memory' },
    replicates: { type: 'string', default: '3' },
  },
});
const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const AGGREGATOR_MAIN = join(ROOT, 'aggregator/main.ts');
const CLK_TCK = 100;

function cpuOf(pid: string): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Processes whose command line runs this clone's aggregator/main.ts. */
function aggregatorPids(): string[] {
  const pids: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(AGGREGATOR_MAIN)) pids.push(pid);
    } catch {
      // gone
    }
  }
  return pids;
}

const broker = await startMosquitto({ maxQueuedMessages: 0, maxInflightMessages: 0 });
try {
  const perMsg: number[] = [];
  for (let r = 0; r < Number(args.replicates); r++) {
    const out = mkdtempSync(join(tmpdir(), 'aggcost-'));
    const child = spawn('npx', ['tsx', 'commands/chaosbench.ts', 'bench', '--scenario', 'dup-storm', '--broker', broker.url, '--dedup', args.dedup, '--rate', args.rate, '--duration', args.duration, '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    const last = new Map<string, number>();
    const poll = setInterval(() => {
      for (const pid of aggregatorPids()) {
        const us = cpuOf(pid);
        if (us !== undefined) last.set(pid, us);
      }
    }, 200);
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    clearInterval(poll);
    const resultPath = readdirSync(out, { recursive: true }).map(String).find((f) => f.endsWith('result.json'));
    if (!resultPath) throw new Error(`bench exited ${code} without a result.json in ${out}`);
    const result = JSON.parse(readFileSync(join(out, resultPath), 'utf8'));
    const messages = result.totals.published + (result.totals.copies_acked ?? 0);
    const cpu = [...last.values()].reduce((a, b) => a + b, 0);
    perMsg.push(cpu / messages);
    console.log(`#${r}: exit ${code}, ${messages} messages, aggregator ${(cpu / 1e6).toFixed(2)} s CPU (${last.size} process), ${(cpu / messages).toFixed(2)} µs/msg, valid ${result.valid}`);
  }
  perMsg.sort((a, b) => a - b);
  console.log(`RESULT aggregator (${args.dedup}): median ${perMsg[Math.floor(perMsg.length / 2)]!.toFixed(2)} µs/msg [${perMsg[0]!.toFixed(2)}–${perMsg[perMsg.length - 1]!.toFixed(2)}] at ${args.rate} ev/s dup-storm`);
} finally {
  await broker.stop();
}
