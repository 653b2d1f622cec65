// Interrupted runs leave nothing behind (issue 21), against the real services: a bench run with
// the embedded broker's sessions in Redis, Redis dedup claims and a PostgreSQL sink, spawned as a
// user runs it in a process group of its own. Ctrl-C (SIGINT to the whole group, as a terminal
// sends it) and SIGTERM (to the harness alone) end it with exit 130/143, a result.json marked
// interrupted, and no process, Redis key or schema of the run left. A harness SIGKILLed mid-run
// leaves them; `clean` then removes them.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../scenarios/index.ts';
import { TYPESCRIPT_EXEC_ARGV } from '../../engine/typescript-child.ts';
import { runChaosbench } from '../../test-support/run-command.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import type { RunResult } from '../../engine/result.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379';
const dirs = tempDirs('interrupt');
const redis = new Redis(REDIS_URL, { lazyConnect: true });
afterAll(() => redis.disconnect());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Processes whose process group is pgid, from /proc (field 5 of /proc/<pid>/stat). */
function groupMembers(pgid: number): { pid: number; command: string }[] {
  const members: { pid: number; command: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) members.push({ pid: Number(name), command: readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

/** What the run left on the servers: its keys (named after its tag, which ends in the harness's pid) and its schemas. */
async function leftovers(pid: number): Promise<{ keys: string[]; schemas: string[] }> {
  const keys = [...(await redis.keys(`chaosbench:*-${pid}:*`)), ...(await redis.keys(`chaosbench:dedup:chaosbench-agg-*-${pid}:*`))];
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const rows = (await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [`chaosbench_run_%_${pid}`])).rows;
    return { keys, schemas: rows.map((r) => r.nspname) };
  } finally {
    await client.end();
  }
}

interface Started {
  /** The harness process. */
  pid: number;
  /** The process group: the spawned process's pid. */
  pgid: number;
  dir: string;
  state: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** `chaosbench bench` of dup-storm with its broker's sessions in Redis, started in a process group of its own; resolves once it has keys, a schema and children. */
async function startRun(via: 'node' | 'npm' = 'node'): Promise<Started> {
  await redis.connect().catch(() => {});
  const dir = dirs();
  const state = join(dir, 'state');
  const scenario = join(dir, 'scenario.json');
  writeFileSync(scenario, JSON.stringify({ ...SCENARIOS['dup-storm'], name: 'interrupt-me', broker: { persistence: 'redis' } }));
  const args = ['--scenario', scenario, '--duration', '60s', '--rate', '200', '--dedup', 'redis', '--sink', 'postgres', '--out', join(dir, 'run')];
  // As a user runs it: node with the loader (as the bin does), or `npm run bench` (npm → sh → tsx → the harness).
  const child = spawn(
    via === 'node' ? process.execPath : 'npm',
    via === 'node' ? [...TYPESCRIPT_EXEC_ARGV, 'commands/chaosbench.ts', 'bench', ...args] : ['run', '--silent', 'bench', '--', ...args],
    { cwd: ROOT, env: { ...process.env, CHAOSBENCH_STATE_DIR: state, DATABASE_URL, REDIS_URL }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const pgid = child.pid!;
  // The harness: the group's process that runs commands/chaosbench.ts under node itself (not tsx's CLI).
  let pid = via === 'node' ? pgid : 0;
  for (let waited = 0; pid === 0 && waited < 30_000; waited += 200) {
    pid = groupMembers(pgid).find((p) => p.command.includes('--import') && p.command.includes('commands/chaosbench.ts bench'))?.pid ?? 0;
    if (pid === 0) await sleep(200);
  }
  expect(pid, 'the harness process').toBeGreaterThan(0);
  // Under way: committing (dedup keys), broker sessions in Redis, the schema made, three processes at least.
  for (let waited = 0; waited < 60_000; waited += 250) {
    const left = await leftovers(pid);
    if (left.keys.some((k) => k.startsWith('chaosbench:dedup:')) && left.keys.some((k) => !k.startsWith('chaosbench:dedup:')) && left.schemas.length > 0 && groupMembers(pgid).length >= 3) break;
    await sleep(250);
  }
  const left = await leftovers(pid);
  expect(left.schemas, stderr).toHaveLength(1);
  expect(left.keys.length, stderr).toBeGreaterThan(0);
  expect(groupMembers(pgid).length, stderr).toBeGreaterThanOrEqual(3);
  return { pid, pgid, dir, state, exited };
}

/** Waits (at most 20 s) until the group has no process; SIGKILLs what is left then, so a failing test leaves nothing either. */
async function groupAfter(pgid: number): Promise<{ pid: number; command: string }[]> {
  let members = groupMembers(pgid);
  for (let waited = 0; members.length > 0 && waited < 20_000; waited += 200) {
    await sleep(200);
    members = groupMembers(pgid);
  }
  for (const p of members) process.kill(p.pid, 'SIGKILL');
  return members;
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
