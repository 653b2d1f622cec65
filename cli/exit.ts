// What every command line of the project shares at its end: one exit-code table and the error that
// means "bad input". The aggregator's own command (aggregator/main.ts) uses it too, which is why it
// lives outside both aggregator/ (which imports nothing from the harness) and the engine (engine/).
// Invariant: a command's exit code says what its printed verdict says; bad input exits 2 with a
// message naming the field, never a stack trace.

export const EXIT = {
  /** Done, and everything judged passed. */
  ok: 0,
  /** Done, but something judged failed: a check (bench, merge), a regression or correctness count (gate), an experiment (theory), a file not rendered (report). */
  check_failed: 1,
  /** Bad input (flags, scenario, files), named on stderr; nothing was run. */
  bad_input: 2,
  /** The run is invalid or undecidable, or could not complete (the aggregator: could not start). */
  invalid_run: 3,
  /** Interrupted by SIGINT (Ctrl-C): 128 + 2, as a shell reports it; the run's partial result is written. */
  interrupted: 130,
  /** Interrupted by SIGTERM: 128 + 15. */
  terminated: 143,
} as const;

/** An interrupted run's exit code by the signal that interrupted it (any other: as SIGINT). */
export const EXIT_OF_SIGNAL: Record<string, ExitCode> = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated };

/** A finished run's exit code by its verdict (engine/result.ts runVerdict), so the code says what the verdict line says; an interrupted one: exitOfVerdict. */
export const EXIT_OF_VERDICT = { fail: EXIT.check_failed, invalid: EXIT.invalid_run, pass: EXIT.ok, interrupted: EXIT.interrupted } as const;

/** A verdict's exit code; an interrupted run's by its signal (130 SIGINT, 143 SIGTERM). */
export function exitOfVerdict(verdict: keyof typeof EXIT_OF_VERDICT, interrupted?: { signal: string }): ExitCode {
  return verdict === 'interrupted' ? (EXIT_OF_SIGNAL[interrupted?.signal ?? 'SIGINT'] ?? EXIT.interrupted) : EXIT_OF_VERDICT[verdict];
}

/** Bad input: the command prints its message (naming the field) and exits EXIT.bad_input. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Each exit code in words, as the reports print it beside a command's code. */
export const EXIT_MEANING: Record<ExitCode, string> = {
  [EXIT.ok]: 'ok: done, and everything judged passed',
  [EXIT.check_failed]: 'something judged failed (a check, a regression, a correctness count)',
  [EXIT.bad_input]: 'bad input: nothing was run',
  [EXIT.invalid_run]: 'the run is invalid or undecidable, or could not complete',
  [EXIT.interrupted]: 'interrupted by SIGINT (Ctrl-C): a partial result, nothing judged',
  [EXIT.terminated]: 'interrupted by SIGTERM: a partial result, nothing judged',
};
