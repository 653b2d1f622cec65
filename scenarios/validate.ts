// Validation of scenario data: every error at once, each with its path. Nothing here has side
// effects; the harness calls it before starting any process and exits 2 when it returns errors.

import { CHECK_METRICS, CHECK_OPS, MAX_WAKE_INTERVAL_MS, MIN_MAX_PUBLISH_BYTES, MQTT_MAX_REMAINING_LENGTH, COMMIT_TIME_UNITS, DUPLICATE_DELAY_DISTRIBUTIONS, TARGET_STOP_SIGNALS, POISON_SHAPES, type FaultKind, type FaultSpec, type PoisonShape, type Scenario, type Check } from './schema.ts';
import { parseThreshold } from './k6-threshold.ts';
import { checkScenarioSettings, SCENARIO_SETTING_NAMES } from '../aggregator/config.ts';
import type { DedupSpec } from '../aggregator/dedup/registry.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../aggregator/event/types.ts';

/**
 * What the harness's event payload adds around `load.payload_bytes` filler bytes: it publishes
 * `{"data":"xxx…"}` (engine/load/worker.ts), and the aggregator limits the payload as serialized.
 */
export const PAYLOAD_WRAPPER_BYTES = JSON.stringify({ data: '' }).length;
/** The most filler bytes whose events the reference aggregator (started with its default limit) accepts. */
export const MAX_FILLER_BYTES = DEFAULT_MAX_PAYLOAD_BYTES - PAYLOAD_WRAPPER_BYTES;

type Errors = string[];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The upper bound of each kind of number (docs/scenarios-and-faults.md, "Ranges"): past them a run
 * would not end within a day, or a count would not fit the harness's memory.
 */
export const LIMITS = {
  /** A phase, a drain, a fault's at_s and every_s. */
  seconds: 86_400,
  /** Delays, timeouts, lags, downtimes, clock skews (either sign). */
  ms: 86_400_000,
  /** An arrival rate, events/s over all publishers (a ramp's ends too); a bandwidth, KB/s. */
  rate: 10_000_000,
  /** Closed-model concurrency, the window, a slicer's sizes. */
  count: 1_000_000,
} as const;

/**
 * Every number is finite (JSON's 1e999 and YAML's .inf read as Infinity, .nan as NaN), passes
 * `test` (worded `rule`) and is at most `max` (a LIMITS value).
 */
function number(errors: Errors, path: string, value: unknown, test: (n: number) => boolean, rule: string, max: number): void {
  const problem = numberProblem(value, test, rule, max);
  if (problem) errors.push(`${path} ${problem}`);
}

function numberProblem(value: unknown, test: (n: number) => boolean, rule: string, max: number): string | undefined {
  if (typeof value !== 'number' || Number.isNaN(value)) return `must be a number, got ${JSON.stringify(value)}`;
  if (!Number.isFinite(value)) return `must be a finite number, got ${value}`;
  if (!test(value)) return `must be ${rule}, got ${value}`;
  if (value > max) return `must be at most ${max}, got ${value}`;
  return undefined;
}

const positive = (n: number) => n > 0;
const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
const nonNegative = (n: number) => n >= 0;
const nonNegativeInt = (n: number) => Number.isInteger(n) && n >= 0;
const probability = (n: number) => n >= 0 && n <= 1;

/**
 * A scenario's name goes into the output directory's name, MQTT topics and client ids: letters,
 * digits, '.', '_' and '-', starting with a letter or digit (so no '/', '..', '+', '#' or space).
 */
export const SCENARIO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function string(errors: Errors, path: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) errors.push(`${path} must be a non-empty string`);
}

function unknownFields(errors: Errors, path: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) errors.push(`${path ? `${path}.` : ''}${key} is not a known field (known: ${known.join(', ')})`);
  }
}

/**
 * The scenario checked in full. `dedup` is its dedup store as the aggregator parses it, given whenever
 * that field is valid (on failure too, so that a caller can check it against a sink beside the other
 * errors): the harness passes it on rather than parsing the text again.
 */
export type ScenarioValidation = { ok: true; scenario: Scenario; dedup: DedupSpec } | { ok: false; errors: string[]; dedup?: DedupSpec };

export function validateScenario(input: unknown): ScenarioValidation {
  const errors: Errors = [];
  let dedup: DedupSpec | undefined;
  if (!isObject(input)) return { ok: false, errors: ['scenario must be an object'] };
  unknownFields(errors, '', input, ['name', 'description', 'seed', 'load', 'phases', 'aggregator', 'broker', 'drain_timeout_s', 'checks', 'target']);
  if (input.target !== undefined) validateTarget(errors, input.target);
  if (input.broker !== undefined) {
    if (!isObject(input.broker)) errors.push('broker must be an object');
    else {
      unknownFields(errors, 'broker', input.broker, ['persistence', 'max_publish_bytes']);
      if (input.broker.persistence !== undefined && input.broker.persistence !== 'memory' && input.broker.persistence !== 'redis') {
        errors.push(`broker.persistence must be 'memory' or 'redis', got ${JSON.stringify(input.broker.persistence)}`);
      }
      if (input.broker.max_publish_bytes !== undefined) {
        const atLeast = (n: number) => Number.isInteger(n) && n >= MIN_MAX_PUBLISH_BYTES;
        number(errors, 'broker.max_publish_bytes', input.broker.max_publish_bytes, atLeast, `an integer of bytes >= ${MIN_MAX_PUBLISH_BYTES} (128 KiB: the harness's own messages stay under it)`, MQTT_MAX_REMAINING_LENGTH);
      }
    }
  }
  string(errors, 'name', input.name);
  if (typeof input.name === 'string' && input.name !== '' && !SCENARIO_NAME.test(input.name)) {
    errors.push(`name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names the output directory, MQTT topics and client ids), got ${JSON.stringify(input.name)}`);
  }
  if (typeof input.description !== 'string') errors.push('description must be a string');
  number(errors, 'seed', input.seed, (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff, 'an integer in [0, 2^32)', 0xffffffff);
  number(errors, 'drain_timeout_s', input.drain_timeout_s, positive, '> 0', LIMITS.seconds);

  const load = input.load;
  if (!isObject(load)) errors.push('load must be an object');
  else {
    unknownFields(errors, 'load', load, ['model', 'concurrency', 'publishers', 'workers', 'payload_bytes', 'topics', 'window', 'puback_timeout_ms', 'max_lag_ms', 'wake_interval_ms', 'qos']);
    if (load.model !== 'open' && load.model !== 'closed') errors.push(`load.model must be 'open' or 'closed', got ${JSON.stringify(load.model)}`);
    number(errors, 'load.concurrency', load.concurrency, positiveInt, 'a positive integer', LIMITS.count);
    number(errors, 'load.publishers', load.publishers, (n) => positiveInt(n) && n <= 256, 'an integer in [1, 256]', 256);
    number(errors, 'load.workers', load.workers, (n) => positiveInt(n) && n <= 16, 'an integer in [1, 16]', 16);
    if (positiveInt(load.workers as number) && positiveInt(load.publishers as number) && (load.workers as number) > (load.publishers as number)) {
      errors.push(`load.workers must be <= load.publishers (${String(load.publishers)}): each worker runs at least one publisher, got ${String(load.workers)}`);
    }
    number(errors, 'load.payload_bytes', load.payload_bytes, nonNegativeInt, 'an integer >= 0', Number.MAX_SAFE_INTEGER);
    // Larger events would all be dead-lettered by the aggregator: a run of nothing but lost events.
    if (nonNegativeInt(load.payload_bytes as number) && (load.payload_bytes as number) > MAX_FILLER_BYTES) {
      errors.push(
        `load.payload_bytes must be at most ${MAX_FILLER_BYTES}, got ${String(load.payload_bytes)}: each event's payload would be ${(load.payload_bytes as number) + PAYLOAD_WRAPPER_BYTES} bytes serialized, over the aggregator's max_payload_bytes of ${DEFAULT_MAX_PAYLOAD_BYTES}, so it would dead-letter every event`,
      );
    }
    number(errors, 'load.topics', load.topics, (n) => positiveInt(n) && n <= 10_000, 'an integer in [1, 10000]', 10_000);
    number(errors, 'load.window', load.window, positiveInt, 'a positive integer', LIMITS.count);
    number(errors, 'load.puback_timeout_ms', load.puback_timeout_ms, positiveInt, 'a positive integer', LIMITS.ms);
    if (load.max_lag_ms !== undefined) number(errors, 'load.max_lag_ms', load.max_lag_ms, positiveInt, 'a positive integer', LIMITS.ms);
    if (load.wake_interval_ms !== undefined) number(errors, 'load.wake_interval_ms', load.wake_interval_ms, positiveInt, 'a positive integer (ms)', MAX_WAKE_INTERVAL_MS);
    if (load.qos !== undefined && load.qos !== 0 && load.qos !== 1) errors.push(`load.qos must be 0 or 1, got ${JSON.stringify(load.qos)}`);
  }

  if (!Array.isArray(input.phases) || input.phases.length === 0) errors.push('phases must be a non-empty array');
  else {
    input.phases.forEach((phase: unknown, i: number) => {
      const path = `phases[${i}]`;
      if (!isObject(phase)) return errors.push(`${path} must be an object`);
      unknownFields(errors, path, phase, ['name', 'duration_s', 'rate', 'faults']);
      string(errors, `${path}.name`, phase.name);
      number(errors, `${path}.duration_s`, phase.duration_s, positive, '> 0', LIMITS.seconds);
      if (isObject(phase.rate)) {
        unknownFields(errors, `${path}.rate`, phase.rate, ['from', 'to']);
        number(errors, `${path}.rate.from`, phase.rate.from, nonNegative, '>= 0', LIMITS.rate);
        number(errors, `${path}.rate.to`, phase.rate.to, nonNegative, '>= 0', LIMITS.rate);
        const { from, to } = phase.rate as { from: unknown; to: unknown };
        if (from === 0 && to === 0) errors.push(`${path}.rate must not ramp from 0 to 0`);
      } else number(errors, `${path}.rate`, phase.rate, positive, '> 0', LIMITS.rate);
      if (!Array.isArray(phase.faults)) return errors.push(`${path}.faults must be an array`);
      phase.faults.forEach((fault: unknown, j: number) => validateFault(errors, `${path}.faults[${j}]`, fault));
      return undefined;
    });
  }

  const aggregator = input.aggregator;
  if (!isObject(aggregator)) errors.push('aggregator must be an object');
  else {
    unknownFields(errors, 'aggregator', aggregator, SCENARIO_SETTING_NAMES);
    // The aggregator's own rules for its settings, named by the scenario's path.
    const checked = checkScenarioSettings(aggregator, 'aggregator');
    errors.push(...checked.problems);
    dedup = checked.dedup;
  }

  // A check in k6's threshold syntax becomes metric, op and value here (keeping `threshold`), so that
  // everything after the validator sees one shape; a check already read that way reads the same again.
  const checks: Check[] = [];
  if (!Array.isArray(input.checks)) errors.push('checks must be an array');
  else {
    input.checks.forEach((check: unknown, i: number) => {
      const path = `checks[${i}]`;
      if (!isObject(check)) return errors.push(`${path} must be an object`);
      unknownFields(errors, path, check, ['metric', 'op', 'value', 'threshold']);
      if (check.threshold !== undefined) {
        const parsed = parseThreshold(path, check.metric, check.threshold);
        if (!parsed.ok) return errors.push(...parsed.problems);
        const { op, value } = parsed.check;
        if ((check.op !== undefined && check.op !== op) || (check.value !== undefined && check.value !== value)) {
          return errors.push(`${path}: give either threshold or op and value (threshold '${parsed.check.threshold}' says ${op} ${value})`);
        }
        return checks.push(parsed.check);
      }
      if (!CHECK_METRICS.includes(check.metric as never)) {
        errors.push(`${path}.metric must be one of ${CHECK_METRICS.join(', ')}, got ${JSON.stringify(check.metric)}`);
      }
      if (!CHECK_OPS.includes(check.op as never)) errors.push(`${path}.op must be one of ${CHECK_OPS.join(' ')}, got ${JSON.stringify(check.op)}`);
      number(errors, `${path}.value`, check.value, Number.isFinite, 'finite', Number.MAX_VALUE);
      return checks.push(check as unknown as Check);
    });
  }
  if (errors.length > 0 || !dedup) return { ok: false, errors, ...(dedup ? { dedup } : {}) };
  return { ok: true, scenario: { ...input, checks } as unknown as Scenario, dedup };
}

/** The target section (schema.ts ScenarioTarget): shape only; what its faults need is engine/target/needs.ts's to say. */
export function validateTarget(errors: Errors, target: unknown): void {
  if (!isObject(target)) {
    errors.push('target must be an object');
    return;
  }
  unknownFields(errors, 'target', target, ['command', 'env', 'ready', 'ready_timeout_ms', 'stop_signal', 'stop_grace_ms', 'sink']);
  const { command, env, ready, sink } = target;
  if (!Array.isArray(command) || command.length === 0 || !command.every((word) => typeof word === 'string' && word.length > 0)) {
    errors.push(`target.command must be a non-empty list of non-empty strings (the program and its arguments), got ${JSON.stringify(command)}`);
  }
  if (env !== undefined) {
    if (!isObject(env)) errors.push('target.env must be an object of NAME: value strings');
    else {
      for (const [name, value] of Object.entries(env)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) errors.push(`target.env.${name} is not a valid environment variable name`);
        else if (name.startsWith('CHAOSBENCH_')) errors.push(`target.env.${name}: names starting with CHAOSBENCH_ are the harness's to set (docs/bring-your-own-consumer.md)`);
        else if (typeof value !== 'string') errors.push(`target.env.${name} must be a string, got ${JSON.stringify(value)}`);
      }
    }
  }
  if (!isObject(ready)) errors.push('target.ready must be one of { log_line: REGEX }, { tcp_port: PORT }, { delay_ms: MS }');
  else {
    const keys = Object.keys(ready);
    if (keys.length !== 1 || !['log_line', 'tcp_port', 'delay_ms'].includes(keys[0]!)) {
      errors.push(`target.ready must have exactly one of log_line, tcp_port, delay_ms, got ${JSON.stringify(keys)}`);
    } else if (ready.log_line !== undefined) {
      if (typeof ready.log_line !== 'string' || ready.log_line === '') errors.push('target.ready.log_line must be a non-empty regular expression');
      else {
        try {
          new RegExp(ready.log_line);
        } catch (error) {
          errors.push(`target.ready.log_line is not a regular expression: ${(error as Error).message}`);
        }
      }
    } else if (ready.tcp_port !== undefined) number(errors, 'target.ready.tcp_port', ready.tcp_port, (n) => Number.isInteger(n) && n > 0 && n < 65_536, 'an integer in [1, 65535]', 65_535);
    else number(errors, 'target.ready.delay_ms', ready.delay_ms, nonNegativeInt, 'an integer >= 0', LIMITS.ms);
  }
  if (target.ready_timeout_ms !== undefined) number(errors, 'target.ready_timeout_ms', target.ready_timeout_ms, positiveInt, 'a positive integer', LIMITS.ms);
  if (target.stop_grace_ms !== undefined) number(errors, 'target.stop_grace_ms', target.stop_grace_ms, nonNegativeInt, 'an integer >= 0', LIMITS.ms);
  if (target.stop_signal !== undefined && !TARGET_STOP_SIGNALS.includes(target.stop_signal as never)) {
    errors.push(`target.stop_signal must be one of ${TARGET_STOP_SIGNALS.join(', ')}, got ${JSON.stringify(target.stop_signal)}`);
  }
  if (!isObject(sink)) errors.push("target.sink must be { kind: 'reference-schema' } or { kind: 'query', query: SQL, ... }");
  else if (sink.kind === 'reference-schema') unknownFields(errors, 'target.sink', sink, ['kind']);
  else if (sink.kind === 'query') {
    unknownFields(errors, 'target.sink', sink, ['kind', 'query', 'event_id_column', 'commit_time_column', 'commit_time_unit']);
    string(errors, 'target.sink.query', sink.query);
    if (sink.event_id_column !== undefined) string(errors, 'target.sink.event_id_column', sink.event_id_column);
    if (sink.commit_time_column !== undefined) string(errors, 'target.sink.commit_time_column', sink.commit_time_column);
    if (sink.commit_time_unit !== undefined && !COMMIT_TIME_UNITS.includes(sink.commit_time_unit as never)) {
      errors.push(`target.sink.commit_time_unit must be one of ${COMMIT_TIME_UNITS.join(', ')}, got ${JSON.stringify(sink.commit_time_unit)}`);
    }
  } else errors.push(`target.sink.kind must be 'reference-schema' or 'query', got ${JSON.stringify(sink.kind)}`);
}

/** A field's test and rule; `problem`, when given, words the error itself (a number's, with its bound). */
type FieldRule = [test: (value: unknown) => boolean, rule: string, presence?: 'optional', problem?: (value: unknown) => string | undefined];
const num = (test: (n: number) => boolean, rule: string, max = Number.MAX_VALUE): FieldRule => {
  const problem = (v: unknown) => numberProblem(v, test, rule, max);
  return [(v) => problem(v) === undefined, rule, undefined, problem];
};
const PROBABILITY = num(probability, 'in [0, 1]');
const NON_NEGATIVE_MS = num(nonNegative, '>= 0', LIMITS.ms);
const NON_NEGATIVE_S = num(nonNegative, '>= 0', LIMITS.seconds);
const oneOf = (values: readonly string[]): FieldRule => [(v) => values.includes(v as string), `one of ${values.join(', ')}`];
/** A field that may be left out (its default applies); when present it must pass `rule`. */
const optional = ([test, rule, , problem]: FieldRule): FieldRule => [test, rule, 'optional', problem];
const NETWORK = { target: oneOf(['publishers', 'aggregator', 'all']), direction: oneOf(['upstream', 'downstream', 'both']), toxicity: PROBABILITY };
const KILL_SCHEDULE = { at_s: NON_NEGATIVE_S, every_s: NON_NEGATIVE_S, downtime_ms: num(nonNegativeInt, 'an integer >= 0', LIMITS.ms) };

/** Every fault kind and the rule of each of its fields (required unless optional()): the validator is this table. */
const FAULT_FIELDS: { [K in FaultKind]: Record<Exclude<keyof Extract<FaultSpec, { kind: K }>, 'kind'>, FieldRule> } = {
  duplicate: {
    fraction: PROBABILITY,
    immediate_share: PROBABILITY,
    delay_ms: NON_NEGATIVE_MS,
    other_connection_share: PROBABILITY,
    delay_distribution: optional(oneOf(DUPLICATE_DELAY_DISTRIBUTIONS)),
  },
  reorder: { fraction: PROBABILITY, window: num((n) => positiveInt(n) && n <= 10_000, 'an integer in [1, 10000]', 10_000) },
  poison: {
    fraction: PROBABILITY,
    shapes: [
      (v) => Array.isArray(v) && v.length > 0 && v.every((shape) => POISON_SHAPES.includes(shape as PoisonShape)),
      `a non-empty list of ${POISON_SHAPES.join(', ')}`,
    ],
  },
  'clock-skew': { publisher: num(nonNegativeInt, 'an integer >= 0 (a publisher index)', 255), skew_ms: num((n) => n >= -LIMITS.ms, `>= -${LIMITS.ms}`, LIMITS.ms) },
  'consumer-crash': KILL_SCHEDULE,
  'broker-kill': KILL_SCHEDULE,
  'slow-sink': { delay_ms: NON_NEGATIVE_MS, jitter_ms: NON_NEGATIVE_MS, stall_every_s: NON_NEGATIVE_S, stall_ms: NON_NEGATIVE_MS, error_rate: optional(num((n) => n >= 0 && n < 1, 'in [0, 1)')) },
  latency: { ...NETWORK, latency_ms: NON_NEGATIVE_MS, jitter_ms: NON_NEGATIVE_MS },
  bandwidth: { ...NETWORK, rate_kb_s: num(positive, '> 0', LIMITS.rate) },
  slicer: { ...NETWORK, average_size: num(positiveInt, 'a positive integer', LIMITS.count), size_variation: num(nonNegativeInt, 'an integer >= 0', LIMITS.count), delay_us: num(nonNegative, '>= 0', LIMITS.ms * 1000) },
  partition: { ...NETWORK, close_after_ms: NON_NEGATIVE_MS },
  'reset-peer': { ...NETWORK, after_ms: NON_NEGATIVE_MS },
};
export const FAULT_KINDS = Object.keys(FAULT_FIELDS) as FaultKind[];

function validateFault(errors: Errors, path: string, fault: unknown): void {
  if (!isObject(fault)) {
    errors.push(`${path} must be an object`);
    return;
  }
  const fields = FAULT_FIELDS[fault.kind as FaultKind] as Record<string, FieldRule> | undefined;
  if (!fields) {
    errors.push(`${path}.kind must be one of: ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(fault.kind)}`);
    return;
  }
  unknownFields(errors, path, fault, ['kind', ...Object.keys(fields)]);
  for (const [field, [test, rule, presence, problem]] of Object.entries(fields)) {
    const value = fault[field];
    if (value === undefined) {
      if (presence !== 'optional') errors.push(`${path}.${field} is required (${rule})`);
    }
    else if (!test(value)) errors.push(`${path}.${field} ${problem?.(value) ?? `must be ${rule}, got ${JSON.stringify(value)}`}`);
  }
}
