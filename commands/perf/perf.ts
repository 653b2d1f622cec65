// `npm run perf`: a benchmark, not a test. Runs, interleaved, --replicates rounds of: the bare
// subscriber and the reference aggregator with memory, Redis, SQLite and PostgreSQL dedup at
// capacity (closed model, dup-storm's copies, embedded broker), the generator's own capacity (closed
// model against a private Mosquitto and the bare subscriber: a cheap broker and subscriber) and the
// generator at a fixed open-model rate; then (--at-capacity, default 0.5) a second interleaved pass
// of every capacity variant in the open model at that share of its own median capacity; then prints
// the capacity table (capacity, ratio to the bare subscriber, CPU µs per message of every process),
// the table at that share of capacity (rate, p99, CPU µs per message at a fixed rate) and the
// targets of issue 19, each met or not.
// The runs are the campaign runner's (commands/campaign/campaign.ts); the table is reports/perf.ts's.
// Exit codes: 0 it ran (targets not met are a finding) · 2 bad flags · 3 some run could not complete · 130/143 interrupted.

import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { parseDuration, splitList } from '../../cli/flags.ts';
import { resolveRun, type FieldChange, type ResolvedRun, type RunRequest } from '../../engine/resolve.ts';
import { makeRunId, type AggregatorKind } from '../../engine/run.ts';
import { startMosquitto, type MosquittoBroker } from '../../engine/broker/mosquitto.ts';
import { redactDeep } from '../../aggregator/redact.ts';
import { PERF_SCHEMA, percent, renderPerf, type PerfAtCapacity, type PerfReport, type PerfVariant } from '../../reports/perf.ts';
import type { CompareRun } from '../../reports/compare.ts';
import { strictParser } from '../bench/bench.ts';
import { CampaignInterrupted, commandLine, runCampaignCommand, runCampaign, type CampaignArm, type CampaignDeps, type CampaignRun } from '../campaign/campaign.ts';
import { atRate, capacityRates, runLine, warmupPhases } from '../compare/compare.ts';
import { makeDirectory, refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';
import { killOnExit } from '../../cli/interrupt.ts';

export const DEFAULT_PERF_REPLICATES = 3;
export const DEFAULT_PERF_DURATION = '10s';
export const DEFAULT_PERF_CONCURRENCY = 1000;
/** The share of its own capacity each capacity variant runs at in the second pass (issue 19: p99 at 50% of capacity). */
export const DEFAULT_PERF_AT_CAPACITY = 0.5;
/** The rate the generator's CPU per message is judged at (issue 19: ≤ 10 µs at 10,000 ev/s). */
export const GENERATOR_RATE = 10_000;
const SCENARIO = 'dup-storm';
/** The generator-10k-4ms variant's load.wake_interval_ms: the default's CPU against a batched generator's. */
const BATCHED_WAKE_INTERVAL_MS = 4;

/** The benchmark's variants, as data: what each runs. `mosquitto`: against a private Mosquitto the command starts. */
export const PERF_VARIANTS: readonly (PerfVariant & { dedup?: string; broker: 'embedded' | 'mosquitto'; changes?: readonly FieldChange[] })[] = [
  { name: 'bare', what: 'bare subscriber (acks on receipt), closed model', kind: 'capacity', aggregator: 'none', broker: 'embedded' },
  { name: 'memory', what: 'reference aggregator, memory dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'memory', broker: 'embedded' },
  { name: 'redis', what: 'reference aggregator, Redis dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'redis', broker: 'embedded' },
  { name: 'sqlite', what: 'reference aggregator, SQLite dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'sqlite', broker: 'embedded' },
  { name: 'postgres', what: 'reference aggregator, PostgreSQL dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'postgres', broker: 'embedded' },
  { name: 'generator', what: 'generator capacity: closed model, private Mosquitto, bare subscriber', kind: 'generator-capacity', aggregator: 'none', broker: 'mosquitto' },
  { name: 'generator-10k', what: `generator at ${GENERATOR_RATE} ev/s: open model, private Mosquitto, bare subscriber`, kind: 'generator-rate', aggregator: 'none', broker: 'mosquitto' },
  {
    name: 'generator-10k-4ms',
    what: `the same with load.wake_interval_ms ${BATCHED_WAKE_INTERVAL_MS} (batches handed off every ${BATCHED_WAKE_INTERVAL_MS} ms: less CPU, up to ${BATCHED_WAKE_INTERVAL_MS} ms more lag)`,
    kind: 'generator-rate',
    aggregator: 'none',
    broker: 'mosquitto',
    changes: [{ path: 'load.wake_interval_ms', value: BATCHED_WAKE_INTERVAL_MS }],
  },
];
const VARIANT_NAMES = PERF_VARIANTS.map((v) => v.name);

interface PerfPlan {
  command: string;
  replicates: number;
  duration_s: number;
  concurrency: number;
  variants: { variant: PerfVariant; broker: 'embedded' | 'mosquitto'; request: RunRequest; run: ResolvedRun }[];
  /** The second pass's share of capacity; null: --at-capacity off. */
  at_capacity: number | null;
  out_dir: string;
  quiet: boolean;
}

/** Stands in for the private Mosquitto's URL until it is started (resolution only checks its form). */
const MOSQUITTO_PLACEHOLDER = 'mqtt://127.0.0.1:1883';

export async function parsePerfArgs(argv: string[]): Promise<PerfPlan> {
  const args = await strictParser(
    yargs(argv)
      .scriptName('npm run perf --')
      .usage(
        'A benchmark, not a test: measures capacity, p99 at a share of it and CPU per message on this machine, and\n' +
          'prints two tables and the targets of issue 19. Runs, interleaved (each round runs every variant once),\n' +
          '--replicates rounds of: the bare subscriber and the reference aggregator with memory, redis, sqlite and\n' +
          `postgres dedup at capacity (closed model, ${SCENARIO} with its 30% copies, embedded broker); the generator's\n` +
          `own capacity (closed model against a private Mosquitto and the bare subscriber); the generator at\n` +
          `${GENERATOR_RATE} ev/s (open model).\n` +
          'Then a second pass, interleaved too: each capacity variant in the open model at --at-capacity (0.5) of its own\n' +
          'median capacity, for its p99 there and its CPU per message at a fixed rate.\n' +
          'Needs Redis, PostgreSQL and the mosquitto binary, like the tests. Writes perf.md, perf.json and every\n' +
          "run's directory into --out.\n\n" +
          'Usage: $0 [--replicates 3] [--duration 10s] [--at-capacity 0.5|off] [--out DIR]\n\n' +
          'Exit codes: 0 it ran (a target not met is a finding, not a failure: read the target lines) · 2 bad flags ·\n' +
          '3 some run could not complete (e.g. Redis or PostgreSQL unreachable, mosquitto missing) · 130/143 interrupted by SIGINT/SIGTERM (the run under way stops and cleans up; no perf file is written)',
      )
      .options({
        replicates: { type: 'number', default: DEFAULT_PERF_REPLICATES, describe: 'rounds: runs per variant (medians need 3 or more)' },
        duration: { type: 'string', default: DEFAULT_PERF_DURATION, describe: 'measured time of each run, after its warm-up: 10s, 1m' },
        concurrency: { type: 'number', default: DEFAULT_PERF_CONCURRENCY, describe: 'events in flight in the closed-model runs' },
        variants: { type: 'string', default: VARIANT_NAMES.join(','), describe: 'which variants to run, comma-separated (a target whose variants are not run is "not measured")' },
        'at-capacity': { type: 'string', default: String(DEFAULT_PERF_AT_CAPACITY), describe: "second pass: each capacity variant again, open model, at this share of its own median capacity (a fraction in (0, 1]), for p99 and CPU per message there; off: no second pass" },
        out: { type: 'string', describe: 'directory for perf.md, perf.json and the runs (default reports/out/<time>-perf)' },
        quiet: { type: 'boolean', default: false, describe: 'no progress lines on stderr' },
      }),
  ).parseAsync();

  const problems: string[] = [];
  if (!Number.isInteger(args.replicates) || args.replicates < 1) problems.push(`--replicates must be an integer >= 1, got '${String(args.replicates)}'`);
  if (!Number.isInteger(args.concurrency) || args.concurrency < 1) problems.push(`--concurrency must be an integer >= 1, got '${String(args.concurrency)}'`);
  let durationS = 0;
  try {
    durationS = parseDuration(args.duration);
    if (!(durationS > 0)) problems.push(`--duration must be more than 0, got '${args.duration}'`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    problems.push(error.message);
  }
  let names: string[] = [];
  try {
    names = splitList(args.variants, '--variants');
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    problems.push(error.message);
  }
  const atCapacity = parseAtCapacity(args['at-capacity'], problems);
  for (const name of names.filter((n) => !VARIANT_NAMES.includes(n))) problems.push(`--variants: unknown variant '${name}' (one of ${VARIANT_NAMES.join(', ')})`);
  if (problems.length > 0) throw new UsageError(problems.join('\nerror: '));

  const variants: PerfPlan['variants'] = [];
  for (const variant of PERF_VARIANTS.filter((v) => names.includes(v.name))) {
    const request = perfRequest(variant, durationS, args.concurrency);
    const resolved = resolveRun(request);
    if (!resolved.ok) throw new UsageError(resolved.problems.map((p) => `variant '${variant.name}': ${p}`).join('\nerror: '));
    const { dedup: _dedup, broker, changes: _changes, ...info } = variant;
    if (variant.kind !== 'generator-rate') {
      variants.push({ variant: info, broker, request, run: resolved.run });
      continue;
    }
    // At a fixed rate: compare's at-capacity request (its warm-up at that rate too, for long enough).
    const fixed = atRate(request, GENERATOR_RATE, warmupPhases(resolved.run.scenario));
    const atFixed = resolveRun(fixed);
    if (!atFixed.ok) throw new UsageError(atFixed.problems.map((p) => `variant '${variant.name}': ${p}`).join('\nerror: '));
    variants.push({ variant: info, broker, request: fixed, run: atFixed.run });
  }
  return {
    command: commandLine('perf', argv),
    replicates: args.replicates,
    duration_s: durationS,
    concurrency: args.concurrency,
    variants,
    at_capacity: atCapacity,
    out_dir: resolve(args.out ?? join('reports', 'out', makeRunId('perf'))),
    quiet: args.quiet,
  };
}

/** --at-capacity: a fraction in (0, 1], or off (null); a bad value is added to problems. */
function parseAtCapacity(text: string, problems: string[]): number | null {
  if (text.trim().toLowerCase() === 'off') return null;
  const fraction = Number(text);
  if (text.trim() === '' || !Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    problems.push(`--at-capacity must be a fraction in (0, 1] like 0.5, or off, got '${text}'`);
    return null;
  }
  return fraction;
}

/** A variant's request: dup-storm in the closed model with its aggregator, store and broker. */
function perfRequest(variant: (typeof PERF_VARIANTS)[number], durationS: number, concurrency: number): RunRequest {
  return {
    scenario: SCENARIO,
    flags: { model: 'closed', concurrency, duration: `${durationS}s`, ...(variant.dedup ? { dedup: variant.dedup } : {}) },
    changes: variant.changes ?? [],
    broker: variant.broker === 'mosquitto' ? MOSQUITTO_PLACEHOLDER : 'embedded',
    sink: 'sqlite',
    aggregator: variant.aggregator as AggregatorKind,
  };
}

interface PerfArm extends CampaignArm {
  variant: PerfVariant;
}

function perfRun(run: CampaignRun<PerfArm>): CompareRun {
  const { order, replicate, out_dir, run_id, valid, invalid_reasons, passed, lost_events, error, figures } = run;
  return { order, variant: run.arm.variant.name, replicate, out_dir, aggregator: run.arm.variant.aggregator, run_id, valid, invalid_reasons, passed, lost_events, error, figures };
}

type PerfDeps = Pick<CampaignDeps<PerfArm>, 'run' | 'progress' | 'signal'> & { log?: (line: string) => void; now?: () => Date };

/**
 * The second pass: each capacity variant of the plan in the open model at `fraction` of its median
 * committed ev/s in the capacity pass (`runs`), --replicates rounds, interleaved, numbered on from
 * the capacity pass's `done` runs. A variant with no valid capacity run (or whose rate cannot be
 * resolved) is skipped with a line saying why.
 */
async function runAtCapacity(plan: PerfPlan, fraction: number, runs: CompareRun[], done: number, log: (line: string) => void, deps: PerfDeps) {
  const pct = percent(fraction);
  const capacityVariants = plan.variants.filter((v) => v.variant.kind === 'capacity');
  const rates = capacityRates({ variants: capacityVariants.map(({ variant }) => ({ name: variant.name, value: variant.name, aggregator: variant.aggregator })), runs }, fraction, () => true);
  const staged: (PerfArm & { rate: number })[] = [];
  const skipped: PerfAtCapacity['skipped'] = [];
  for (const { variant, request, run } of capacityVariants) {
    const own = runs.filter((r) => r.variant === variant.name);
    const rate = rates.find((r) => r.variant === variant.name);
    let reason: string | undefined;
    if (!own.some((r) => r.valid)) {
      const errored = own.filter((r) => r.error !== null).length;
      reason = `no valid run in the capacity pass (${own.length - errored} invalid, ${errored} could not complete)`;
    } else if (!rate) {
      reason = 'no capacity measured (it committed nothing)';
    } else {
      const resolved = resolveRun(atRate(request, rate.rate_per_s, warmupPhases(run.scenario)));
      if (resolved.ok) staged.push({ label: `${variant.name} at ${pct} (${rate.rate_per_s} ev/s)`, dir: `${variant.name}-at${Math.round(fraction * 100)}`, variant, run: resolved.run, rate: rate.rate_per_s });
      else reason = `${rate.rate_per_s} ev/s cannot run: ${resolved.problems.join('; ')}`;
    }
    if (reason !== undefined) {
      skipped.push({ variant: variant.name, reason });
      log(`${variant.name}: not run at ${pct} of capacity: ${reason}`);
    }
  }
  const count = staged.length * plan.replicates;
  const total = done + count;
  if (count > 0) log(`pass 2, at ${pct} of each variant's capacity (open model): ${staged.map((s) => `${s.variant.name} ${s.rate} ev/s`).join(', ')} × ${plan.replicates} = ${count} runs, interleaved`);
  const outcome = await runCampaign(
    { arms: staged, replicates: plan.replicates, out_dir: plan.out_dir, numbering: { first: done + 1, total } },
    { run: deps.run, progress: deps.progress, warn: log, live: false, done: (run) => log(runLine({ ...perfRun(run), variant: run.arm.label }, total, plan.replicates)), ...(deps.signal ? { signal: deps.signal } : {}) },
  );
  if (outcome.interrupted !== undefined) throw new CampaignInterrupted(outcome.interrupted, done + outcome.runs.length, total, 'perf.md', plan.out_dir);
  const at: PerfAtCapacity = { fraction, rates: rates.filter((r) => staged.some((s) => s.variant.name === r.variant)), runs: outcome.runs.map(perfRun), skipped };
  return { at, machine: outcome.machine, git_sha: outcome.git_sha };
}

/** Runs the plan (a private Mosquitto for the generator variants), writes perf.json and perf.md, returns the report and the exit code. */
export async function runPerf(plan: PerfPlan, deps: PerfDeps = {}): Promise<{ report: PerfReport; exit: number }> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const started = now();
  makeDirectory(plan.out_dir);
  let mosquitto: MosquittoBroker | undefined;
  let forgetMosquitto = () => {};
  try {
    if (plan.variants.some((v) => v.broker === 'mosquitto')) {
      mosquitto = await startMosquitto({ maxQueuedMessages: 0, maxInflightMessages: 0 });
      // Not a run's child (no registry file names it): a second Ctrl-C must not leave it running.
      const broker = mosquitto;
      forgetMosquitto = killOnExit(() => broker.pid);
    }
    const total = plan.variants.length * plan.replicates;
    const second = plan.at_capacity !== null && plan.variants.some((v) => v.variant.kind === 'capacity');
    log(
      `chaosbench perf: pass 1, capacity: ${plan.variants.map((v) => v.variant.name).join(', ')} × ${plan.replicates} replicates = ${total} runs, interleaved · ${plan.duration_s} s each · out ${plan.out_dir}` +
        (second ? ` · then pass 2: each capacity variant at ${percent(plan.at_capacity!)} of its capacity, ${plan.replicates} rounds` : ''),
    );
    const outcome = await runCampaign(
      {
        arms: plan.variants.map(({ variant, broker, run }) => ({ label: variant.name, dir: variant.name, variant, run: broker === 'mosquitto' ? { ...run, broker: mosquitto!.url } : run })),
        replicates: plan.replicates,
        out_dir: plan.out_dir,
      },
      {
        run: deps.run,
        progress: deps.progress,
        warn: log,
        live: false,
        done: (run) => log(runLine(perfRun(run), total, plan.replicates)),
        ...(deps.signal ? { signal: deps.signal } : {}),
      },
    );
    // Interrupted: no perf table is written (the runs' own files are whole); the private Mosquitto stops below.
    if (outcome.interrupted !== undefined) throw new CampaignInterrupted(outcome.interrupted, outcome.runs.length, total, 'perf.md', plan.out_dir);
    const runs = outcome.runs.map(perfRun);
    const pass2 = second ? await runAtCapacity(plan, plan.at_capacity!, runs, total, log, deps) : undefined;
    const report: PerfReport = {
      schema: PERF_SCHEMA,
      command: plan.command,
      replicates: plan.replicates,
      duration_s: plan.duration_s,
      concurrency: plan.concurrency,
      generator_rate: GENERATOR_RATE,
      variants: plan.variants.map((v) => v.variant),
      runs,
      machine: outcome.machine ?? pass2?.machine ?? null,
      git_sha: outcome.git_sha ?? pass2?.git_sha ?? 'unknown',
      started_at: started.toISOString(),
      finished_at: now().toISOString(),
      ...(pass2 ? { at_capacity: pass2.at } : {}),
    };
    writeFileWhole(join(plan.out_dir, 'perf.json'), `${JSON.stringify(redactDeep(report), null, 2)}\n`);
    writeFileWhole(join(plan.out_dir, 'perf.md'), renderPerf(report));
    return { report, exit: [...runs, ...(pass2?.at.runs ?? [])].every((r) => r.error === null) ? EXIT.ok : EXIT.invalid_run };
  } finally {
    await mosquitto?.stop().catch(() => {});
    forgetMosquitto();
  }
}

export async function main(argv: string[]): Promise<number> {
  let plan: PerfPlan;
  try {
    plan = await parsePerfArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  // Before anything runs: a directory the results cannot go to is bad input, named by --out.
  if (refuseUnwritableOutput(plan.out_dir)) return EXIT.bad_input;
  const ran = await runCampaignCommand(plan.quiet, 'the benchmark', (deps) => runPerf(plan, deps));
  if ('exit' in ran) return ran.exit;
  const { report, exit } = ran.outcome;
  process.stdout.write(`${renderPerf(report)}\nperf: ${join(plan.out_dir, 'perf.md')}\n`);
  if (exit !== EXIT.ok) process.stderr.write('some runs could not complete: their variants\' figures are missing or partial (see the lines above)\n');
  return exit;
}
