// A `chaosbench bench` (or compare, gate) spawned as a user runs it, watched for secrets: while it runs, every
// process's command line on the machine is read every 250 ms (as `ps` reads /proc/PID/cmdline) and
// any that holds one of the secrets is kept; afterwards the caller greps stdout, stderr and every
// file the run wrote (filesUnder). Used by the tests that no password shows anywhere
// (engine/own-broker.test.ts: the broker's; engine/store-secrets.test.ts: the dedup store's and the sink's).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runChaosbench } from './run-command.ts';

export const KILL_AFTER_MS = 120_000;

export interface WatchedOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Times every process's command line was read during the run, and the pids whose command line held a secret. */
  scans: number;
  leaks: string[];
  /** Whether a scan saw the aggregator child's command line: the scans covered the run's processes. */
  saw_aggregator: boolean;
}

/** Every process's command line on the machine, as `ps` reads it. */
function commandLines(): Map<string, string> {
  const lines = new Map<string, string>();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      lines.set(pid, readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return lines;
}

/** Runs `chaosbench bench ARGS` with env added to this process's, watching every command line for the secrets. */
export function watchedBench(args: string[], env: Record<string, string>, secrets: string | readonly string[]): Promise<WatchedOutcome> {
  return watchedCommand('bench', args, env, secrets);
}

/** The same for any command (compare, gate). */
export async function watchedCommand(command: string, args: string[], env: Record<string, string>, secrets: string | readonly string[]): Promise<WatchedOutcome> {
  const watched = typeof secrets === 'string' ? [secrets] : secrets;
  let scans = 0;
  const leaks: string[] = [];
  let sawAggregator = false;
  const scanner = setInterval(() => {
    scans++;
    for (const [pid, line] of commandLines()) {
      if (watched.some((secret) => line.includes(secret))) leaks.push(`${pid}: ${line}`);
      if (line.includes('aggregator/main.ts')) sawAggregator = true;
    }
  }, 250);
  try {
    const { code, stdout, stderr, ms } = await runChaosbench(command, args, { env, timeout_ms: KILL_AFTER_MS });
    return { code, stdout, stderr, ms, scans, leaks, saw_aggregator: sawAggregator };
  } finally {
    clearInterval(scanner);
  }
}

/** Every file under dir, with its text. */
export function filesUnder(dir: string): [string, string][] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [[path, readFileSync(path).toString('latin1')] as [string, string]];
  });
}
