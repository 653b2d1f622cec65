// Reading a result.json back, shared by `npm run report` and `npm run merge`: where a DIR
// argument's result.json is (resultPathOf), parsing it (readResultJson) and whether it is of this
// schema at all (schemaProblem); each command words those problems its own way. For a command that
// computes on the figures (merge), readPart also checks every field it uses, names every problem
// with its path, all at once, and decodes the HDR histograms; report does not, so that an older or
// damaged file still renders what it can. Nothing here writes, and nothing throws on a bad file:
// bad input is the caller's exit 2, never a stack trace.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AggregatorCounters } from '../aggregator/pipeline.ts';
import { BACKLOG_SOURCES } from './metrics/backlog.ts';
import { LatencyRecorder } from './metrics/histogram.ts';
import { DRAIN_COUNTS, RESULT_SCHEMA, type RunResult } from './result.ts';
import { redactDeep, redactPasswords } from '../aggregator/redact.ts';

/** A result.json parsed, checked and its histograms decoded. */
export interface ResultPart {
  /** Where it came from (the path of its result.json), for messages and the report. */
  label: string;
  result: RunResult;
  end_to_end: LatencyRecorder;
  publish_ack: LatencyRecorder;
  phases: LatencyRecorder[];
}

/** The result.json a command's DIR argument names: DIR/result.json, or the file itself. */
export function resultPathOf(target: string): string {
  return existsSync(target) && statSync(target).isFile() ? target : join(target, 'result.json');
}

/** Why a parsed file is not a result.json at all (before any field is looked at). */
export type SchemaProblem = { kind: 'not_object'; got: unknown } | { kind: 'schema'; got: unknown };

/**
 * Reads and parses one result.json; the caller has checked that it exists. Any URL's password is
 * *** in what it gives (a file written before results were redacted), so that what report and
 * merge write from it never holds one.
 */
export function readResultJson(path: string): { parsed: unknown; notJson?: undefined } | { notJson: string } {
  try {
    return { parsed: redactDeep(JSON.parse(readFileSync(path, 'utf8')) as unknown) };
  } catch (error) {
    return { notJson: redactPasswords((error as Error).message) };
  }
}

/** Whether parsed JSON is an object of this schema (undefined: it is). */
export function schemaProblem(parsed: unknown): SchemaProblem | undefined {
  if (!isObject(parsed)) return { kind: 'not_object', got: parsed };
  return parsed.schema === RESULT_SCHEMA ? undefined : { kind: 'schema', got: parsed.schema };
}

type Totals = RunResult['totals'];

/** Every ledger figure: all required numbers (the type keeps this list whole). */
const TOTALS_FIELDS = {
  published: 1, acked_by_broker: 1, copies_published: 1, copies_acked: 1, copies_absorbed: 1, unique_committed: 1, lost: 1,
  dead_lettered: 1, lost_unacked: 1, never_sent: 1, sink_duplicates: 1, absorbed_by_sink: 1, unexpected: 1, reordered: 1,
  max_reorder_displacement: 1, dlq: 1, publish_errors: 1, puback_timeouts: 1, errors: 1,
} as const satisfies Record<keyof Totals, 1>;
/** The aggregator's counters: required numbers, but the dedup store's size, which a store may not tell. */
const COUNTER_FIELDS = {
  received: 1, broker_redeliveries: 1, redelivered: 1, duplicates_absorbed: 1, duplicates_absorbed_by_sink: 1, committed: 1,
  dlq: 1, retries: 1, errors: 1, claim_failures: 1, batches: 1, acked: 1, dedup_store: 0, dlq_over_budget: 0,
} as const satisfies Record<keyof AggregatorCounters, 0 | 1>;
const COUNTER_NUMBERS = Object.entries(COUNTER_FIELDS).flatMap(([key, required]) => (required === 1 ? [key] : []));

const GENERATOR_NUMBERS = ['workers', 'publishers', 'lag_p99_ms', 'lag_max_ms', 'window_waits', 'unsettled', 'rss_peak_mb'] as const;
const PHASE_NUMBERS = ['duration_s', 'target_rate', 'offered_per_s', 'published', 'unique_committed', 'lost'] as const;
/** Phase figures older result files may lack; they count as 0. */
const PHASE_OPTIONAL_NUMBERS = ['sink_duplicates', 'retries', 'redelivered', 'dropped', 'dropped_window_full', 'lag_p99_ms', 'lag_max_ms'] as const;

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
// JSON.stringify writes Infinity and NaN (1e999 in a file parses as Infinity) as null: name them as they are.
const described = (value: unknown) => (value === undefined ? 'missing' : `got ${typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value)?.slice(0, 60) ?? String(value))}`);

/**
 * Checks the parsed JSON of one result.json and decodes its histograms. Returns every problem at
 * once, each as `<label>: <field path> <what is wrong>`, or the part ready to merge.
 */
export function readPart(label: string, parsed: unknown): { part: ResultPart; errors: [] } | { part?: undefined; errors: string[] } {
  const errors: string[] = [];
  const fail = (path: string, what: string, value: unknown) => errors.push(`${label}: ${path} ${what} (${described(value)})`);
  const problem = schemaProblem(parsed);
  if (problem?.kind === 'schema') return { errors: [`${label}: schema must be ${RESULT_SCHEMA} (${described(problem.got)})`] };
  if (problem || !isObject(parsed)) return { errors: [`${label}: not a result.json object (${described(parsed)})`] };

  const number = (path: string, value: unknown) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'must be a number', value);
  };
  const string = (path: string, value: unknown) => {
    if (typeof value !== 'string') fail(path, 'must be a string', value);
  };
  const boolean = (path: string, value: unknown) => {
    if (typeof value !== 'boolean') fail(path, 'must be true or false', value);
  };
  const object = (path: string, value: unknown): Record<string, unknown> => {
    if (isObject(value)) return value;
    fail(path, 'must be an object', value);
    return {};
  };
  const array = (path: string, value: unknown): unknown[] => {
    if (Array.isArray(value)) return value;
    fail(path, 'must be an array', value);
    return [];
  };
  const histogram = (path: string, value: unknown): LatencyRecorder => {
    const latency = object(path, value);
    number(`${path}.count`, latency.count);
    if (typeof latency.histogram !== 'string' || latency.histogram === '') {
      fail(`${path}.histogram`, 'must be a compressed base64 HDR histogram', latency.histogram);
      return new LatencyRecorder();
    }
    try {
      const recorder = LatencyRecorder.decode(latency.histogram);
      // A histogram that disagrees with its own summary was damaged or edited: merging it would
      // silently change the figures.
      if (typeof latency.count === 'number' && recorder.count !== latency.count) {
        errors.push(`${label}: ${path}.histogram holds ${recorder.count} samples but ${path}.count says ${latency.count}`);
      }
      return recorder;
    } catch (error) {
      errors.push(`${label}: ${path}.histogram is ${(error as Error).message}`);
      return new LatencyRecorder();
    }
  };

  string('run_id', parsed.run_id);
  if (typeof parsed.started_at !== 'string' || Number.isNaN(Date.parse(parsed.started_at))) fail('started_at', 'must be an ISO 8601 time', parsed.started_at);
  number('seed', parsed.seed);
  string('git_sha', parsed.git_sha);
  number('duration_s', parsed.duration_s);
  const scenario = object('scenario', parsed.scenario);
  string('scenario.name', scenario.name);
  const scenarioPhases = array('scenario.phases', scenario.phases);
  array('scenario.checks', scenario.checks);
  object('scenario.load', scenario.load);
  object('overrides', parsed.overrides);
  object('machine', parsed.machine);
  object('versions', parsed.versions);
  const broker = object('broker', parsed.broker);
  if (broker.kind !== 'embedded' && broker.kind !== 'external') fail('broker.kind', "must be 'embedded' or 'external'", broker.kind);
  string('broker.url', broker.url);
  // Optional: results written before --sink have none, and a bare subscriber has no sink.
  if (parsed.sink !== undefined) {
    const sink = object('sink', parsed.sink);
    if (sink.kind !== 'sqlite' && sink.kind !== 'postgres') fail('sink.kind', "must be 'sqlite' or 'postgres'", sink.kind);
    string('sink.url', sink.url);
  }
  const aggregator = object('aggregator', parsed.aggregator);
  if (aggregator.kind !== 'reference' && aggregator.kind !== 'none' && aggregator.kind !== 'external') fail('aggregator.kind', "must be 'reference', 'none' or 'external'", aggregator.kind);
  string('aggregator.claim_order', aggregator.claim_order);
  // Your own consumer (kind 'external'): what the report shows of it.
  if (aggregator.target !== undefined) {
    const target = object('aggregator.target', aggregator.target);
    const command = array('aggregator.target.command', target.command);
    if (command.length === 0 || !command.every((word) => typeof word === 'string')) fail('aggregator.target.command', 'must be a non-empty list of strings', target.command);
    if (target.sink !== 'reference-schema' && target.sink !== 'query') fail('aggregator.target.sink', "must be 'reference-schema' or 'query'", target.sink);
    boolean('aggregator.target.commit_time', target.commit_time);
    number('aggregator.target.restarts', target.restarts);
    array('aggregator.target.unexpected_exits', target.unexpected_exits);
  }
  const counters = object('aggregator.self_reported', aggregator.self_reported);
  for (const key of COUNTER_NUMBERS) number(`aggregator.self_reported.${key}`, counters[key]);
  const totals = object('totals', parsed.totals);
  for (const key of Object.keys(TOTALS_FIELDS)) number(`totals.${key}`, totals[key]);
  const throughput = object('throughput', parsed.throughput);
  for (const key of ['target_per_s', 'offered_per_s', 'committed_per_s']) number(`throughput.${key}`, throughput[key]);
  const generator = object('generator', parsed.generator);
  for (const key of GENERATOR_NUMBERS) number(`generator.${key}`, generator[key]);
  const drain = object('drain', parsed.drain);
  number('drain.drain_s', drain.drain_s);
  boolean('drain.complete', drain.complete);
  number('drain.outstanding', drain.outstanding);
  if (drain.stopped !== 'done' && drain.stopped !== 'stalled' && drain.stopped !== 'timeout') fail('drain.stopped', "must be 'done', 'stalled' or 'timeout'", drain.stopped);
  // Optional: results written before it was recorded say nothing of what the drain counted.
  if (drain.counted !== undefined && !(DRAIN_COUNTS as readonly unknown[]).includes(drain.counted)) {
    fail('drain.counted', `must be one of ${DRAIN_COUNTS.map((s) => `'${s}'`).join(', ')}`, drain.counted);
  }
  const latency = object('latency', parsed.latency);
  const endToEnd = histogram('latency.end_to_end', latency.end_to_end);
  const publishAck = histogram('latency.publish_ack', latency.publish_ack);
  const phases = array('phases', parsed.phases);
  if (Array.isArray(scenario.phases) && phases.length !== scenarioPhases.length) {
    errors.push(`${label}: phases has ${phases.length} entries but scenario.phases has ${scenarioPhases.length}`);
  }
  const phaseRecorders = phases.map((value, i) => {
    const phase = object(`phases[${i}]`, value);
    string(`phases[${i}].name`, phase.name);
    for (const key of PHASE_NUMBERS) number(`phases[${i}].${key}`, phase[key]);
    for (const key of PHASE_OPTIONAL_NUMBERS) if (phase[key] !== undefined) number(`phases[${i}].${key}`, phase[key]);
    boolean(`phases[${i}].excluded_from_totals`, phase.excluded_from_totals);
    return histogram(`phases[${i}].latency`, phase.latency);
  });
  if (parsed.recovery_s !== undefined) number('recovery_s', parsed.recovery_s);
  if (parsed.timeline !== undefined) array('timeline', parsed.timeline);
  // Optional: results written before it was recorded have none (their backlog was self-reported).
  if (parsed.backlog_source !== undefined && !(BACKLOG_SOURCES as readonly unknown[]).includes(parsed.backlog_source)) {
    fail('backlog_source', `must be ${BACKLOG_SOURCES.map((s) => `'${s}'`).join(' or ')}`, parsed.backlog_source);
  }
  if (parsed.commits_per_second !== undefined) array('commits_per_second', parsed.commits_per_second);
  array('faults', parsed.faults);
  array('checks', parsed.checks);
  boolean('valid', parsed.valid);
  boolean('passed', parsed.passed);
  array('invalid_reasons', parsed.invalid_reasons);
  array('findings', parsed.findings);
  // Optional: results written before it was recorded (or where there is no /proc) have no cost section.
  if (parsed.cost !== undefined) {
    const cost = object('cost', parsed.cost);
    number('cost.messages', cost.messages);
    number('cost.clock_ticks_per_s', cost.clock_ticks_per_s);
    array('cost.processes', cost.processes).forEach((value, i) => {
      const row = object(`cost.processes[${i}]`, value);
      string(`cost.processes[${i}].role`, row.role);
      number(`cost.processes[${i}].cpu_s`, row.cpu_s);
      number(`cost.processes[${i}].incarnations`, row.incarnations);
      if (row.startup_cpu_s !== undefined) number(`cost.processes[${i}].startup_cpu_s`, row.startup_cpu_s);
      if (row.after_load_cpu_s !== undefined) number(`cost.processes[${i}].after_load_cpu_s`, row.after_load_cpu_s);
      if (row.load_cores !== undefined) number(`cost.processes[${i}].load_cores`, row.load_cores);
      if (row.load_wait_share !== undefined) number(`cost.processes[${i}].load_wait_share`, row.load_wait_share);
    });
    const harness = object('cost.harness_process', cost.harness_process);
    number('cost.harness_process.cpu_s', harness.cpu_s);
    if (harness.startup_cpu_s !== undefined) number('cost.harness_process.startup_cpu_s', harness.startup_cpu_s);
    if (harness.after_load_cpu_s !== undefined) number('cost.harness_process.after_load_cpu_s', harness.after_load_cpu_s);
    if (cost.load_wall_s !== undefined) number('cost.load_wall_s', cost.load_wall_s);
    if (cost.harness_busiest !== undefined) {
      const busiest = object('cost.harness_busiest', cost.harness_busiest);
      string('cost.harness_busiest.role', busiest.role);
      for (const key of ['cores', 'wait_share', 'busy_share'] as const) number(`cost.harness_busiest.${key}`, busiest[key]);
    }
  }
  // Optional: present only in a run interrupted by a signal (its figures are partial).
  if (parsed.interrupted !== undefined) {
    const interrupted = object('interrupted', parsed.interrupted);
    string('interrupted.signal', interrupted.signal);
    number('interrupted.at_s', interrupted.at_s);
  }
  if (parsed.shard !== undefined) {
    const shard = object('shard', parsed.shard);
    if (!Number.isInteger(shard.count) || (shard.count as number) < 1) fail('shard.count', 'must be an integer >= 1', shard.count);
    else if (!Number.isInteger(shard.index) || (shard.index as number) < 1 || (shard.index as number) > (shard.count as number)) {
      fail('shard.index', `must be an integer in 1..${String(shard.count)}`, shard.index);
    }
  }
  if (errors.length > 0) return { errors };
  return { part: { label, result: parsed as unknown as RunResult, end_to_end: endToEnd, publish_ack: publishAck, phases: phaseRecorders }, errors: [] };
}
