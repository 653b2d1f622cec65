// `npm run perf`: a benchmark, not a test. Runs, interleaved, --replicates rounds of: the bare
// subscriber and the reference aggregator with memory, Redis, SQLite and PostgreSQL dedup at
// capacity (closed model, dup-storm's copies, embedded broker), the generator's own capacity (closed
// model with the bare subscriber, against the relay, engine/broker/relay.ts, a near-free forwarder
// that is a measurement fixture and no broker; and the same against a private Mosquitto, whose
// ceiling it shows) and the generator at a fixed open-model rate (against that Mosquitto); then
// (--at-capacity, default 0.5) a second interleaved pass of every capacity variant in the open
// model at that share of its own median capacity; then (--cost-rate, default auto) a third of every
// capacity variant at one and the same rate; then prints the capacity table (capacity, ratio to the
// bare subscriber, CPU µs per message of every process), the table at that share of capacity (rate,
// p99, CPU µs per message at a fixed rate), the table at one rate (CPU µs per message, process by
// process, for the same work) and the targets of issue 19, each met or not.
// The runs are the campaign runner's (commands/campaign/campaign.ts); the table is reports/perf.ts's.
// Exit codes: 0 it ran (targets not met are a finding) · 2 bad flags · 3 some run could not complete · 130/143 interrupted.

import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { parseDuration, splitList } from '../../cli/flags.ts';
import { resolveRun, type FieldChange, type ResolvedRun, type RunRequest } from '../../engine/resolve.ts';
import { makeRunId, type AggregatorKind } from '../../engine/run.ts';
import { startMosquitto, type MosquittoBroker } from '../../engine/broker/mosquitto.ts';
import { startRelay, type Relay } from '../../engine/broker/relay.ts';
import { redactDeep } from '../../aggregator/redact.ts';
import { PERF_SCHEMA, percent, renderPerf, type PerfAtCapacity, type PerfAtRate, type PerfReport, type PerfVariant } from '../../reports/perf.ts';
import type { CompareRun } from '../../reports/compare.ts';
import { strictParser } from '../bench/bench.ts';
import { CampaignInterrupted, commandLine, runCampaignCommand, runCampaign, type CampaignArm, type CampaignDeps, type CampaignRun } from '../campaign/campaign.ts';
import { atRate, capacityRates, runLine, warmupPhases } from '../compare/compare.ts';
import { makeDirectory, refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';
import { killOnExit } from '../../cli/interrupt.ts';

export const DEFAULT_PERF_REPLICATES = 3;
export const DEFAULT_PERF_DURATION = '10s';
export const DEFAULT_PERF_CONCURRENCY = 1000;
/**
 * Events in flight in the generator-capacity variants. The closed model tops up its credits on the
 * consumer's counters, reported every 10 ms, so its round trip is about 12 ms however fast the rest is:
 * at 1,000 in flight it capped the generator near 80,000 ev/s with its busiest thread at work a quarter
 * of the time, a lower bound only. At 8,000 the generator (or the machine it shares) sets the pace:
 * 401,000 ev/s, busy 72%, against 421,000 at 16,000 (docs/lab/2026-12-04-generator-ceiling.md).
 */
export const DEFAULT_PERF_GENERATOR_CONCURRENCY = 8000;
/** The share of its own capacity each capacity variant runs at in the second pass (issue 19: p99 at 50% of capacity). */
export const DEFAULT_PERF_AT_CAPACITY = 0.5;
/**
 * The third pass's rate: 'auto' is COST_RATE_AUTO_SHARE of the lowest median capacity of the capacity
 * pass (every variant then runs below its own), or a rate in ev/s, or off.
 */
export const DEFAULT_PERF_COST_RATE = 'auto';
export const COST_RATE_AUTO_SHARE = 0.5;
const COST_RATE_MAX = 1_000_000;
/** The rate the generator's CPU per message is judged at (issue 19: ≤ 10 µs at 10,000 ev/s). */
export const GENERATOR_RATE = 10_000;
const SCENARIO = 'dup-storm';
/** The generator-10k-4ms variant's load.wake_interval_ms: the default's CPU against a batched generator's. */
const BATCHED_WAKE_INTERVAL_MS = 4;

/**
 * Where a variant's events go: the embedded Aedes of each run, or a broker the command starts once
 * for all its runs: a private Mosquitto (unlimited queues), or the relay (engine/broker/relay.ts: a
 * near-free forwarder, a measurement fixture that keeps nothing, so only for the generator's
 * capacity, where a subscriber is always connected and nothing is judged).
 */
export type PerfBroker = 'embedded' | 'mosquitto' | 'relay';

/**
 * The benchmark's variants, as data: what each runs. `optional` ones run only when --variants names
 * them: the capacity variants through the relay, where the embedded Aedes is out of the way (it
 * spends ~30 µs per message and saturates one core in every capacity variant on 2 cores, so there the
 * ratios to bare measure how much broker work each consumer causes; through the relay they measure
 * the consumers: docs/lab/2026-12-04-capacity-bounds.md). Their verdicts rest on a fixture that keeps
 * nothing (a consumer that disconnects loses what the relay had for it): read them for capacity only.
 */
export const PERF_VARIANTS: readonly (PerfVariant & { dedup?: string; broker: PerfBroker; changes?: readonly FieldChange[]; optional?: true })[] = [
  { name: 'bare', what: 'bare subscriber (acks on receipt), closed model', kind: 'capacity', aggregator: 'none', broker: 'embedded' },
  { name: 'memory', what: 'reference aggregator, memory dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'memory', broker: 'embedded' },
  { name: 'redis', what: 'reference aggregator, Redis dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'redis', broker: 'embedded' },
  { name: 'sqlite', what: 'reference aggregator, SQLite dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'sqlite', broker: 'embedded' },
  { name: 'postgres', what: 'reference aggregator, PostgreSQL dedup, closed model', kind: 'capacity', aggregator: 'reference', dedup: 'postgres', broker: 'embedded' },
  { name: 'bare-relay', what: 'bare subscriber, closed model, through the relay (opt-in)', kind: 'capacity', aggregator: 'none', broker: 'relay', baseline: 'bare-relay', optional: true },
  { name: 'memory-relay', what: 'reference aggregator, memory dedup, closed model, through the relay (opt-in)', kind: 'capacity', aggregator: 'reference', dedup: 'memory', broker: 'relay', baseline: 'bare-relay', optional: true },
  { name: 'redis-relay', what: 'reference aggregator, Redis dedup, closed model, through the relay (opt-in)', kind: 'capacity', aggregator: 'reference', dedup: 'redis', broker: 'relay', baseline: 'bare-relay', optional: true },
  // On a 2-core machine Mosquitto spends about 42 µs of CPU per message and saturates a core near
  // 20,000 ev/s: against it the variant measured Mosquitto's ceiling (docs/lab/2026-12-03-perf-quiet.md).
  // The relay costs a few µs, so what is left is the generator's (and the bare subscriber's) own.
  {
    name: 'generator',
    what: 'generator capacity: closed model, the relay (a near-free measurement fixture, not a broker), bare subscriber',
    kind: 'generator-capacity',
    aggregator: 'none',
    broker: 'relay',
    against: 'the relay and the bare subscriber',
  },
  // Kept beside it so that the broker's share stays in view: the same load against a real broker.
  {
    name: 'generator-mosquitto',
    what: "the same against a private Mosquitto (where Mosquitto saturates first, its ceiling, not the generator's)",
    kind: 'generator-capacity',
    aggregator: 'none',
    broker: 'mosquitto',
    against: 'a private Mosquitto and the bare subscriber',
    reported: "Mosquitto's ceiling, not the generator's; the target is judged through the relay (generator)",
  },
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
/** What runs without --variants: every variant but the optional ones. */
export const DEFAULT_PERF_VARIANTS = PERF_VARIANTS.filter((v) => !v.optional).map((v) => v.name);

interface PerfPlan {
  command: string;
  replicates: number;
  duration_s: number;
  concurrency: number;
  /** Events in flight in the generator-capacity variants (--generator-concurrency). */
  generator_concurrency: number;
  variants: { variant: PerfVariant; broker: PerfBroker; request: RunRequest; run: ResolvedRun }[];
  /** The second pass's share of capacity; null: --at-capacity off. */
  at_capacity: number | null;
  /** The third pass's rate (--cost-rate): derived from the capacities, given, or off (null). */
  cost_rate: CostRate | null;
  out_dir: string;
  quiet: boolean;
}

/** Stands in for the URL of the private Mosquitto or the relay until it is started (resolution only checks its form). */
const STARTED_BROKER_PLACEHOLDER = 'mqtt://127.0.0.1:1883';

export async function parsePerfArgs(argv: string[]): Promise<PerfPlan> {
  const args = await strictParser(
    yargs(argv)
      .scriptName('npm run perf --')
      .usage(
        'A benchmark, not a test: measures capacity, p99 at a share of it and CPU per message on this machine, and\n' +
          'prints two tables and the targets of issue 19. Runs, interleaved (each round runs every variant once),\n' +
          '--replicates rounds of: the bare subscriber and the reference aggregator with memory, redis, sqlite and\n' +
          `postgres dedup at capacity (closed model, ${SCENARIO} with its 30% copies, embedded broker); the generator's\n` +
          `own capacity (closed model, bare subscriber, --generator-concurrency in flight) against the relay, a\n` +
          'near-free forwarder the command starts (a measurement fixture, not a broker: it keeps nothing), and\n' +
          `against a private Mosquitto (its ceiling); the generator at ${GENERATOR_RATE} ev/s (open model, the private\n` +
          'Mosquitto). Opt-in: bare, memory and redis through the relay (bare-relay, memory-relay, redis-relay),\n' +
          'where the broker is not the bound.\n' +
          'Then a second pass, interleaved too: each capacity variant in the open model at --at-capacity (0.5) of its own\n' +
          'median capacity, for its p99 there and its CPU per message at a fixed rate.\n' +
          'Then a third (--cost-rate, default auto: half the lowest capacity of the first pass): every capacity variant\n' +
          'at one and the same open-model rate, for what each costs per message, process by process, at the same work.\n' +
          'Needs Redis, PostgreSQL and the mosquitto binary, like the tests. Writes perf.md, perf.json and every\n' +
          "run's directory into --out.\n\n" +
          'Usage: $0 [--replicates 3] [--duration 10s] [--at-capacity 0.5|off] [--cost-rate auto|N|off] [--out DIR]\n\n' +
          'Exit codes: 0 it ran (a target not met is a finding, not a failure: read the target lines) · 2 bad flags ·\n' +
          '3 some run could not complete (e.g. Redis or PostgreSQL unreachable, mosquitto missing) · 130/143 interrupted by SIGINT/SIGTERM (the run under way stops and cleans up; no perf file is written)',
      )
      .options({
        replicates: { type: 'number', default: DEFAULT_PERF_REPLICATES, describe: 'rounds: runs per variant (medians need 3 or more)' },
        duration: { type: 'string', default: DEFAULT_PERF_DURATION, describe: 'measured time of each run, after its warm-up: 10s, 1m' },
        concurrency: { type: 'number', default: DEFAULT_PERF_CONCURRENCY, describe: 'events in flight in the closed-model runs of the capacity variants' },
        'generator-concurrency': {
          type: 'number',
          default: DEFAULT_PERF_GENERATOR_CONCURRENCY,
          describe: "events in flight in the generator-capacity variants (generator, generator-mosquitto): enough that the generator, not the closed model's round trip (about 12 ms: credits follow the consumer's counters, every 10 ms), sets the pace",
        },
        variants: { type: 'string', default: DEFAULT_PERF_VARIANTS.join(','), describe: `which variants to run, comma-separated (a target whose variants are not run is "not measured"); opt-in: ${PERF_VARIANTS.filter((v) => v.optional).map((v) => v.name).join(', ')} (the capacity variants through the relay, the broker out of the way)` },
        'at-capacity': { type: 'string', default: String(DEFAULT_PERF_AT_CAPACITY), describe: "second pass: each capacity variant again, open model, at this share of its own median capacity (a fraction in (0, 1]), for p99 and CPU per message there; off: no second pass" },
        'cost-rate': { type: 'string', default: DEFAULT_PERF_COST_RATE, describe: `third pass: every capacity variant again, open model, at this one rate (ev/s) for CPU per message of each process at the same work; auto: ${COST_RATE_AUTO_SHARE} × the lowest median capacity of the first pass, rounded down to 100 ev/s; off: no third pass` },
        out: { type: 'string', describe: 'directory for perf.md, perf.json and the runs (default reports/out/<time>-perf)' },
        quiet: { type: 'boolean', default: false, describe: 'no progress lines on stderr' },
      }),
  ).parseAsync();

  const problems: string[] = [];
  if (!Number.isInteger(args.replicates) || args.replicates < 1) problems.push(`--replicates must be an integer >= 1, got '${String(args.replicates)}'`);
  if (!Number.isInteger(args.concurrency) || args.concurrency < 1) problems.push(`--concurrency must be an integer >= 1, got '${String(args.concurrency)}'`);
  if (!Number.isInteger(args['generator-concurrency']) || args['generator-concurrency'] < 1) problems.push(`--generator-concurrency must be an integer >= 1, got '${String(args['generator-concurrency'])}'`);
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
  const costRate = parseCostRate(args['cost-rate'], problems);
  for (const name of names.filter((n) => !VARIANT_NAMES.includes(n))) problems.push(`--variants: unknown variant '${name}' (one of ${VARIANT_NAMES.join(', ')})`);
  if (problems.length > 0) throw new UsageError(problems.join('\nerror: '));

  const variants: PerfPlan['variants'] = [];
  for (const variant of PERF_VARIANTS.filter((v) => names.includes(v.name))) {
    const request = perfRequest(variant, durationS, variant.kind === 'generator-capacity' ? args['generator-concurrency'] : args.concurrency);
    const resolved = resolveRun(request);
    if (!resolved.ok) throw new UsageError(resolved.problems.map((p) => `variant '${variant.name}': ${p}`).join('\nerror: '));
    const { dedup: _dedup, broker, changes: _changes, optional: _optional, ...info } = variant;
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
    generator_concurrency: args['generator-concurrency'],
    variants,
    at_capacity: atCapacity,
    cost_rate: costRate,
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

/** The third pass's rate: derived from the capacity pass (auto) or given in ev/s. */
export type CostRate = { kind: 'auto' } | { kind: 'given'; rate_per_s: number };

/** --cost-rate: auto, a whole number of ev/s in [1, 1,000,000], or off (null); a bad value is added to problems. */
function parseCostRate(text: string, problems: string[]): CostRate | null {
  const word = text.trim().toLowerCase();
  if (word === 'off') return null;
  if (word === 'auto') return { kind: 'auto' };
  const rate = Number(word);
  if (word === '' || !Number.isInteger(rate) || rate < 1 || rate > COST_RATE_MAX) {
    problems.push(`--cost-rate must be auto, off or a whole number of ev/s from 1 to ${COST_RATE_MAX.toLocaleString('en-US')}, got '${text}'`);
    return null;
  }
  return { kind: 'given', rate_per_s: rate };
}

/**
 * The auto rate: COST_RATE_AUTO_SHARE of the lowest median capacity, rounded down to 100 ev/s (to
 * whole ev/s below 200), never under 1; and how it was found, in words. Pure.
 */
export function autoCostRate(capacities: readonly { variant: string; capacity_per_s: number }[]): { rate_per_s: number; basis: string } | null {
  if (capacities.length === 0) return null;
  const lowest = capacities.reduce((a, b) => (b.capacity_per_s < a.capacity_per_s ? b : a));
  const half = COST_RATE_AUTO_SHARE * lowest.capacity_per_s;
  const rate = Math.max(1, half >= 200 ? Math.floor(half / 100) * 100 : Math.floor(half));
  return { rate_per_s: rate, basis: `${percent(COST_RATE_AUTO_SHARE)} of the lowest capacity (${lowest.variant}, ${Math.round(lowest.capacity_per_s).toLocaleString('en-US')} ev/s), rounded down` };
}

/** A variant's request: dup-storm in the closed model with its aggregator, store and broker. */
function perfRequest(variant: (typeof PERF_VARIANTS)[number], durationS: number, concurrency: number): RunRequest {
  return {
    scenario: SCENARIO,
    flags: { model: 'closed', concurrency, duration: `${durationS}s`, ...(variant.dedup ? { dedup: variant.dedup } : {}) },
    changes: variant.changes ?? [],
    broker: variant.broker === 'embedded' ? 'embedded' : STARTED_BROKER_PLACEHOLDER,
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

/** The plan's capacity variants (those `include` keeps) with their median capacity in `runs` and `fraction` of it (compare's capacityRates). */
function capacityVariantRates(plan: PerfPlan, runs: CompareRun[], fraction: number, include: (name: string) => boolean) {
  const variants = plan.variants.filter(({ variant }) => variant.kind === 'capacity' && include(variant.name)).map(({ variant }) => ({ name: variant.name, value: variant.name, aggregator: variant.aggregator }));
  return capacityRates({ variants, runs }, fraction, () => true);
}

/** A capacity variant staged for an open-model pass at `rate` ev/s. */
type StagedArm = PerfArm & { rate: number };

/**
 * Stages each capacity variant of the plan at the rate `rateOf` gives it, for an open-model pass; a
 * variant with no valid capacity run in `runs` (or whose rate cannot be resolved) is skipped, with
 * a line saying why (`where`: "at 50% of capacity").
 */
function stageOpenPass(plan: PerfPlan, runs: CompareRun[], where: string, dirSuffix: string, rateOf: (variant: string) => number | undefined, label: (variant: string, rate: number) => string, log: (line: string) => void) {
  const staged: StagedArm[] = [];
  const skipped: PerfAtCapacity['skipped'] = [];
  for (const { variant, request, run } of plan.variants.filter((v) => v.variant.kind === 'capacity')) {
    const own = runs.filter((r) => r.variant === variant.name);
    const rate = rateOf(variant.name);
    let reason: string | undefined;
    if (!own.some((r) => r.valid)) {
      const errored = own.filter((r) => r.error !== null).length;
      reason = `no valid run in the capacity pass (${own.length - errored} invalid, ${errored} could not complete)`;
    } else if (rate === undefined) {
      reason = 'no capacity measured (it committed nothing)';
    } else {
      const resolved = resolveRun(atRate(request, rate, warmupPhases(run.scenario)));
      if (resolved.ok) staged.push({ label: label(variant.name, rate), dir: `${variant.name}-${dirSuffix}`, variant, run: resolved.run, rate });
      else reason = `${rate} ev/s cannot run: ${resolved.problems.join('; ')}`;
    }
    if (reason !== undefined) {
      skipped.push({ variant: variant.name, reason });
      log(`${variant.name}: not run ${where}: ${reason}`);
    }
  }
  return { staged, skipped };
}

/** Runs the staged arms, --replicates rounds, interleaved, numbered on from the `done` runs before. */
async function runOpenPass(plan: PerfPlan, staged: StagedArm[], done: number, heading: string, log: (line: string) => void, deps: PerfDeps) {
  const count = staged.length * plan.replicates;
  const total = done + count;
  if (count > 0) log(`${heading}: ${staged.map((s) => `${s.variant.name} ${s.rate} ev/s`).join(', ')} × ${plan.replicates} = ${count} runs, interleaved`);
  const outcome = await runCampaign(
    { arms: staged, replicates: plan.replicates, out_dir: plan.out_dir, numbering: { first: done + 1, total } },
    { run: deps.run, progress: deps.progress, warn: log, live: false, done: (run) => log(runLine({ ...perfRun(run), variant: run.arm.label }, total, plan.replicates)), ...(deps.signal ? { signal: deps.signal } : {}) },
  );
  if (outcome.interrupted !== undefined) throw new CampaignInterrupted(outcome.interrupted, done + outcome.runs.length, total, 'perf.md', plan.out_dir);
  return { runs: outcome.runs.map(perfRun), machine: outcome.machine, git_sha: outcome.git_sha };
}

/**
 * The second pass: each capacity variant of the plan in the open model at `fraction` of its median
 * committed ev/s in the capacity pass (`runs`), numbered on from the capacity pass's `done` runs.
 */
async function runAtCapacity(plan: PerfPlan, fraction: number, runs: CompareRun[], done: number, log: (line: string) => void, deps: PerfDeps) {
  const pct = percent(fraction);
  const rates = capacityVariantRates(plan, runs, fraction, () => true);
  const rateOf = (name: string) => rates.find((r) => r.variant === name)?.rate_per_s;
  const { staged, skipped } = stageOpenPass(plan, runs, `at ${pct} of capacity`, `at${Math.round(fraction * 100)}`, rateOf, (name, rate) => `${name} at ${pct} (${rate} ev/s)`, log);
  const pass = await runOpenPass(plan, staged, done, `pass 2, at ${pct} of each variant's capacity (open model)`, log, deps);
  const at: PerfAtCapacity = { fraction, rates: rates.filter((r) => staged.some((s) => s.variant.name === r.variant)), runs: pass.runs, skipped };
  return { at, machine: pass.machine, git_sha: pass.git_sha };
}

/**
 * The third pass: every capacity variant of the plan in the open model at one rate, given or (auto)
 * derived from the capacity pass's medians (the variants with a valid run), numbered on from `done`.
 * Null when auto finds no capacity to derive it from (said in a line).
 */
async function runAtOneRate(plan: PerfPlan, cost: CostRate, runs: CompareRun[], done: number, log: (line: string) => void, deps: PerfDeps) {
  const capacities = capacityVariantRates(plan, runs, 1, (name) => runs.some((r) => r.variant === name && r.valid));
  const chosen = cost.kind === 'given' ? { rate_per_s: cost.rate_per_s, basis: `--cost-rate ${cost.rate_per_s}` } : autoCostRate(capacities);
  if (chosen === null) {
    log('pass 3 not run: --cost-rate auto needs a capacity, and no capacity variant has a valid run with one');
    return undefined;
  }
  const rate = chosen.rate_per_s;
  const { staged, skipped } = stageOpenPass(plan, runs, `at ${rate} ev/s`, `cost${rate}`, () => rate, (name) => `${name} at ${rate} ev/s`, log);
  const pass = await runOpenPass(plan, staged, done, `pass 3, every capacity variant at ${rate} ev/s (${chosen.basis}; open model)`, log, deps);
  const at: PerfAtRate = { rate_per_s: rate, basis: chosen.basis, variants: staged.map((s) => s.variant.name), runs: pass.runs, skipped };
  return { at, machine: pass.machine, git_sha: pass.git_sha };
}

/** Runs the plan (the relay and a private Mosquitto for the generator variants), writes perf.json and perf.md, returns the report and the exit code. */
export async function runPerf(plan: PerfPlan, deps: PerfDeps = {}): Promise<{ report: PerfReport; exit: number }> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const started = now();
  makeDirectory(plan.out_dir);
  let mosquitto: MosquittoBroker | undefined;
  let relay: Relay | undefined;
  const forget: (() => void)[] = [];
  try {
    // Neither is a run's child (no registry file names it): a second Ctrl-C must not leave it running.
    if (plan.variants.some((v) => v.broker === 'mosquitto')) {
      const broker = (mosquitto = await startMosquitto({ maxQueuedMessages: 0, maxInflightMessages: 0 }));
      forget.push(killOnExit(() => broker.pid));
    }
    if (plan.variants.some((v) => v.broker === 'relay')) {
      const broker = (relay = await startRelay());
      forget.push(killOnExit(() => broker.pid));
    }
    const ownBrokers: Partial<Record<PerfBroker, { url: string; pid: number | undefined }>> = { ...(mosquitto ? { mosquitto } : {}), ...(relay ? { relay } : {}) };
    const total = plan.variants.length * plan.replicates;
    const hasCapacity = plan.variants.some((v) => v.variant.kind === 'capacity');
    const second = plan.at_capacity !== null && hasCapacity;
    const third = plan.cost_rate !== null && hasCapacity;
    log(
      `chaosbench perf: pass 1, capacity: ${plan.variants.map((v) => v.variant.name).join(', ')} × ${plan.replicates} replicates = ${total} runs, interleaved · ${plan.duration_s} s each · out ${plan.out_dir}` +
        (second ? ` · then pass 2: each capacity variant at ${percent(plan.at_capacity!)} of its capacity, ${plan.replicates} rounds` : '') +
        (third ? ` · then pass 3: every capacity variant at ${plan.cost_rate!.kind === 'given' ? `${plan.cost_rate!.rate_per_s} ev/s` : `one rate (${percent(COST_RATE_AUTO_SHARE)} of the lowest capacity)`}, ${plan.replicates} rounds` : ''),
    );
    const outcome = await runCampaign(
      {
        // The private Mosquitto's and the relay's CPU is measured as the broker's (by pid), like the embedded broker's.
        arms: plan.variants.map(({ variant, broker, run }) => {
          const own = ownBrokers[broker];
          return { label: variant.name, dir: variant.name, variant, run: own ? { ...run, broker: own.url, ...(own.pid !== undefined ? { external_broker_pid: own.pid } : {}) } : run };
        }),
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
    // Interrupted: no perf table is written (the runs' own files are whole); the private Mosquitto and the relay stop below.
    if (outcome.interrupted !== undefined) throw new CampaignInterrupted(outcome.interrupted, outcome.runs.length, total, 'perf.md', plan.out_dir);
    const runs = outcome.runs.map(perfRun);
    const pass2 = second ? await runAtCapacity(plan, plan.at_capacity!, runs, total, log, deps) : undefined;
    const pass3 = third ? await runAtOneRate(plan, plan.cost_rate!, runs, total + (pass2?.at.runs.length ?? 0), log, deps) : undefined;
    const report: PerfReport = {
      schema: PERF_SCHEMA,
      command: plan.command,
      replicates: plan.replicates,
      duration_s: plan.duration_s,
      concurrency: plan.concurrency,
      generator_concurrency: plan.generator_concurrency,
      generator_rate: GENERATOR_RATE,
      variants: plan.variants.map((v) => v.variant),
      runs,
      machine: outcome.machine ?? pass2?.machine ?? pass3?.machine ?? null,
      git_sha: outcome.git_sha ?? pass2?.git_sha ?? pass3?.git_sha ?? 'unknown',
      started_at: started.toISOString(),
      finished_at: now().toISOString(),
      ...(pass2 ? { at_capacity: pass2.at } : {}),
      ...(pass3 ? { at_rate: pass3.at } : {}),
    };
    writeFileWhole(join(plan.out_dir, 'perf.json'), `${JSON.stringify(redactDeep(report), null, 2)}\n`);
    writeFileWhole(join(plan.out_dir, 'perf.md'), renderPerf(report));
    return { report, exit: [...runs, ...(pass2?.at.runs ?? []), ...(pass3?.at.runs ?? [])].every((r) => r.error === null) ? EXIT.ok : EXIT.invalid_run };
  } finally {
    await Promise.all([mosquitto?.stop().catch(() => {}), relay?.stop().catch(() => {})]);
    for (const f of forget) f();
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
