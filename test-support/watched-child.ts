// A server process a test started (nats-server, prometheus): why it exited, if it did, and a stop
// that SIGTERMs it (SIGKILL after a bound), waits for the exit and removes its directory.

import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface WatchedChild {
  /** Why it ended ('exit code 1', 'signal SIGKILL', 'spawn failed: …'); undefined while it runs. */
  exitReason(): string | undefined;
  /** Resolves when it has exited (or could not start). */
  exited: Promise<void>;
  /** SIGTERM, SIGKILL after stop_timeout_ms, then the directory removed. */
  stop(): Promise<void>;
}

export function watchChild(child: ChildProcess, options: { directory: string; stop_timeout_ms: number }): WatchedChild {
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      exit ??= `spawn failed: ${error.message}`;
      resolve();
    });
    child.once('exit', (code, signal) => {
      exit = signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (exit === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), options.stop_timeout_ms);
      await exited;
      clearTimeout(timer);
    }
    rmSync(options.directory, { recursive: true, force: true });
  };
  return { exitReason: () => exit, exited, stop };
}
