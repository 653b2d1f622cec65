// A campaign: several runs of resolved scenarios (engine/resolve.ts), made one after another on this
// machine, the way compare and gate both measure. Each arm (a compare variant, a gate side) runs
// --replicates times, interleaved A B C A B C …, so that the machine's drift reaches every arm
// alike; each run goes to a directory of its own with its result.json and report files (the set
// `npm run bench` writes), and what became of it is returned typed, with its figures
// (engine/figures.ts). The commands keep only their planning and their verdict.
// Invariants: a run that throws is recorded as not completed (no figures) and the campaign goes on;
// a report file that cannot be rendered is a warning, result.json is written first and kept;
// arms run in the order given within each round.

import { join } from 'node:path';
import { runScenario, WARMUP_PHASE, type RunOptions } from '../../engine/run.ts';
import { describeFailedCheck, failedCorrectnessChecks, type RunResult } from '../../engine/result.ts';
import { figuresOf, type RunFigures } from '../../engine/figures.ts';
import type { ResolvedRun } from '../../engine/resolve.ts';
import { describeRate } from '../../engine/load/schedule.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { writeReportFiles, writeResult } from '../bench/bench.ts';
import { makeDirectory, OutputError } from '../../cli/output.ts';
import { EXIT } from '../../cli/exit.ts';
import { redactPasswords } from '../../aggregator/redact.ts';
import { exitOfInterrupt, stopOnInterrupt } from '../../cli/interrupt.ts';
import { progressWriter } from '../../cli/progress.ts';

export interface CampaignArm {
  /** Names the arm in progress lines: "[2/6] sqlite r1/2". */
  label: string;
  /** Its runs' directories under the campaign's: <dir>-r<k>. Unique among the arms. */
  dir: string;
  run: ResolvedRun;
}

export interface Campaign<A extends CampaignArm> {
  /** One round runs each arm once, in this order. */
  arms: readonly A[];
  replicates: number;
  out_dir: string;
  /** When this campaign continues another's numbering: the order of its first run and the runs in all (default 1 and its own). */
  numbering?: { first: number; total: number };
}

/** What became of one run of a campaign. */
export interface CampaignRun<A extends CampaignArm = CampaignArm> {
  arm: A;
  /** 1-based position in the order the runs were made. */
  order: number;
  /** 1-based. */
  replicate: number;
  out_dir: string;
  run_id: string | null;
  valid: boolean;
  invalid_reasons: string[];
  /** The scenario's checks; null when the run did not complete. */
  passed: boolean | null;
  /** Its failed checks on events lost, never acked, never sent or doubled (`lost == 0 (was 12)`); empty when none or the run did not complete. */
  lost_events: string[];
  /** The run could not complete (e.g. the broker was unreachable): why. No figures then. */
  error: string | null;
  figures: RunFigures | null;
}

export interface CampaignDeps<A extends CampaignArm = CampaignArm> {
  /** Makes one run: runScenario, or a stand-in in tests. */
  run?: (options: RunOptions) => Promise<RunResult>;
  /** Called after each run with what became of it (the command's line per run). */
  done?: (run: CampaignRun<A>) => void;
  /** The current run's own progress lines, its place in the campaign at their head. */
  progress?: (line: string) => void;
  /** What went wrong without stopping the campaign. */
  warn?: (line: string) => void;
  /** Are the progress lines shown? If not, the runs skip the live p99 read of the sink (default: shown). */
  live?: boolean;
  /** Aborted on SIGINT/SIGTERM (cli/interrupt.ts): the current run stops and cleans up (its result.json marked interrupted), no further run starts. */
  signal?: AbortSignal;
}

export interface CampaignOutcome<A extends CampaignArm> {
  runs: CampaignRun<A>[];
  /** Of the first run that completed; null when none did. */
  machine: RunResult['machine'] | null;
  git_sha: string | null;
  /** The signal that stopped the campaign (SIGINT, SIGTERM); the runs made until then are in `runs`, the last one interrupted. */
  interrupted?: string;
}

/** The runs in the order they are made: round 1 runs every arm once, then round 2, … (A B C A B C). */
export function interleave<T>(arms: readonly T[], replicates: number): { arm: T; index: number; replicate: number }[] {
  const order: { arm: T; index: number; replicate: number }[] = [];
  for (let replicate = 1; replicate <= replicates; replicate++) {
    arms.forEach((arm, index) => order.push({ arm, index, replicate }));
  }
  return order;
}

/** Makes every run of the campaign in the interleaved order, each into <out>/<dir>-r<k>/. */
export async function runCampaign<A extends CampaignArm>(campaign: Campaign<A>, deps: CampaignDeps<A> = {}): Promise<CampaignOutcome<A>> {
  const run = deps.run ?? runScenario;
  const schedule = interleave(campaign.arms, campaign.replicates);
  const first = campaign.numbering?.first ?? 1;
  const total = campaign.numbering?.total ?? schedule.length;
  makeDirectory(campaign.out_dir);
  const runs: CampaignRun<A>[] = [];
  let machine: RunResult['machine'] | null = null;
  let gitSha: string | null = null;
  for (const [i, { arm, replicate }] of schedule.entries()) {
    if (deps.signal?.aborted) break;
    const order = first + i;
    const head = `[${order}/${total}] ${arm.label} r${replicate}/${campaign.replicates}`;
    const outDir = join(campaign.out_dir, `${arm.dir}-r${replicate}`);
    const place = { arm, order, replicate, out_dir: outDir };
    let entry: CampaignRun<A>;
    try {
      const result = await run({
        // The resolved run as it stands, its overrides with it, so that each run's report.md replays it with npm run bench.
        ...arm.run,
        out_dir: outDir,
        progress: (line) => deps.progress?.(`${head}  ${line}`),
        // Lines that must stay on screen (warnings, the broker's errors) go where the command's warnings go.
        ...(deps.warn ? { log: (line: string) => deps.warn!(`${head}  ${line}`) } : {}),
        live_latency: deps.live !== false,
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
      writeResult(outDir, result);
      try {
        writeReportFiles(outDir, result);
      } catch (error) {
        deps.warn?.(`warning: ${head}: the report files could not be rendered (${(error as Error).message}); result.json is written`);
      }
      machine ??= result.machine;
      gitSha ??= result.git_sha;
      entry = { ...place, run_id: result.run_id, valid: result.valid, invalid_reasons: result.invalid_reasons, passed: result.passed, lost_events: failedCorrectnessChecks(result).map(describeFailedCheck), error: null, figures: figuresOf(result) };
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      entry = { ...place, run_id: null, valid: false, invalid_reasons: [`the run could not complete: ${message}`], passed: null, lost_events: [], error: message, figures: null };
    }
    runs.push(entry);
    deps.done?.(entry);
  }
  return { runs, machine, git_sha: gitSha, ...(deps.signal?.aborted ? { interrupted: String(deps.signal.reason) } : {}) };
}

/** The measured phases of a scenario in a few words: "storm 1000/s for 15 s (after 2 s of warm-up)". */
export function describeLoad(scenario: Scenario): string {
  if (scenario.load.model === 'closed') {
    const total = scenario.phases.filter((p) => p.name !== WARMUP_PHASE).reduce((sum, p) => sum + p.duration_s, 0);
    return `closed model, ${scenario.load.concurrency} in flight for ${total} s`;
  }
  const measured = scenario.phases.filter((p) => p.name !== WARMUP_PHASE).map((p) => `${p.name} ${describeRate(p.rate)} for ${p.duration_s} s`);
  const warmup = scenario.phases.filter((p) => p.name === WARMUP_PHASE).reduce((sum, p) => sum + p.duration_s, 0);
  return `${measured.join(', ')}${warmup > 0 ? ` (after ${warmup} s of warm-up)` : ''}`;
}

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/** The command line as typed, for the campaign's report: npm run compare -- --scenario … (no `--` without flags: npm run perf). */
export function commandLine(command: string, argv: readonly string[]): string {
  return ['npm', 'run', command, ...(argv.length > 0 ? ['--', ...argv] : [])].map(shellQuote).join(' ');
}

/**
 * A campaign command stopped by SIGINT/SIGTERM (cli/interrupt.ts): thrown once the run under way has
 * stopped and cleaned up, before any summary file is written. Its message is the one line the
 * command ends with; `exit` is 130 or 143.
 */
export class CampaignInterrupted extends Error {
  override name = 'CampaignInterrupted';
  readonly exit: number;
  constructor(
    readonly signal: string,
    made: number,
    total: number,
    notWritten: string,
    runsDir: string,
  ) {
    super(`interrupted by ${signal} after ${made} of ${total} runs (the run under way stopped and removed its keys and schema): ${notWritten} not written; the runs' results are in ${runsDir}`);
    this.exit = exitOfInterrupt(signal);
  }
}

/** What a campaign command's run gets from runCampaignCommand: its progress lines and the interrupt's signal. */
export interface CampaignCommandDeps {
  log: (line: string) => void;
  progress: (line: string) => void;
  signal: AbortSignal;
}

/**
 * A campaign command's run (compare, gate, perf) with its progress lines on stderr and SIGINT/SIGTERM
 * handled: the run under way stops and cleans up, no other starts. Returns the run's outcome, or the
 * exit code of its failure or interruption (campaignFailed, which printed its one line).
 */
export async function runCampaignCommand<T>(quiet: boolean, what: string, run: (deps: CampaignCommandDeps) => Promise<T>): Promise<{ outcome: T } | { exit: number }> {
  const lines = progressWriter(process.stderr, { quiet, offTerminal: 'drop' });
  const interrupt = stopOnInterrupt('stopping the run under way, removing its keys and schema', lines.log);
  try {
    return { outcome: await run({ log: lines.log, progress: lines.progress, signal: interrupt.signal }) };
  } catch (error) {
    lines.end();
    return { exit: campaignFailed(error, what) };
  } finally {
    interrupt.release();
  }
}

/**
 * How a campaign command (compare, gate, perf) ends when its campaign threw: interrupted, the one
 * line and 130/143; a summary file that could not be written (a full disk), its one line and 3;
 * anything else, "<what> could not complete" and 3. Never a stack.
 */
export function campaignFailed(error: unknown, what: string): number {
  if (error instanceof CampaignInterrupted) {
    process.stderr.write(`${error.message}\n`);
    return error.exit;
  }
  const message = error instanceof OutputError ? error.message : `${what} could not complete: ${redactPasswords((error as Error).message ?? String(error))}`;
  process.stderr.write(`error: ${message}\n`);
  return EXIT.invalid_run;
}
