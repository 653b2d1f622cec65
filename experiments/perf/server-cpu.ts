// The CPU of the machine's shared servers (Redis, PostgreSQL) during `npm run perf`: a run's cost
// table counts the processes it started, but a dedup store's server shares the same cores and its
// CPU per message is part of what a store costs. Two steps:
//
//   npx tsx experiments/perf/server-cpu.ts sample --out /tmp/servers.jsonl &   # every 1 s, until killed
//   npm run perf -- --out /tmp/perf
//   npx tsx experiments/perf/server-cpu.ts attribute --samples /tmp/servers.jsonl --perf /tmp/perf
//
// `sample` reads utime + stime of every redis-server and postgres process from /proc every second
// (a running total per server; a process that exits loses only what it spent after its last reading);
// `attribute` takes each run of perf.json, its window from result.json (started_at + duration_s),
// and divides each server's CPU seconds inside it by the run's messages (result.json cost.messages),
// then prints per variant and pass the median µs per message. The servers are shared: whatever else
// used them in a window (another session's tests) is in its figure, so read it on a quiet machine.

import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clockTicksPerSecond } from '../../engine/metrics/process-cpu.ts';

const SERVERS: Record<string, RegExp> = { redis: /^redis-server/, postgres: /^postgres/ };

/** Ticks seen per pid at the last reading, and the running total per server (only ever grows). */
const lastSeen = new Map<string, number>();
const totals: Record<string, number> = Object.fromEntries(Object.keys(SERVERS).map((s) => [s, 0]));

/**
 * Each server's CPU ticks so far, summed over its processes as a running total: a process's ticks
 * since the last reading (all of them for one new since), so that a backend that exits (PostgreSQL
 * forks one per connection) takes none away; what it spent after its last reading is missed.
 */
function serverTicks(): Record<string, number> {
  const seen = new Set<string>();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const server = Object.keys(SERVERS).find((s) => SERVERS[s]!.test(comm));
      if (!server) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const key = `${pid}:${fields[19]}`; // pid and start time: a reused pid is another process
      const ticks = Number(fields[11]) + Number(fields[12]);
      totals[server]! += ticks - (lastSeen.get(key) ?? 0);
      lastSeen.set(key, ticks);
      seen.add(key);
    } catch {
      // gone between the listing and the read
    }
  }
  for (const key of lastSeen.keys()) if (!seen.has(key)) lastSeen.delete(key);
  return { ...totals };
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'sample') {
  const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
  if (!values.out) throw new Error('sample needs --out FILE');
  const hz = clockTicksPerSecond();
  setInterval(() => appendFileSync(values.out!, `${JSON.stringify({ t_ms: Date.now(), hz, ticks: serverTicks() })}\n`), 1_000);
} else if (mode === 'attribute') {
  const { values } = parseArgs({ args: rest, options: { samples: { type: 'string' }, perf: { type: 'string' } } });
  if (!values.samples || !values.perf) throw new Error('attribute needs --samples FILE --perf DIR');
  const samples = readFileSync(values.samples, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { t_ms: number; hz: number; ticks: Record<string, number> });
  /** CPU seconds of `server` between two times, interpolated between the readings around them. */
  const at = (server: string, t: number) => {
    const i = samples.findIndex((s) => s.t_ms >= t);
    if (i <= 0) return undefined;
    const a = samples[i - 1]!;
    const b = samples[i]!;
    return (a.ticks[server]! + ((b.ticks[server]! - a.ticks[server]!) * (t - a.t_ms)) / (b.t_ms - a.t_ms)) / a.hz;
  };
  const perf = JSON.parse(readFileSync(join(values.perf, 'perf.json'), 'utf8'));
  const passes: [string, { variant: string; out_dir: string }[]][] = [
    ['capacity', perf.runs],
    ['at capacity share', perf.at_capacity?.runs ?? []],
    ['at one rate', perf.at_rate?.runs ?? []],
  ];
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  console.log(`| pass | variant | ${Object.keys(SERVERS).map((s) => `${s} µs/msg median [min–max]`).join(' | ')} |`);
  console.log(`| --- | --- | ${Object.keys(SERVERS).map(() => '---').join(' | ')} |`);
  for (const [pass, runs] of passes) {
    for (const variant of [...new Set(runs.map((r) => r.variant))]) {
      const cells = Object.keys(SERVERS).map((server) => {
        const values = runs
          .filter((r) => r.variant === variant)
          .flatMap((r) => {
            try {
              const result = JSON.parse(readFileSync(join(r.out_dir, 'result.json'), 'utf8'));
              const start = Date.parse(result.started_at);
              const a = at(server, start);
              const b = at(server, start + result.duration_s * 1000);
              return a === undefined || b === undefined || !result.cost?.messages ? [] : [((b - a) * 1e6) / result.cost.messages];
            } catch {
              return [];
            }
          });
        return values.length === 0 ? '—' : `${median(values).toFixed(1)} [${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}]`;
      });
      console.log(`| ${pass} | ${variant} | ${cells.join(' | ')} |`);
    }
  }
} else {
  console.error('usage: server-cpu.ts sample --out FILE | attribute --samples FILE --perf DIR');
  process.exit(2);
}
