// The registry of live runs: one small JSON file per run in a state directory, written when the run
// starts and removed when it ends, naming what the run put on shared servers (Redis key prefixes,
// PostgreSQL schemas) and the processes it started. A run that was SIGKILLed (or whose machine
// lost power) leaves its file behind; `npm run clean`, and the start of every bench run, find the
// files whose harness is gone (its pid no longer runs, or runs another program: the start time in
// /proc/<pid>/stat differs) and remove what they name: children killed, keys deleted, schemas dropped.
//
// Secrets: a server URL is stored only when it has no password. One with a password is stored
// redacted, with the name of the environment variable that held it (REDIS_URL, DATABASE_URL), so
// that a clean run in the same environment can reach it; without such a variable it cannot be
// cleaned, and clean says so.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { redactPassword } from '../aggregator/redact.ts';
import { deleteKeysWithPrefix } from './broker/redis-keys.ts';
import { dropRunSchema } from './dedup-isolation.ts';
import { isUnselectableDatabase } from '../aggregator/dedup/redis.ts';

export const LIVE_RUN_SCHEMA = 'chaosbench.live-run/v1';

/** A server the run used: its URL, or (it has a password) the URL redacted and the variable that holds it. */
export type ServerPlace = { url: string } | { url_redacted: string; env?: string };

export interface LiveRunChild {
  role: string;
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot): tells the process from a later one with its pid. */
  start_ticks: number | null;
  /** The child leads a process group of its own (an external target): the whole group is killed. */
  group?: boolean;
}

export interface LiveRunRecord {
  schema: typeof LIVE_RUN_SCHEMA;
  run_id: string;
  pid: number;
  start_ticks: number | null;
  started_at: string;
  out_dir: string;
  children: LiveRunChild[];
  redis: (ServerPlace & { key_prefix: string })[];
  postgres: (ServerPlace & { schema: string })[];
}

/** The variables a server URL may come from (the aggregator's and the harness's defaults). */
const URL_VARIABLES = ['REDIS_URL', 'DATABASE_URL'] as const;

/** Where the files are: $CHAOSBENCH_STATE_DIR, else $XDG_STATE_HOME/chaosbench/runs (default ~/.local/state). */
export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CHAOSBENCH_STATE_DIR) return env.CHAOSBENCH_STATE_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'chaosbench', 'runs');
}

/** A URL as the registry may keep it (see the header). */
export function serverPlace(url: string, env: NodeJS.ProcessEnv = process.env): ServerPlace {
  const redacted = redactPassword(url);
  if (redacted === url) return { url };
  const from = URL_VARIABLES.find((name) => env[name] === url);
  return { url_redacted: redacted, ...(from ? { env: from } : {}) };
}

/** The URL to connect to, or why there is none. */
function placeUrl(place: ServerPlace, env: NodeJS.ProcessEnv): { url: string } | { problem: string } {
  if ('url' in place) return { url: place.url };
  const value = place.env ? env[place.env] : undefined;
  if (value !== undefined && redactPassword(value) === place.url_redacted) return { url: value };
  return { problem: `${place.url_redacted}: its password is not stored${place.env ? `; set ${place.env} to it` : ''}` };
}

/** A process's start time from /proc/<pid>/stat (field 22); null when it does not run (or there is no /proc). */
export function startTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return null;
  }
}

/** A process's parent pid and process group from /proc/<pid>/stat (fields 4 and 5); undefined when it does not run. */
function parentAndGroup(pid: number): { ppid: number; pgid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), pgid: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/**
 * The processes that started this one within its own process group (`npm run` → sh → tsx → this),
 * each with its start time. A terminal's job is one process group: an ancestor of it that is gone
 * while this process runs was killed (SIGTERM to npm does not reach the harness: npm exits, its
 * shell dies, and tsx and the harness would run on, orphaned). Empty without /proc.
 */
export function wrapperAncestors(pid = process.pid): { pid: number; start_ticks: number | null }[] {
  const own = parentAndGroup(pid);
  if (!own) return [];
  const chain: { pid: number; start_ticks: number | null }[] = [];
  for (let at = own.ppid, hops = 0; at > 1 && hops < 16; hops++) {
    const next = parentAndGroup(at);
    if (!next || next.pgid !== own.pgid) break;
    chain.push({ pid: at, start_ticks: startTicks(at) });
    at = next.ppid;
  }
  return chain;
}

/** Whether the process recorded with these start ticks still runs (the same process, not a later one with its pid). */
export function stillRuns(pid: number, ticks: number | null): boolean {
  const now = startTicks(pid);
  return now !== null && (ticks === null || now === ticks);
}

/** This process's live runs, for killChildrenNow (a second Ctrl-C). */
const mine = new Set<LiveRun>();

/** One run's file, kept up to date while it runs. */
export class LiveRun {
  readonly path: string;
  readonly record: LiveRunRecord;
  #written = '';
  #warn: ((line: string) => void) | undefined;

  /** warn: told once if the file cannot be written (a read-only home): the run goes on without it. */
  constructor(run: { run_id: string; out_dir: string; started: Date }, warn?: (line: string) => void, dir = registryDir()) {
    this.#warn = warn;
    this.path = join(dir, `${run.run_id}-${process.pid}.json`);
    this.record = {
      schema: LIVE_RUN_SCHEMA,
      run_id: run.run_id,
      pid: process.pid,
      start_ticks: startTicks(process.pid),
      started_at: run.started.toISOString(),
      out_dir: run.out_dir,
      children: [],
      redis: [],
      postgres: [],
    };
    mine.add(this);
    try {
      mkdirSync(dir, { recursive: true });
    } catch {
      // save() says so
    }
    this.save();
  }

  addRedis(url: string, key_prefix: string): void {
    this.record.redis.push({ ...serverPlace(url), key_prefix });
    this.save();
  }

  addPostgres(url: string, schema: string): void {
    if (this.record.postgres.some((p) => p.schema === schema)) return;
    this.record.postgres.push({ ...serverPlace(url), schema });
    this.save();
  }

  /** The run's processes now (a restarted broker or aggregator has a new pid); written only when changed. */
  setChildren(children: readonly { role: string; pid: number | undefined; group?: boolean }[]): void {
    this.record.children = children
      .filter((c): c is { role: string; pid: number; group?: boolean } => c.pid !== undefined)
      .map((c) => ({ role: c.role, pid: c.pid, start_ticks: startTicks(c.pid), ...(c.group ? { group: true } : {}) }));
    this.save();
  }

  /** The run ended and removed what it made: its file goes. */
  close(): void {
    mine.delete(this);
    try {
      rmSync(this.path, { force: true });
    } catch {
      // Never written (save() warned).
    }
  }

  private save(): void {
    const text = `${JSON.stringify(this.record, null, 2)}\n`;
    if (text === this.#written) return;
    // Written whole and renamed: a SIGKILL mid-write never leaves half a file.
    try {
      writeFileSync(`${this.path}.tmp`, text, { mode: 0o600 });
      renameSync(`${this.path}.tmp`, this.path);
      this.#written = text;
    } catch (error) {
      this.#warn?.(`warning: cannot write the registry of live runs (${(error as Error).message}): if this run is killed outright, \`npm run clean\` will not find what it left`);
      this.#warn = undefined;
    }
  }
}

/** SIGKILL every child of this process's live runs (best effort): a second Ctrl-C exits at once, leaving no process behind. */
export function killChildrenNow(): void {
  for (const run of mine) for (const child of run.record.children) killChild(child, 'SIGKILL');
}

function killChild(child: LiveRunChild, signal: NodeJS.Signals): boolean {
  if (!stillRuns(child.pid, child.start_ticks)) return false;
  try {
    process.kill(child.group ? -child.pid : child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The files whose harness no longer runs, with the file each was read from; unreadable files are reported, not removed. */
export function deadRuns(dir = registryDir()): { dead: { path: string; record: LiveRunRecord }[]; unreadable: string[] } {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch {
    return { dead: [], unreadable: [] };
  }
  const dead: { path: string; record: LiveRunRecord }[] = [];
  const unreadable: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const record = JSON.parse(readFileSync(path, 'utf8')) as LiveRunRecord;
      if (record.schema !== LIVE_RUN_SCHEMA) throw new Error('not a live-run file');
      if (!stillRuns(record.pid, record.start_ticks)) dead.push({ path, record });
    } catch {
      unreadable.push(path);
    }
  }
  return { dead, unreadable };
}

export interface CleanOutcome {
  runs: number;
  processes: number;
  keys: number;
  schemas: number;
  /** What could not be removed; those runs' files are kept for the next try. */
  problems: string[];
}

/**
 * Removes what dead runs left: their children (still running, same start time) SIGKILLed, their
 * Redis keys deleted, their schemas dropped, then their files. dry_run: only says what it would do.
 */
export async function cleanDeadRuns(options: { dry_run?: boolean; log: (line: string) => void; dir?: string; env?: NodeJS.ProcessEnv }): Promise<CleanOutcome> {
  const env = options.env ?? process.env;
  const { dead, unreadable } = deadRuns(options.dir);
  const outcome: CleanOutcome = { runs: 0, processes: 0, keys: 0, schemas: 0, problems: unreadable.map((path) => `${path}: not a readable live-run file (left in place)`) };
  const verb = options.dry_run ? 'would remove' : 'removed';
  for (const { path, record } of dead) {
    const problems: string[] = [];
    const what: string[] = [];
    for (const child of record.children) {
      if (!stillRuns(child.pid, child.start_ticks)) continue;
      if (options.dry_run || killChild(child, 'SIGKILL')) {
        outcome.processes++;
        what.push(`${child.role} (pid ${child.pid})`);
      }
    }
    for (const place of record.redis) {
      const target = placeUrl(place, env);
      if ('problem' in target) {
        problems.push(`Redis keys under ${place.key_prefix} on ${target.problem}`);
        continue;
      }
      if (options.dry_run) what.push(`Redis keys under ${place.key_prefix}`);
      else {
        try {
          const n = await deleteKeysWithPrefix(target.url, place.key_prefix);
          outcome.keys += n;
          what.push(`${n} Redis keys under ${place.key_prefix}`);
        } catch (error) {
          const message = redactPassword((error as Error).message);
          // A database the server refuses to select held nothing of the run: it failed at that step.
          if (isUnselectableDatabase(error)) what.push(`no Redis keys (${message.split(':')[0]}: none were written)`);
          else problems.push(`Redis keys under ${place.key_prefix} on ${redactPassword(target.url)}: ${message}`);
        }
      }
    }
    for (const place of record.postgres) {
      const target = placeUrl(place, env);
      if ('problem' in target) {
        problems.push(`schema ${place.schema} on ${target.problem}`);
        continue;
      }
      if (options.dry_run) what.push(`schema ${place.schema}`);
      else {
        try {
          await dropRunSchema(target.url, place.schema);
          outcome.schemas++;
          what.push(`schema ${place.schema}`);
        } catch (error) {
          problems.push(`schema ${place.schema} on ${redactPassword(target.url)}: ${redactPassword((error as Error).message)}`);
        }
      }
    }
    outcome.runs++;
    // What could not be removed is the caller's to say, one line each (CleanOutcome.problems).
    options.log(`clean: run ${record.run_id} (pid ${record.pid}, gone): ${verb} ${what.length > 0 ? what.join(', ') : 'nothing'}${problems.length > 0 ? `; ${problems.length} leftover${problems.length === 1 ? '' : 's'} not removed, the record kept for a later \`npm run clean\`` : ''}`);
    outcome.problems.push(...problems.map((p) => `${record.run_id}: ${p}`));
    if (!options.dry_run && problems.length === 0) rmSync(path, { force: true });
  }
  return outcome;
}
