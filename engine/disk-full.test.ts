// Issue 16, point 1: a disk that fills during a run and is freed later. The run's output directory
// (where the SQLite sink lives) is a small tmpfs of the test's own; 1.5 s into the load a filler file
// takes every free byte, and 2.5 s later it is deleted. The sink's commits and its dead-letter writes
// fail with SQLITE_FULL meanwhile: a fault of the disk, not of any event. The aggregator must stall
// (no ack, retries in the timeline) and commit everything once there is space again: 0 lost, nothing
// dead-lettered. It used to dead-letter the batch event by event, fail the dead-letter write too,
// and leave the batch un-acked on a live connection, which the broker never resends: lost for good.
//
// Needs root for mount(8), as the machines this project runs on give (CI included); never skips.

import { execFileSync } from 'node:child_process';
import { closeSync, openSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from './run.ts';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { nowMicros, sleep } from '../aggregator/clock.ts';
import { expectStalledNotDeadLettered, expectValidApartFromGeneratorLag } from '../test-support/run-expectations.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

const RATE = 200;
/** Where the tmpfs is mounted for a test (unmounted by the test, removed after the file). */
const mountPoint = tempDirs('disk-full');
const FULL_FROM_S = 1.5;
const FULL_S = 2.5;

/** Writes zeros into `path` until the file system has no byte left; returns how many were written. */
function fill(path: string): number {
  const chunk = Buffer.alloc(64 * 1024);
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // The last partial chunk: what is left below 64 KiB, a byte at a time would be slow; 4 KiB pages suffice.
    for (const small = Buffer.alloc(4096); ; ) {
      try {
        written += writeSync(fd, small);
      } catch {
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('the disk under the sink fills during the run and is freed later', () => {
  it('SQLITE_FULL for 2.5 s: nothing acked meanwhile, nothing dead-lettered, nothing lost', async () => {
    const dir = mountPoint();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
    try {
      const scenario: Scenario = structuredClone(dupStorm);
      scenario.phases[0]!.duration_s = 0.5;
      scenario.phases[0]!.rate = 100;
      scenario.phases[1]!.duration_s = 5;
      scenario.phases[1]!.rate = RATE;
      scenario.drain_timeout_s = 20;
      expect(validateScenario(scenario).ok).toBe(true);

      const filler = join(dir, 'filler');
      let fullAt_s = 0;
      let freedAt_s = 0;
      let filled = 0;
      let freeWhileFull = -1;
      const result = await runScenario({
        scenario,
        overrides: {},
        broker: 'embedded',
        out_dir: dir,
        during: async ({ start_us }) => {
          await sleep(Math.max(0, start_us / 1000 + FULL_FROM_S * 1000 - nowMicros() / 1000));
          filled = fill(filler);
          const stats = statfsSync(dir);
          freeWhileFull = stats.bavail * stats.bsize;
          fullAt_s = (nowMicros() - start_us) / 1e6;
          await sleep(FULL_S * 1000);
          unlinkSync(filler);
          freedAt_s = (nowMicros() - start_us) / 1e6;
        },
      });

      // The disk really was full: the filler took what was left.
      expect(filled).toBeGreaterThan(1024 * 1024);
      expect(freeWhileFull).toBe(0);
      // Next to nothing acked while the disk was full, then every event once.
      expectStalledNotDeadLettered(result, 50 + 5 * RATE, { from_s: fullAt_s + 0.5, to_s: freedAt_s, rate: RATE });
      expectValidApartFromGeneratorLag(result);
    } finally {
      execFileSync('umount', ['-l', dir]);
    }
  }, 120_000);
});
