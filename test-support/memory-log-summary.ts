// Summarises a CHAOSBENCH_MEMORY_LOG directory (test-support/memory-log.mjs) for the soak-memory
// lab notes: for the harness, the embedded broker and the aggregator, the median of the first and
// of the last third of the samples taken between --from and --to seconds (each process's own clock)
// of RSS, V8 heap used, V8 heap reserved, external + array buffers and RSS outside the V8 heap,
// and the lowest heap used of each third (the live heap).
//   npx tsx test-support/memory-log-summary.ts <dir> [--from 20] [--to 600]

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHILD_ROLES, memoryGrowth } from './process-memory.ts';

interface Sample {
  t_s: number;
  role: string;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const FIGURES: Record<string, (s: Sample) => number> = {
  rss: (s) => s.rss,
  heap_used: (s) => s.heapUsed,
  heap_total: (s) => s.heapTotal,
  external: (s) => s.external + s.arrayBuffers,
  rss_outside_heap: (s) => s.rss - s.heapTotal,
};

/** The harness is the process whose script is chaosbench.ts (npm's and tsx's launchers name it later in argv). */
function roleOf(argv: string): string | undefined {
  const script = argv.split(' ')[0]!;
  if (script.endsWith('commands/chaosbench.ts')) return 'harness';
  return Object.entries(CHILD_ROLES).find(([, matches]) => matches(script))?.[0];
}

function main(args: string[]): number {
  const [dir, ...rest] = args;
  const option = (name: string, fallback: number) => {
    const at = rest.indexOf(name);
    return at < 0 ? fallback : Number(rest[at + 1]);
  };
  const from = option('--from', 20);
  const to = option('--to', Infinity);
  const problem = !dir ? 'a CHAOSBENCH_MEMORY_LOG directory is needed' : !Number.isFinite(from) ? '--from: not a number of seconds' : Number.isNaN(to) ? '--to: not a number of seconds' : undefined;
  if (problem !== undefined) {
    process.stderr.write(`${problem}\nusage: npx tsx test-support/memory-log-summary.ts <dir> [--from s] [--to s]\n`);
    return 2;
  }
  let files: string[];
  try {
    files = readdirSync(dir!).filter((name) => name.endsWith('.jsonl'));
  } catch {
    process.stderr.write(`${dir}: not a readable directory\n`);
    return 2;
  }
  for (const file of files) {
    const all = readFileSync(join(dir!, file), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Sample);
    const role = all[0] && roleOf(all[0].role);
    const samples = all.filter((s) => s.t_s >= from && s.t_s <= to);
    if (!role || samples.length < 6) continue;
    const cells = Object.entries(FIGURES).map(([name, read]) => {
      const { first_mb, last_mb } = memoryGrowth(samples.map((s) => read(s) / 1024 / 1024));
      return `${name} ${first_mb.toFixed(1)} → ${last_mb.toFixed(1)}`;
    });
    // A sample of heap used counts garbage not yet collected; its lowest value in a third (just
    // after a collection) is the live heap.
    const third = Math.floor(samples.length / 3);
    const floor = (part: Sample[]) => (Math.min(...part.map((s) => s.heapUsed)) / 1024 / 1024).toFixed(1);
    cells.push(`live heap (floor of heap used) ${floor(samples.slice(0, third))} → ${floor(samples.slice(-third))}`);
    console.log(`${role} (pid ${file.replace('.jsonl', '')}, ${samples.length} samples, ${samples[0]!.t_s.toFixed(0)}–${samples.at(-1)!.t_s.toFixed(0)} s): ${cells.join(', ')}`);
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
