// A project command run as a user runs it, for the tests that spawn one: `node --import tsx SCRIPT
// ARGS` from the repository's root, stdin closed, stdout and stderr collected, killed after a
// timeout. One copy for the tests that used to each write their own.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TYPESCRIPT_EXEC_ARGV } from '../engine/typescript-child.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface CommandOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from the spawn to the close. */
  ms: number;
}

export interface CommandOptions {
  /** SIGTERM after this long (default 120 s). */
  timeout_ms?: number;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Told each chunk of stderr as it comes (to act on a line while the command runs). */
  onStderr?: (chunk: string) => void;
  /** Told the command's pid once it is spawned (to watch the process while it runs). */
  onSpawn?: (pid: number) => void;
}

/** Runs a TypeScript entry point of the repository (a path from its root) with args. */
export function runTypeScript(script: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandOutcome> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TYPESCRIPT_EXEC_ARGV, script, ...args], {
      cwd: ROOT,
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeout_ms ?? 120_000,
    });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onStderr?.(chunk);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - started }));
  });
}

/** `chaosbench COMMAND ARGS` (what `npm run COMMAND -- ARGS` runs). */
export function runChaosbench(command: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandOutcome> {
  return runTypeScript('commands/chaosbench.ts', [command, ...args], options);
}
