// A short soak in the suite: `bench --scenario soak` for 60 s (1,000 ev/s, 5% duplicates) as a user
// runs it, with the resident memory of each of its processes (the harness, the embedded broker, the
// aggregator) read from /proc every second. After warm-up, the median RSS of the last third of the
// samples must be within 25% and 50 MB of the first third's, for each process. Generous bounds: a
// leak that matters (per event, or per batch) grows far faster at this rate; the figures of the
// hour-long soak are in docs/lab/.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChaosbench } from '../test-support/run-command.ts';
import { CHILD_ROLES, childProcesses, memoryGrowth, rssMb } from '../test-support/process-memory.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

/** CHAOSBENCH_SOAK_S stretches it (the docs' longer figures come from that); the suite runs 60 s. */
const RUN_S = Number(process.env.CHAOSBENCH_SOAK_S ?? 60);
/** Samples before this (start-up, the 2-s warm-up phase, JIT and caches filling) are not compared. */
const WARMUP_S = 20;
/** Nor after this: the drain and the report afterwards are not the steady state. */
const STEADY_END_S = RUN_S + 4;
type Role = 'harness' | keyof typeof CHILD_ROLES;

const newDir = tempDirs('soak-memory');

describe('short soak', () => {
  it(`keeps the harness's, the broker's and the aggregator's memory flat over ${RUN_S} s`, async () => {
    const samples: Record<Role, number[]> = { harness: [], broker: [], aggregator: [] };
    let harness: number | undefined;
    const started = performance.now();
    const sampler = setInterval(() => {
      const at = (performance.now() - started) / 1000;
      if (harness === undefined || at < WARMUP_S || at > STEADY_END_S) return;
      const pids: [Role, number][] = [['harness', harness]];
      for (const child of childProcesses(harness)) {
        const role = (['broker', 'aggregator'] as const).find((name) => CHILD_ROLES[name](child.command));
        if (role) pids.push([role, child.pid]);
      }
      for (const [role, pid] of pids) {
        const mb = rssMb(pid);
        if (mb !== undefined) samples[role].push(mb);
      }
    }, 1_000);
    const outcome = await runChaosbench('bench', ['--scenario', 'soak', '--duration', `${RUN_S}s`, '--rate', '1000', '--out', join(newDir(), 'out')], {
      timeout_ms: (RUN_S + 180) * 1_000,
      onSpawn: (pid) => (harness = pid),
    }).finally(() => clearInterval(sampler));
    const figures = Object.fromEntries((Object.keys(samples) as Role[]).map((role) => [role, memoryGrowth(samples[role])]));
    // One line for the record (docs/testing.md quotes a run of it).
    console.log(`soak RSS MB (first third → last third): ${Object.entries(figures).map(([role, g]) => `${role} ${g.first_mb.toFixed(1)} → ${g.last_mb.toFixed(1)} (${g.samples} samples)`).join(', ')}`);
    for (const [role, growth] of Object.entries(figures)) {
      expect(growth.samples, role).toBeGreaterThanOrEqual(30);
      expect(growth.growth_mb, `${role} RSS growth, MB`).toBeLessThan(50);
      expect(growth.growth_fraction, `${role} RSS growth, fraction`).toBeLessThan(0.25);
    }
    expect(outcome.code, outcome.stderr.slice(-2_000)).toBe(0);
  }, (RUN_S + 240) * 1_000);
});
