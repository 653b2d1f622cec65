// A gate baseline file (--baseline FILE, written by --update-baseline): the replicates of a config
// measured earlier, with the machine, the commit and the flags it was measured with. Read back it
// is checked for its schema only; the figures are the runs' own (engine/figures.ts). Invariant:
// bench_argv is a record of the flags given (flagsGiven), compared as text and never parsed.

import { readFileSync } from 'node:fs';
import type { RunFigures } from '../../engine/figures.ts';
import type { RunResult } from '../../engine/result.ts';
import { UsageError } from '../../cli/exit.ts';
import { COMMON_FLAGS } from '../../cli/flags.ts';

export const BASELINE_SCHEMA = 'chaosbench.gate-baseline/v1';

export interface BaselineFile {
  schema: typeof BASELINE_SCHEMA;
  scenario: string;
  /** The flags the measured config was given (without --out), as flagsGiven writes them: a record, never parsed. */
  bench_argv: string[];
  load: string;
  command: string;
  created_at: string;
  git_sha: string;
  machine: RunResult['machine'] | null;
  /** load_avg_1m: the machine's 1-minute load average when the run ended (absent in older files). */
  replicates: { replicate: number; run_id: string | null; valid: boolean; figures: RunFigures | null; load_avg_1m?: number | null }[];
}

export function readBaselineFile(path: string): BaselineFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--baseline: cannot read ${path}: ${(error as Error).message}`);
  }
  const file = parsed as Partial<BaselineFile>;
  if (file.schema !== BASELINE_SCHEMA || !Array.isArray(file.replicates) || typeof file.scenario !== 'string') {
    throw new UsageError(`--baseline: ${path} is not a gate baseline (schema ${BASELINE_SCHEMA}); write one with --update-baseline`);
  }
  return file as BaselineFile;
}

/**
 * The flags given for every run, as text in the order a baseline file has always recorded them
 * (--scenario=…, the common flags in their table's order, --set=…): the baseline file's bench_argv,
 * compared as a record to say that a baseline was measured with other flags. Nothing parses it.
 */
export function flagsGiven(args: { scenario?: string | undefined; set?: readonly unknown[] | undefined } & Partial<Record<(typeof COMMON_FLAGS)[number], unknown>>): string[] {
  const given: string[] = [];
  if (args.scenario !== undefined) given.push(`--scenario=${args.scenario}`);
  for (const name of COMMON_FLAGS) {
    const value = args[name];
    if (value !== undefined) given.push(`--${name}=${String(value)}`);
  }
  for (const assignment of args.set ?? []) given.push(`--set=${String(assignment)}`);
  return given;
}
