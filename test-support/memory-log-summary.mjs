// Summarises a CHAOSBENCH_MEMORY_LOG directory (test-support/memory-log.mjs): for the harness, the
// embedded broker and the aggregator, the median of the first and of the last third of the samples
// taken between --from and --to seconds (of each process's own clock), for RSS, V8 heap used, heap
// reserved, external + array buffers, and RSS outside the V8 heap; and RSS's least-squares slope.
//   node test-support/memory-log-summary.mjs <dir> [--from 20] [--to 600]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, ...rest] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: node test-support/memory-log-summary.mjs <dir> [--from s] [--to s]\n');
  process.exit(2);
}
const option = (name, fallback) => {
  const at = rest.indexOf(name);
  return at < 0 ? fallback : Number(rest[at + 1]);
};
const from = option('--from', 20);
const to = option('--to', Infinity);
const ROLES = [
  ['harness', (role) => role.startsWith('/') && role.includes('commands/chaosbench.ts') && !role.includes('.bin/tsx')],
  ['broker', (role) => role.includes('embedded-process.ts')],
  ['aggregator', (role) => role.includes('aggregator/main.ts')],
];
const MB = 1024 * 1024;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const FIGURES = {
  rss: (s) => s.rss,
  heap_used: (s) => s.heapUsed,
  heap_total: (s) => s.heapTotal,
  external: (s) => s.external + s.arrayBuffers,
  rss_outside_heap: (s) => s.rss - s.heapTotal,
};
const slopePerMin = (samples) => {
  const n = samples.length;
  const mx = samples.reduce((a, s) => a + s.t_s, 0) / n;
  const my = samples.reduce((a, s) => a + s.rss, 0) / n;
  const num = samples.reduce((a, s) => a + (s.t_s - mx) * (s.rss - my), 0);
  const den = samples.reduce((a, s) => a + (s.t_s - mx) ** 2, 0);
  return ((num / den) * 60) / MB;
};
for (const file of readdirSync(dir).filter((name) => name.endsWith('.jsonl'))) {
  const all = readFileSync(join(dir, file), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  const role = ROLES.find(([, match]) => match(all[0].role))?.[0];
  if (!role) continue;
  const samples = all.filter((s) => s.t_s >= from && s.t_s <= to);
  if (samples.length < 6) continue;
  const third = Math.floor(samples.length / 3);
  const cells = Object.entries(FIGURES).map(([name, read]) => {
    const first = median(samples.slice(0, third).map(read)) / MB;
    const last = median(samples.slice(-third).map(read)) / MB;
    return `${name} ${first.toFixed(1)} → ${last.toFixed(1)}`;
  });
  console.log(`${role} (pid ${file.replace('.jsonl', '')}, ${samples.length} samples, ${samples[0].t_s.toFixed(0)}–${samples.at(-1).t_s.toFixed(0)} s): ${cells.join(', ')}; rss slope ${slopePerMin(samples).toFixed(2)} MB/min`);
}
