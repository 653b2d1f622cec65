// A command that makes runs (bench, compare, gate, perf, theory), spawned as a user runs it in a
// process group of its own, to be interrupted mid-way; and what a run of it leaves on the shared
// servers and in the process table afterwards. For the tests that an interrupted command leaves
// nothing behind (commands/bench/interrupt.test.ts, commands/campaign/interrupt.test.ts).

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { TYPESCRIPT_EXEC_ARGV } from '../engine/typescript-child.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Processes whose process group is pgid, from /proc (field 5 of /proc/<pid>/stat). */
export function groupMembers(pgid: number): { pid: number; command: string }[] {
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

/** Waits (at most 20 s) until the group has no process; SIGKILLs what is left then, so a failing test leaves nothing either. */
export async function groupAfter(pgid: number): Promise<{ pid: number; command: string }[]> {
  let members = groupMembers(pgid);
  for (let waited = 0; members.length > 0 && waited < 20_000; waited += 200) {
    await sleep(200);
    members = groupMembers(pgid);
  }
  for (const p of members) process.kill(p.pid, 'SIGKILL');
  return members;
}

/**
 * What the runs of harness process `pid` left on the servers: their Redis keys (the broker's and the
 * dedup store's, named after the run's tag, which ends in the harness's pid) and their schemas.
 */
export async function leftovers(pid: number): Promise<{ keys: string[]; schemas: string[] }> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const client = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await redis.connect();
    const keys = [...(await redis.keys(`chaosbench:*-${pid}:*`)), ...(await redis.keys(`chaosbench:dedup:chaosbench-agg-*-${pid}:*`))];
    await client.connect();
    const rows = (await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [`chaosbench_run_%_${pid}`])).rows;
    return { keys: [...new Set(keys)], schemas: rows.map((r) => r.nspname) };
  } finally {
    redis.disconnect();
    await client.end().catch(() => {});
  }
}

export interface StartedCommand {
  /** The harness process (node running commands/chaosbench.ts). */
  pid: number;
  /** Its process group: the spawned process's pid. */
  pgid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** stderr so far. */
  stderr: () => string;
  /** Whether it has exited. */
  gone: () => boolean;
}

/**
 * `chaosbench COMMAND ARGS` in a process group of its own, as a terminal runs it: with node and the
 * loader (as the bin does), or through `npm run COMMAND` (npm → sh → tsx → the harness).
 */
export async function startCommand(command: string, args: readonly string[], env: Record<string, string>, via: 'node' | 'npm' = 'node'): Promise<StartedCommand> {
  const child = spawn(
    via === 'node' ? process.execPath : 'npm',
    via === 'node' ? [...TYPESCRIPT_EXEC_ARGV, 'commands/chaosbench.ts', command, ...args] : ['run', '--silent', command, '--', ...args],
    { cwd: ROOT, env: { ...process.env, DATABASE_URL, REDIS_URL, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => {
      gone = true;
      resolve({ code, signal, stdout, stderr });
    }),
  );
  const pgid = child.pid!;
  // The harness: the group's process that runs commands/chaosbench.ts under node itself (not tsx's CLI).
  let pid = via === 'node' ? pgid : 0;
  for (let waited = 0; pid === 0 && !gone && waited < 30_000; waited += 200) {
    pid = groupMembers(pgid).find((p) => p.command.includes('--import') && p.command.includes(`commands/chaosbench.ts ${command}`))?.pid ?? 0;
    if (pid === 0) await sleep(200);
  }
  return { pid, pgid, exited, stderr: () => stderr, gone: () => gone };
}

/** Waits (at most 60 s, and no longer than the command runs) until `ready` holds of the command's leftovers and the processes of its group. */
export async function waitUntil(started: StartedCommand, ready: (left: { keys: string[]; schemas: string[] }, processes: { pid: number; command: string }[]) => boolean): Promise<void> {
  for (let waited = 0; waited < 60_000 && !started.gone(); waited += 250) {
    if (ready(await leftovers(started.pid), groupMembers(started.pgid))) return;
    await sleep(250);
  }
}
