// SIGINT (Ctrl-C) and SIGTERM for every command, one rule: a command that makes runs (bench, compare,
// gate, perf, theory) stops them gracefully on the first signal — the load ends, each run removes its
// keys and schema (engine/run.ts RunOptions.signal) — then writes nothing more than what is whole and
// exits 130/143 with one line; a second signal, or a signal to a command that runs nothing (report,
// merge, audit, k6:export, clean), exits at once with one line: every file is written whole or not at
// all (cli/output.ts), so nothing is left half-written, and the live runs' children are SIGKILLed
// (what they left on the servers stays in the registry of live runs for `npm run clean`).

import { EXIT, EXIT_OF_SIGNAL } from './exit.ts';
import { killChildrenNow, stillRuns, wrapperAncestors } from '../engine/run-registry.ts';

/** The interrupts every command watches for: Ctrl-C (SIGINT to the terminal's whole process group) and SIGTERM. */
const INTERRUPTS = ['SIGINT', 'SIGTERM'] as const;
/** How often a graceful stop checks that the processes that started this one (npm, its shell, tsx) still run. */
const WRAPPER_CHECK_MS = 500;

/** The exit code of an interrupt by its signal's name (an AbortSignal's reason): 130 SIGINT, 143 SIGTERM. */
export function exitOfInterrupt(signal: AbortSignal | string): number {
  const name = typeof signal === 'string' ? signal : String(signal.reason);
  return EXIT_OF_SIGNAL[name] ?? EXIT.interrupted;
}

/** Processes of the command's own outside any run's registry (perf's private Mosquitto): SIGKILLed on an at-once exit. */
const ownChildren = new Set<() => number | undefined>();

/** `pid()` names a process the command started for itself (undefined once it is gone): an at-once exit SIGKILLs it too. Returns the undo. */
export function killOnExit(pid: () => number | undefined): () => void {
  ownChildren.add(pid);
  return () => void ownChildren.delete(pid);
}

/** The graceful stop in force, if any: the first signal aborts it. */
let graceful: { controller: AbortController; doing: string; log: (line: string) => void } | undefined;
let installed = false;
/** Where the at-once exit's line goes. */
let exitLog: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

function onSignal(signal: NodeJS.Signals): void {
  if (graceful && !graceful.controller.signal.aborted) {
    graceful.log(`interrupted: ${graceful.doing}… (${signal} again: exit at once)`);
    graceful.controller.abort(signal);
    return;
  }
  exitLog(
    graceful
      ? `${signal} again: exiting now; \`npm run clean\` removes what the run left`
      : `interrupted by ${signal}: exiting; no file is left half-written`,
  );
  killChildrenNow();
  for (const pid of ownChildren) {
    const running = pid();
    if (running !== undefined) {
      try {
        process.kill(running, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  process.exit(exitOfInterrupt(signal));
}

/**
 * Makes SIGINT and SIGTERM exit at once with one line and exit 130/143 (instead of a bare death by
 * signal). Called by the entry point (commands/chaosbench.ts) for every command; idempotent.
 */
export function exitOnInterrupt(log?: (line: string) => void): void {
  if (log) exitLog = log;
  if (installed) return;
  installed = true;
  for (const name of INTERRUPTS) process.on(name, onSignal);
}

export interface GracefulStop {
  /** Aborted on the first signal, its reason the signal's name: hand it to the runs (RunOptions.signal). */
  signal: AbortSignal;
  /** The runs are over: a signal exits at once again. */
  release: () => void;
}

/**
 * While runs are made: the first SIGINT/SIGTERM aborts `signal` (saying `doing`, e.g. "stopping the
 * load, removing the run's keys and schema"); a second exits at once. SIGTERM to `npm run <command>`
 * ends npm and its shell, not this process: a wrapper of this process that is gone
 * (engine/run-registry.ts wrapperAncestors) counts as a SIGTERM.
 */
export function stopOnInterrupt(doing: string, log: (line: string) => void): GracefulStop {
  exitOnInterrupt();
  const controller = new AbortController();
  const mine = { controller, doing, log };
  graceful = mine;
  const wrappers = wrapperAncestors();
  const watch = setInterval(() => {
    const gone = wrappers.find((w) => !stillRuns(w.pid, w.start_ticks));
    if (!gone || controller.signal.aborted) return;
    log(`the process that started this one (pid ${gone.pid}) is gone: stopping as on SIGTERM`);
    onSignal('SIGTERM');
  }, WRAPPER_CHECK_MS);
  watch.unref();
  return {
    signal: controller.signal,
    release: () => {
      clearInterval(watch);
      if (graceful === mine) graceful = undefined;
    },
  };
}
