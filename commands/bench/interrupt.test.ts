// Interrupted runs leave nothing behind (issue 21), against the real services: a bench run with
// the embedded broker's sessions in Redis, Redis dedup claims and a PostgreSQL sink, spawned as a
// user runs it in a process group of its own. Ctrl-C (SIGINT to the whole group, as a terminal
// sends it) and SIGTERM (to the harness alone) end it with exit 130/143, a result.json marked
// interrupted, and no process, Redis key or schema of the run left. A harness SIGKILLed mid-run
// leaves them; `clean` then removes them.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../scenarios/index.ts';
import { runChaosbench } from '../../test-support/run-command.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { groupAfter, groupMembers, leftovers, startCommand, waitUntil, type StartedCommand } from '../../test-support/interrupted-command.ts';
import type { RunResult } from '../../engine/result.ts';

const dirs = tempDirs('interrupt');

interface Started extends StartedCommand {
  dir: string;
  state: string;
}

/** `chaosbench bench` of dup-storm with its broker's sessions in Redis, started in a process group of its own; resolves once it has keys, a schema and children. */
async function startRun(via: 'node' | 'npm' = 'node'): Promise<Started> {
  const dir = dirs();
  const state = join(dir, 'state');
  const scenario = join(dir, 'scenario.json');
  writeFileSync(scenario, JSON.stringify({ ...SCENARIOS['dup-storm'], name: 'interrupt-me', broker: { persistence: 'redis' } }));
  const args = ['--scenario', scenario, '--duration', '60s', '--rate', '200', '--dedup', 'redis', '--sink', 'postgres', '--out', join(dir, 'run')];
  const started = await startCommand('bench', args, { CHAOSBENCH_STATE_DIR: state }, via);
  expect(started.pid, 'the harness process').toBeGreaterThan(0);
  // Under way: committing (dedup keys), broker sessions in Redis, the schema made, three processes at least.
  await waitUntil(started, (left, processes) => left.keys.some((k) => k.startsWith('chaosbench:dedup:')) && left.keys.some((k) => !k.startsWith('chaosbench:dedup:')) && left.schemas.length > 0 && processes.length >= 3);
  const left = await leftovers(started.pid);
  expect(left.schemas, started.stderr()).toHaveLength(1);
  expect(left.keys.length, started.stderr()).toBeGreaterThan(0);
  expect(groupMembers(started.pgid).length, started.stderr()).toBeGreaterThanOrEqual(3);
  return { ...started, dir, state };
}

describe('an interrupted bench run (real Redis, PostgreSQL and embedded broker with Redis persistence)', () => {
  for (const [signal, code, to] of [['SIGINT', 130, 'the whole process group (Ctrl-C)'], ['SIGTERM', 143, 'the harness alone']] as const) {
    it(`${signal} to ${to}: exit ${code}, result.json marked interrupted, and no process, key or schema of the run left`, async () => {
      const run = await startRun();
      process.kill(signal === 'SIGINT' ? -run.pgid : run.pid, signal);
      const outcome = await run.exited;
      expect(await groupAfter(run.pgid), 'processes left').toEqual([]);
      expect(outcome.code, outcome.stderr).toBe(code);
      expect(outcome.stderr).toContain("interrupted: stopping the load, removing the run's keys and schema");
      expect(outcome.stdout).toMatch(new RegExp(`^INTERRUPTED — interrupted by ${signal} at [\\d.]+ s: partial`, 'm'));
      const result = JSON.parse(readFileSync(join(run.dir, 'run', 'result.json'), 'utf8')) as RunResult;
      expect(result.interrupted?.signal).toBe(signal);
      expect(result.interrupted!.at_s).toBeGreaterThan(0);
      expect(result.valid).toBe(false);
      expect(result.invalid_reasons[0]).toMatch(new RegExp(`^interrupted by ${signal} at`));
      expect(result.totals.published).toBeGreaterThan(0);
      expect(readFileSync(join(run.dir, 'run', 'report.md'), 'utf8')).toMatch(/^\*\*INTERRUPTED\*\*/);
      expect(await leftovers(run.pid)).toEqual({ keys: [], schemas: [] });
      // The run removed its own registry file.
      expect(existsSync(run.state) ? readdirSync(run.state) : []).toEqual([]);
    }, 120_000);
  }

  it('SIGTERM to `npm run bench` (npm and its shell die, not tsx or the harness): the run stops as on SIGTERM and leaves nothing', async () => {
    const run = await startRun('npm');
    process.kill(run.pgid, 'SIGTERM');
    await run.exited;
    expect(await groupAfter(run.pgid), 'processes left').toEqual([]);
    const result = JSON.parse(readFileSync(join(run.dir, 'run', 'result.json'), 'utf8')) as RunResult;
    expect(result.interrupted?.signal).toBe('SIGTERM');
    expect(await leftovers(run.pid)).toEqual({ keys: [], schemas: [] });
    expect(existsSync(run.state) ? readdirSync(run.state) : []).toEqual([]);
  }, 120_000);

  it('SIGKILL to the harness leaves keys and schema; clean removes them and any process of the run', async () => {
    const run = await startRun();
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    const left = await leftovers(run.pid);
    expect(left.keys.length).toBeGreaterThan(0);
    expect(left.schemas).toHaveLength(1);
    const dry = await runChaosbench('clean', ['--dry-run'], { env: { CHAOSBENCH_STATE_DIR: run.state } });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would remove`);
    expect((await leftovers(run.pid)).schemas).toHaveLength(1);
    const clean = await runChaosbench('clean', [], { env: { CHAOSBENCH_STATE_DIR: run.state } });
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/clean: 1 dead run: \d+ processes killed, [1-9]\d* Redis keys deleted, 1 schemas dropped/);
    expect(await groupAfter(run.pgid), 'processes left').toEqual([]);
    expect(await leftovers(run.pid)).toEqual({ keys: [], schemas: [] });
    expect(readdirSync(run.state).filter((name) => name.endsWith('.json'))).toEqual([]);
    const again = await runChaosbench('clean', [], { env: { CHAOSBENCH_STATE_DIR: run.state } });
    expect(again.stdout).toContain('clean: no run left anything behind');
  }, 120_000);
});
