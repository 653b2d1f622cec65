// Diagnostic for the soak-memory lab notes, loaded into every Node process of a run:
//   CHAOSBENCH_MEMORY_LOG=/some/dir NODE_OPTIONS="--import $PWD/test-support/memory-log.mjs" npm run bench -- ...
// Each process (harness, embedded broker, aggregator, and the npm and tsx launchers) appends one
// JSON line of process.memoryUsage() and its V8 heap spaces every CHAOSBENCH_MEMORY_LOG_MS (default
// 5,000) to <dir>/<pid>.jsonl, without --expose-gc and without changing the code under test;
// test-support/memory-log-summary.ts summarises the directory. Unset, it does nothing. Plain
// JavaScript so that no loader is needed before it.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';

const dir = process.env.CHAOSBENCH_MEMORY_LOG;
if (dir) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}.jsonl`);
  const started = Date.now();
  const role = process.argv.slice(1).join(' ');
  const sample = () => {
    const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
    appendFileSync(file, `${JSON.stringify({ t_s: (Date.now() - started) / 1000, role, rss, heapTotal, heapUsed, external, arrayBuffers, spaces })}\n`);
  };
  setInterval(sample, Number(process.env.CHAOSBENCH_MEMORY_LOG_MS ?? 5_000)).unref();
}
