// The named flags of bench, compare and gate, one table: each is a shorthand for one or more scenario
// fields (a `--set` path), with its type and help. A command declares the ones it takes from here,
// and a flag's value goes into the scenario as `--set` would put it; only --duration and --rate have
// a syntax of their own, parsed here. Defaults are the scenario's own values, and whether a value
// suits its field is the scenario validator's to say (scenarios/validate.ts): its errors are then
// named by flag and field (flagErrors), so no flag is checked anywhere else. Also here: the flags
// compare and gate take for every run (COMMON_FLAG_OPTIONS), and the value syntaxes several
// commands share (--set path=value, comma-separated lists). A command turns what it parsed into a
// typed run request (engine/resolve.ts); no flag is written back out as text to be parsed again.

import type { Options } from 'yargs';
import { WARMUP_PHASE, type Rate, type Scenario } from '../scenarios/schema.ts';
import { parseAssignment, setPath } from '../scenarios/override.ts';
import { UsageError } from './exit.ts';
import type { ScenarioSettingName } from '../aggregator/config.ts';

/** "2000" (constant) or "500:4000" (a ramp over the phase), events/s. */
export function parseRate(text: string): Rate {
  // Signs are let through so that the scenario validator names the field (phases[1].rate must be > 0).
  const match = /^(-?\d+(?:\.\d+)?)(?::(-?\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (!match) throw new UsageError(`--rate must be events/s like 2000, or a ramp like 500:4000, got '${text}'`);
  return match[2] === undefined ? Number(match[1]) : { from: Number(match[1]), to: Number(match[2]) };
}

/** "30s", "2m", "1500ms", "1h" or a plain number of seconds; more than zero. */
export function parseDuration(text: string): number {
  const match = /^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`--duration must look like 30s, 2m, 1500ms or a number of seconds, got '${text}'`);
  const value = Number(match[1]);
  if (!(value > 0)) throw new UsageError(`--duration must be positive, got '${text}'`);
  const unit = match[2] ?? 's';
  return value * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as 'ms' | 's' | 'm' | 'h'];
}

/**
 * `--flag -5s` → `--flag=-5s`: a value that starts with a minus sign and a digit is the flag's value,
 * not short options -5 and -s (yargs' reading), so that the validator can name what is wrong with it.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const next = argv[i + 1];
    if (/^--[A-Za-z][\w-]*$/.test(word) && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${word}=${next}`);
      i++;
    } else joined.push(word);
  }
  return joined;
}

interface ScenarioFlag {
  /** The yargs declaration: type (or choices) and help. */
  option: Options;
  /** The fields the flag sets in this scenario, as --set paths. */
  paths: (scenario: Scenario) => string[];
  /** Text → field value, for a flag with a syntax of its own; throws a UsageError naming the flag. */
  parse?: (text: string) => unknown;
}

const field = (path: string) => () => [path];
/** A setting of the scenario's aggregator section (the aggregator's table, aggregator/config.ts, says which exist). */
const setting = (name: ScenarioSettingName) => field(`aggregator.${name}`);
/** --duration and --rate set every measured (non-warm-up) phase. */
const measured = (name: 'duration_s' | 'rate') => (scenario: Scenario) =>
  scenario.phases.flatMap((phase, i) => (phase.name === WARMUP_PHASE ? [] : [`phases[${i}].${name}`]));

/**
 * In the order --help lists them: the load's, then from --dedup on the aggregator's settings (bench
 * puts its --aggregator between). A flag added here is taken by bench, compare and gate at once.
 */
export const SCENARIO_FLAGS = {
  seed: { option: { type: 'number', describe: "seed for every random choice (default: the scenario's)" }, paths: field('seed') },
  duration: {
    option: { type: 'string', describe: 'duration of each measured (non-warm-up) phase, e.g. 30s, 2m' },
    paths: measured('duration_s'),
    parse: parseDuration,
  },
  rate: {
    option: { type: 'string', describe: 'arrival rate of each measured phase, events/s over all publishers: 2000, or a ramp 500:4000' },
    paths: measured('rate'),
    parse: parseRate,
  },
  model: {
    option: {
      choices: ['open', 'closed'] as const,
      describe: 'open: follow a schedule of arrival times (latency from the intended time); closed: keep --concurrency events in flight, as fast as possible (capacity only: hides stalls)',
    },
    paths: field('load.model'),
  },
  concurrency: { option: { type: 'number', describe: 'closed model: events in flight end to end' }, paths: field('load.concurrency') },
  workers: { option: { type: 'number', describe: 'load worker threads running the publishers' }, paths: field('load.workers') },
  'payload-bytes': {
    option: { type: 'number', describe: "filler bytes in each event payload (at most 65525: a larger event exceeds the aggregator's 64 KiB payload limit, exit 2)" },
    paths: field('load.payload_bytes'),
  },
  topics: { option: { type: 'number', describe: 'topics per publisher the events are spread over' }, paths: field('load.topics') },
  window: { option: { type: 'number', describe: 'most un-acked QoS 1 publishes per publisher connection' }, paths: field('load.window') },
  dedup: {
    option: { type: 'string', describe: 'dedup store: memory | sqlite | sqlite:PATH | none | redis (REDIS_URL) | redis://HOST:PORT | postgres (DATABASE_URL) | postgres://USER@HOST:PORT/DB. A password never goes in a flag: REDIS_URL, DATABASE_URL or PGPASSWORD; docs/own-broker.md' },
    paths: setting('dedup'),
  },
  'sink-mode': {
    option: { choices: ['idempotent', 'append'] as const, describe: 'append keeps duplicate rows (shows what dedup prevents)' },
    paths: setting('sink_mode'),
  },
  'sink-delay-ms': { option: { type: 'number', describe: 'artificial delay per sink commit (slow sink)' }, paths: setting('sink_delay_ms') },
  'batch-size': { option: { type: 'number', describe: 'aggregator batch size' }, paths: setting('batch_size') },
  publishers: { option: { type: 'number', describe: 'publisher connections' }, paths: field('load.publishers') },
} as const satisfies Record<string, ScenarioFlag>;

export type ScenarioFlagName = keyof typeof SCENARIO_FLAGS;
export const SCENARIO_FLAG_NAMES = Object.keys(SCENARIO_FLAGS) as ScenarioFlagName[];

/** The yargs declarations of the named flags a command takes, in the table's order. */
export function scenarioFlagOptions<K extends ScenarioFlagName>(names: readonly K[]): { [N in K]: (typeof SCENARIO_FLAGS)[N]['option'] } {
  return Object.fromEntries(SCENARIO_FLAG_NAMES.filter((name) => names.includes(name as K)).map((name) => [name, SCENARIO_FLAGS[name].option])) as {
    [N in K]: (typeof SCENARIO_FLAGS)[N]['option'];
  };
}

const SINK_HELP =
  'where the aggregator commits and the ledger reads back: sqlite (the file <out>/sink.db) | postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) | postgres://USER@HOST:PORT/DB (password: PGPASSWORD or DATABASE_URL, never a flag); a PostgreSQL sink gets a schema of its own per run, dropped after the final read (needs a --dedup other than sqlite: try --dedup postgres)';

/** Where a run happens rather than what it is (no scenario field), as bench takes them. */
export const RUN_FLAGS = {
  broker: {
    type: 'string',
    default: 'embedded',
    describe:
      'embedded (Aedes child process on an ephemeral port), mqtt://[USER@]HOST:PORT, mqtts://[USER@]HOST:PORT, or env (the URL in ' +
      'CHAOSBENCH_BROKER_URL, which may carry USER:PASSWORD@). A password never goes in a flag: CHAOSBENCH_BROKER_PASSWORD (and ' +
      'CHAOSBENCH_BROKER_USERNAME); docs/own-broker.md',
  },
  'broker-ca': { type: 'string', describe: "mqtts: PEM file of the CA that signed the broker's certificate (env CHAOSBENCH_BROKER_CA; default: the system's CAs)" },
  'broker-cert': { type: 'string', describe: 'mqtts: PEM file of a client certificate (env CHAOSBENCH_BROKER_CERT); needs --broker-key' },
  'broker-key': { type: 'string', describe: "mqtts: PEM file of the client certificate's private key, unencrypted (env CHAOSBENCH_BROKER_KEY)" },
  'mqtt-version': {
    type: 'string',
    describe: 'MQTT version of the publishers and the aggregator: 3.1.1 (or 4, the default) or 5 (needs an external broker)',
  },
  sink: { type: 'string', default: 'sqlite', describe: SINK_HELP },
  'metrics-port': {
    type: 'number',
    describe:
      'serve the run\'s live Prometheus metrics (chaosbench_run_*) at http://127.0.0.1:PORT/metrics (0 = a free port); the reference ' +
      'aggregator then serves its own (chaosbench_aggregator_*) on a free port; both URLs are printed at start; docs/prometheus.md',
  },
  'metrics-linger': {
    type: 'number',
    describe: 'with --metrics-port: after the result is written, keep serving until two more scrapes have read the final values, at most this many seconds (default 5)',
  },
} as const satisfies Record<string, Options>;

/** --summary-export FILE (bench; report takes it too): the run's result as k6's end-of-test summary (reports/k6-summary.ts). */
export const SUMMARY_EXPORT_FLAG = {
  'summary-export': {
    type: 'string',
    describe: "also write the result as k6's end-of-test summary JSON (handleSummary's data: metrics, thresholds from the checks) to FILE, for k6 tools such as k6-junit; docs/k6.md",
  },
} as const satisfies Record<string, Options>;

/**
 * The same, as compare and gate pass them on to the bench: --sink only when given, so that a gate
 * baseline's bench_argv names what was given (its default shown all the same).
 */
export const PASSED_RUN_FLAGS = {
  broker: RUN_FLAGS.broker,
  'broker-ca': RUN_FLAGS['broker-ca'],
  'broker-cert': RUN_FLAGS['broker-cert'],
  'broker-key': RUN_FLAGS['broker-key'],
  'mqtt-version': RUN_FLAGS['mqtt-version'],
  sink: { type: 'string', describe: SINK_HELP, defaultDescription: JSON.stringify(RUN_FLAGS.sink.default) },
} as const satisfies Record<string, Options>;

/**
 * The flags that compare and gate take for every run they make (their own --dedup is compare's
 * axis; gate sets the store with --set): the named scenario flags but --dedup, and where the runs
 * happen. One declaration for both commands' --help and for the run request they build from it.
 */
export const COMMON_FLAG_OPTIONS = {
  ...scenarioFlagOptions(SCENARIO_FLAG_NAMES.filter((name): name is Exclude<ScenarioFlagName, 'dedup'> => name !== 'dedup')),
  ...PASSED_RUN_FLAGS,
};

export const COMMON_FLAGS = Object.keys(COMMON_FLAG_OPTIONS) as (keyof typeof COMMON_FLAG_OPTIONS)[];

/** The named flags among a command's parsed arguments, as given (those not given left out). */
export function givenScenarioFlags(args: Readonly<Record<string, unknown>>, names: readonly string[] = SCENARIO_FLAG_NAMES): Partial<Record<ScenarioFlagName, unknown>> {
  return Object.fromEntries(SCENARIO_FLAG_NAMES.filter((name) => names.includes(name) && args[name] !== undefined).map((name) => [name, args[name]]));
}

/**
 * `--set path=value` texts → field changes (the value as JSON when it parses, else text); a text
 * that is not path=value is a problem naming --set, and left out.
 */
export function parseSetFlags(texts: readonly unknown[]): { changes: { path: string; value: unknown }[]; problems: string[] } {
  const changes: { path: string; value: unknown }[] = [];
  const problems: string[] = [];
  for (const text of texts) {
    try {
      const [path, value] = parseAssignment(String(text));
      changes.push({ path, value });
    } catch (error) {
      problems.push(`--set: ${(error as Error).message}`);
    }
  }
  return { changes, problems };
}

/**
 * "a,b,c" → ["a", "b", "c"], splitting only at top-level commas: a JSON value such as
 * {"from":500,"to":4000} or [1,2] or "x,y" stays whole. Items are trimmed; an empty item is an error.
 */
export function splitList(text: string, flag: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '[' || c === '{') depth++;
    else if ((c === ']' || c === '}') && depth > 0) depth--;
    else if (c === ',' && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  const trimmed = items.map((item) => item.trim());
  if (trimmed.some((item) => item === '')) throw new UsageError(`${flag}: empty value in '${text}' (values are separated by commas, like ${flag} a,b,c)`);
  return trimmed;
}

/** A scenario with the named flags applied, and what the run records and the errors need to know. */
export interface FlagsApplied {
  scenario: Scenario;
  /** Each flag given, as given (for result.json's overrides and the replay line). */
  overrides: Record<string, unknown>;
  /** Field path → the flag that set it, so that the validator's errors name the flag too. */
  sources: Map<string, string>;
  /** Values that did not parse (--duration abc): not applied, so not reported again by the validator. */
  problems: string[];
}

/** Applies every named flag given in args (undefined: not given) to a copy of the scenario. */
export function applyScenarioFlags(scenario: Scenario, args: Partial<Record<ScenarioFlagName, unknown>>): FlagsApplied {
  const applied: FlagsApplied = { scenario, overrides: {}, sources: new Map(), problems: [] };
  for (const name of SCENARIO_FLAG_NAMES) {
    const given = args[name];
    if (given === undefined) continue;
    const flag: ScenarioFlag = SCENARIO_FLAGS[name];
    let value: unknown = given;
    try {
      if (flag.parse) value = flag.parse(String(given));
    } catch (error) {
      applied.problems.push(error instanceof UsageError ? error.message : `--${name}: ${(error as Error).message}`);
      continue;
    }
    for (const path of flag.paths(applied.scenario)) {
      applied.scenario = setPath(applied.scenario, path, value);
      applied.sources.set(path, `--${name}`);
    }
    applied.overrides[name] = given;
  }
  return applied;
}

/** After `--set path=…`: the fields at, under or above path are the --set's now, so their errors are not a flag's. */
export function setOver(sources: Map<string, string>, path: string): void {
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
  for (const source of [...sources.keys()]) if (within(source, path) || within(path, source)) sources.delete(source);
}

/** The flag that set the field an error is about, or undefined (an error of the scenario itself, or of --set). */
export function flagOf(error: string, sources: ReadonlyMap<string, string>): string | undefined {
  for (const [path, flag] of sources) {
    if (error.startsWith(path) && /^[ .:]/.test(error.slice(path.length))) return flag;
  }
  return undefined;
}

/** The validator's errors, each about a field a named flag set prefixed with the flag: "--sink-delay-ms: aggregator.sink_delay_ms must be >= 0, got -1". */
export function flagErrors(errors: readonly string[], sources: ReadonlyMap<string, string>): string[] {
  return errors.map((error) => {
    const flag = flagOf(error, sources);
    return flag ? `${flag}: ${error}` : error;
  });
}
