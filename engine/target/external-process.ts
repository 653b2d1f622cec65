// Your own consumer as a child process (scenario `target`): started from its argv with the contract's
// environment (contract.ts), in a process group of its own so that a SIGKILL reaches whatever it
// starts (npx, a shell, a JVM's children), judged ready by a log line, a TCP port or a delay, stopped
// with its stop signal and SIGKILLed after a grace period. Keeps the tail of its stderr for the
// result and for every error. It reports no counters: nothing the harness judges rests on it.
// Invariant: no process of the group outlives stop(), kill() or the harness's own exit (short of a
// SIGKILL of the harness, which nothing can catch).

import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { sleep } from '../../aggregator/clock.ts';
import type { AggregatorCounters } from '../../aggregator/pipeline.ts';
import type { ScenarioTarget } from '../../scenarios/schema.ts';
import type { TargetRecord } from '../result.ts';
import type { ConsumerProcess } from './interface.ts';

/** How much of its stderr is kept. */
const STDERR_TAIL_CHARS = 4_000;
export const DEFAULT_READY_TIMEOUT_MS = 20_000;
export const DEFAULT_STOP_GRACE_MS = 10_000;

/** An exit nobody asked for (it crashed by itself), seconds since the first start. */
export interface UnexpectedExit {
  at_s: number;
  code: number | null;
  signal: string | null;
}

export class ExternalProcess implements ConsumerProcess {
  restarts = 0;
  readonly claim_order = undefined;
  readonly unexpected_exits: UnexpectedExit[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderr = '';
  private firstStart: number | undefined;

  constructor(
    readonly spec: ScenarioTarget,
    /** The contract's variables (contract.ts), added to the harness's environment and spec.env. */
    private readonly contractEnv: Record<string, string>,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last few thousand characters it wrote to stderr (over every incarnation). */
  stderrTail(): string {
    return this.stderr.slice(-STDERR_TAIL_CHARS);
  }

  async start(): Promise<void> {
    const [program, ...args] = this.spec.command;
    this.firstStart ??= Date.now();
    let child: ChildProcess;
    try {
      child = spawn(program!, args, {
        env: { ...process.env, ...this.spec.env, ...this.contractEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (error) {
      throw new Error(`the target could not be started (${this.spec.command.join(' ')}): ${(error as Error).message}`);
    }
    this.child = child;
    track(child);
    let expected = false;
    const lines: ((line: string) => void)[] = [];
    const listen = (stream: NodeJS.ReadableStream, keep: boolean) => {
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        if (keep) {
          this.stderr += text;
          if (this.stderr.length > 4 * STDERR_TAIL_CHARS) this.stderr = this.stderr.slice(-STDERR_TAIL_CHARS);
        }
        const parts = (partial + text).split('\n');
        partial = parts.pop()!;
        for (const line of parts) for (const listener of lines) listener(line);
      });
    };
    listen(child.stdout!, false);
    listen(child.stderr!, true);
    const exit = new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    this.exited = exit.then((how) => {
      if (!expected && !how.error) this.unexpected_exits.push({ at_s: Math.round((Date.now() - this.firstStart!) / 100) / 10, code: how.code, signal: how.signal });
      // Whatever it started goes with it.
      killGroup(child, 'SIGKILL');
      untrack(child);
    });
    this.expectExit = () => {
      expected = true;
    };

    const timeoutMs = this.spec.ready_timeout_ms ?? DEFAULT_READY_TIMEOUT_MS;
    const ready = this.spec.ready;
    let done = false;
    const waitReady: Promise<void> =
      'log_line' in ready
        ? new Promise((resolve) => {
            const pattern = new RegExp(ready.log_line);
            lines.push((line) => {
              if (pattern.test(line)) resolve();
            });
          })
        : 'tcp_port' in ready
          ? (async () => {
              while (!done && !(await portOpen(ready.tcp_port))) await sleep(100);
            })()
          : sleep(ready.delay_ms);
    let timer: NodeJS.Timeout | undefined;
    const failure = await Promise.race([
      waitReady.then(() => undefined),
      exit.then((how) =>
        how.error
          ? `could not be started (${this.spec.command.join(' ')}): ${how.error.message}`
          : `exited (${how.signal ?? `code ${how.code}`}) before it was ready`,
      ),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`was not ready within ${timeoutMs} ms (target.ready ${JSON.stringify(ready)})`), timeoutMs);
      }),
    ]);
    done = true;
    clearTimeout(timer);
    if (failure !== undefined) {
      expected = true;
      killGroup(child, 'SIGKILL');
      await this.exited;
      const tail = this.stderrTail().trim();
      throw new Error(`the target ${failure}${tail ? `; its stderr ended with:\n${tail}` : ' (it wrote nothing to stderr)'}`);
    }
  }

  private expectExit: () => void = () => {};

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectExit();
    killGroup(child, this.spec.stop_signal ?? 'SIGTERM');
    const grace = this.spec.stop_grace_ms ?? DEFAULT_STOP_GRACE_MS;
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), grace);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectExit();
    killGroup(child, 'SIGKILL');
    await this.exited;
  }

  /** What result.json records of it: argv, its env's names (values may be secrets), how its sink was read, restarts, exits, stderr's tail. */
  record(measuresLatency: boolean): TargetRecord {
    return {
      command: this.spec.command,
      env_names: Object.keys(this.spec.env ?? {}),
      sink: this.spec.sink.kind,
      commit_time: measuresLatency,
      restarts: this.restarts,
      unexpected_exits: this.unexpected_exits,
      stderr_tail: this.stderrTail(),
    };
  }

  totalCounters(): AggregatorCounters | undefined {
    return undefined;
  }

  onCounters(): () => void {
    return () => {};
  }
}

/**
 * Live targets' process groups. A detached group does not get the terminal's Ctrl-C, so if the
 * harness exits (normally, by process.exit, or by SIGINT/SIGTERM/SIGHUP) while one runs, it is
 * SIGKILLed here, and a signal is then raised again so the harness dies of it as it would have
 * (unless the command handles the signal itself: bench stops the run in order).
 */
const liveGroups = new Set<ChildProcess>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const onSignal = (signal: NodeJS.Signals) => {
  // A command that handles the signal itself (bench: stop the load, then the target, in order) keeps it.
  if (process.listenerCount(signal) > 1) return;
  killLiveGroups();
  for (const name of SIGNALS) process.off(name, onSignal);
  process.kill(process.pid, signal);
};
function killLiveGroups(): void {
  for (const child of liveGroups) killGroup(child, 'SIGKILL');
}
function track(child: ChildProcess): void {
  if (liveGroups.size === 0) {
    process.on('exit', killLiveGroups);
    for (const name of SIGNALS) process.on(name, onSignal);
  }
  liveGroups.add(child);
}
function untrack(child: ChildProcess): void {
  liveGroups.delete(child);
  if (liveGroups.size === 0) {
    process.off('exit', killLiveGroups);
    for (const name of SIGNALS) process.off(name, onSignal);
  }
}

/** Signals the child's whole process group (it was started detached, as the group's leader). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
