// What one run is asked to be → what it will be: a shipped scenario or a scenario file, the named
// flags' values (each a shorthand for scenario fields, one table: cli/flags.ts), field changes
// (path → value, applied last, in order), the broker, the sink, the aggregator kind and the shard,
// resolved into the validated Scenario and the options runScenario takes — or every problem at once.
// Typed in, typed out: bench, compare and gate each turn their own command line into a RunRequest,
// and no command builds another's flags as text. Pure but for reading a scenario file.
// Invariants: nothing is run or written here; a problem names the flag or scenario field it is
// about, in the words the commands print (they add "error: "), with any URL's password as ***; a
// value that did not parse is not applied, so it is not reported twice; no command-line value may
// carry a password.

import { SCENARIOS } from '../scenarios/index.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { isScenarioFile, loadScenarioFile } from '../scenarios/load.ts';
import { describeTarget, targetProblems } from './target/needs.ts';
import { setPath } from '../scenarios/override.ts';
import { applyScenarioFlags, flagErrors, flagOf, setOver, type ScenarioFlagName } from '../cli/flags.ts';
import { parseBrokerSpec, type BrokerSpec } from './broker/index.ts';
import { parseMqttVersion, resolveBrokerAccess, type BrokerAccess } from '../aggregator/consumer/access.ts';
import { describeSinkChoice, parseSinkChoice, sinkDedupProblems } from './run-sink/index.ts';
import { parseShard, shardProblems } from './load/shard.ts';
import type { AggregatorKind, RunOptions } from './run.ts';
import { passwordInFlag, redactPasswords } from '../aggregator/redact.ts';
import { redisDatabaseProblem } from '../aggregator/dedup/redis.ts';
import type { DedupSpec } from '../aggregator/dedup/registry.ts';

/** One scenario field set to a value (`--set path=value`, or a command's own change such as compare's --vary). */
export interface FieldChange {
  path: string;
  value: unknown;
  /** The flag its problems name, without the dashes (default 'set'). */
  flag?: string;
}

export interface RunRequest {
  /** A shipped scenario's name or a .json/.yaml file; undefined when none was given (a problem). */
  scenario: string | undefined;
  /** The named flags given (undefined or absent: not given), as the user gave them: '10s', '500:4000', 20. */
  flags: Partial<Record<ScenarioFlagName, unknown>>;
  /** Applied after the flags, in order, so that they can change anything a flag set. */
  changes: readonly FieldChange[];
  /** 'embedded', mqtt://[USER@]host:port, mqtts://…, or 'env' (the URL in CHAOSBENCH_BROKER_URL). */
  broker: string;
  /** How to reach an external broker beyond its URL: files and a version, as flags give them (docs/own-broker.md). */
  broker_flags?: BrokerFlags;
  /** Where CHAOSBENCH_BROKER_* are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** sqlite (default), postgres or postgres://USER@HOST:PORT/DB. */
  sink?: string | undefined;
  aggregator: AggregatorKind;
  /** Your own consumer (docs/bring-your-own-consumer.md): a target file, a command line, a query over its sink. */
  target?: TargetFlags;
  /** I/N: this process's share of a run several harness processes drive. */
  shard?: string | undefined;
  /** --metrics-port (0: a free port) and --metrics-linger (seconds; needs --metrics-port). */
  metrics_port?: number | undefined;
  metrics_linger_s?: number | undefined;
}

/** Where the run's Prometheus metrics are served, and how long they wait for the final scrapes (docs/prometheus.md). */
export interface MetricsRequest {
  port: number;
  linger_s: number;
}

export const DEFAULT_METRICS_LINGER_S = 5;

/** --target FILE, --target-command CMD, --target-query SQL (undefined: not given). */
export interface TargetFlags {
  file?: string | undefined;
  command?: string | undefined;
  query?: string | undefined;
}

/** --broker-ca, --broker-cert, --broker-key, --mqtt-version (undefined: not given). */
export interface BrokerFlags {
  'broker-ca'?: string | undefined;
  'broker-cert'?: string | undefined;
  'broker-key'?: string | undefined;
  'mqtt-version'?: string | undefined;
}

/** What runScenario needs to know of a run but where it goes and how it reports progress. */
export type ResolvedRun = Required<Pick<RunOptions, 'scenario' | 'overrides' | 'broker' | 'sink' | 'aggregator'>> &
  Pick<RunOptions, 'shard' | 'broker_access' | 'external_broker_pid'> & { prometheus?: MetricsRequest };

export type Resolution = { ok: true; run: ResolvedRun } | { ok: false; problems: string[] };

const DEFAULT_SINK = 'sqlite';

/**
 * Resolves a request. Every problem at once (docs/scenarios-and-faults.md): those that can be
 * checked on their own first, then the scenario with the flags and changes that parsed.
 */
export function resolveRun(request: RunRequest): Resolution {
  const problems: string[] = [];
  const known = Object.keys(SCENARIOS).join(', ');
  const name = request.scenario;
  let base: Scenario | undefined;
  if (!name) problems.push(`--scenario is required (one of: ${known}, or a .json/.yaml file); --list describes them`);
  else if (isScenarioFile(name)) {
    // A file is checked as it stands first, so its own errors are named before any override applies.
    try {
      const loaded = validateScenario(loadScenarioFile(name));
      if (loaded.ok) base = loaded.scenario;
      else problems.push(`scenario file ${name} is invalid:\n  ${loaded.errors.join('\n  ')}`);
    } catch (error) {
      problems.push(`--scenario: ${(error as Error).message}`);
    }
  } else {
    base = SCENARIOS[name];
    if (!base) problems.push(`--scenario: unknown scenario '${name}' (known: ${known}; or a path to a .json/.yaml file)`);
  }
  const checked = <T>(flag: string, check: () => T): T | undefined => {
    try {
      return check();
    } catch (error) {
      problems.push(`--${flag}: ${(error as Error).message}`);
      return undefined;
    }
  };
  // The named flags go into the scenario as a change of their fields would; without a scenario
  // they are still checked, in a shipped one, so that a bad value is named with the missing --scenario.
  const flags = applyScenarioFlags(structuredClone(base ?? SCENARIOS.smoke!), request.flags);
  problems.push(...flags.problems);
  problems.push(...passwordsOnCommandLine(request));
  const sinkText = request.sink ?? DEFAULT_SINK;
  const broker = resolveBroker(request.broker, request.broker_flags ?? {}, problems, request.env ?? process.env);
  const brokerSpec = broker?.spec;
  const sink = checked('sink', () => parseSinkChoice(sinkText));
  const shard = request.shard === undefined ? undefined : checked('shard', () => parseShard(request.shard!));
  const metrics = resolveMetrics(request, problems);
  if (!base) {
    const standIn = validateScenario(flags.scenario);
    if (!standIn.ok) problems.push(...flagErrors(standIn.errors.filter((error) => flagOf(error, flags.sources)), flags.sources));
    return { ok: false, problems: problems.map(redactPasswords) };
  }

  // What the run records as changed from the scenario, for its report's replay line.
  const overrides: Record<string, unknown> = {};
  if (isScenarioFile(name!)) overrides.scenario_file = name;
  Object.assign(overrides, flags.overrides);
  let scenario: Scenario = flags.scenario;
  if (request.aggregator !== 'reference') overrides.aggregator = request.aggregator;
  if (brokerSpec?.kind === 'external') overrides.broker = request.broker === 'env' ? 'env' : brokerSpec.url;
  for (const [flag, value] of Object.entries(request.broker_flags ?? {})) if (value !== undefined) overrides[flag] = value;
  if (sinkText !== DEFAULT_SINK) overrides.sink = describeSinkChoice(sinkText);
  if (shard !== undefined) overrides.shard = request.shard;
  // Your own consumer: a target file replaces the scenario's target, then the two shorthands change it.
  const target = request.target ?? {};
  if (target.file !== undefined) {
    const loaded = checked('target', () => loadScenarioFile(target.file!, 'target file'));
    if (loaded !== undefined) scenario = { ...scenario, target: loaded as Scenario['target'] };
    overrides.target = target.file;
  }
  if (target.command !== undefined) {
    const command = target.command.trim().split(/\s+/).filter((word) => word !== '');
    scenario = { ...scenario, target: { ready: { delay_ms: 1_000 }, sink: { kind: 'reference-schema' }, ...scenario.target, command } };
    overrides['target-command'] = target.command;
  }
  if (target.query !== undefined) {
    if (!scenario.target) problems.push('--target-query: needs a target (--target FILE or --target-command CMD)');
    else scenario = { ...scenario, target: { ...scenario.target, sink: { kind: 'query', query: target.query } } };
    overrides['target-query'] = target.query;
  }
  // The changes last, so that they can change anything, including what a flag set (a problem of
  // such a field is then the change's, not the flag's).
  for (const change of request.changes) {
    const changed = checked(change.flag ?? 'set', () => setPath(scenario, change.path, change.value));
    if (changed) scenario = changed;
    setOver(flags.sources, change.path);
  }
  if (request.changes.length > 0) overrides.set = request.changes.map(({ path, value }) => `${path}=${JSON.stringify(value)}`);
  if (brokerSpec?.kind === 'external') {
    if (scenario.broker?.max_publish_bytes !== undefined) problems.push(`broker.max_publish_bytes: a setting of the embedded broker (${brokerSpec.url} has its own configuration, e.g. Mosquitto's max_packet_size)`);
    scenario.phases.forEach((phase, i) =>
      phase.faults.forEach((fault, j) => {
        if (fault.kind === 'broker-kill') problems.push(`phases[${i}].faults[${j}]: broker-kill needs the embedded broker (it cannot kill ${brokerSpec.url})`);
      }),
    );
  }
  // After the changes, which may change the dedup store too: the store as the validator parsed it
  // (one that does not parse is the validator's to name); a bare subscriber has neither.
  const validation = validateScenario(scenario);
  if (sink !== undefined && request.aggregator === 'reference' && !scenario.target && validation.dedup) problems.push(...sinkDedupProblems(sink, validation.dedup));
  if (scenario.target && request.aggregator !== 'reference') problems.push(`--aggregator ${request.aggregator}: the scenario has a target (your own consumer); leave --aggregator out`);
  if (!validation.ok) problems.push(`scenario '${scenario.name}' is invalid after overrides:\n  ${flagErrors(validation.errors, flags.sources).join('\n  ')}`);
  else {
    scenario = validation.scenario; // checks in k6's threshold syntax read into metric, op and value
    problems.push(...redisEnvironmentProblems(scenario, brokerSpec, request.aggregator, validation.dedup, request.env ?? process.env));
    if (shard !== undefined) problems.push(...shardProblems(shard, scenario.load));
    // A fault (or check) the target cannot support is refused here, before anything starts.
    const kind = scenario.target ? 'external' : request.aggregator;
    problems.push(...targetProblems(scenario, kind, describeTarget(kind, scenario.target?.command)));
  }
  if (problems.length > 0) return { ok: false, problems: problems.map(redactPasswords) };
  return {
    ok: true,
    run: {
      scenario,
      overrides,
      // An external broker's URL without user name or password; how to reach it is in broker_access.
      broker: brokerSpec?.kind === 'external' ? brokerSpec.url : 'embedded',
      ...(broker?.access ? { broker_access: broker.access } : {}),
      sink: sinkText,
      aggregator: request.aggregator,
      ...(shard !== undefined ? { shard } : {}),
      ...(metrics ? { prometheus: metrics } : {}),
    },
  };
}

/**
 * REDIS_URL, when the run will read it (the embedded broker's sessions with broker.persistence
 * redis; a bare `--dedup redis`), with a database index that is not a number: refused naming the
 * variable and its bad part, before anything starts, since ioredis would otherwise go on in a
 * database not asked for ('/abc' in database 0, '/1e999' in 1). An index past the server's
 * databases is only known once the server answers: the run refuses it then (exit 3).
 */
function redisEnvironmentProblems(scenario: Scenario, broker: BrokerSpec | undefined, aggregator: AggregatorKind, dedup: DedupSpec | undefined, env: NodeJS.ProcessEnv): string[] {
  const url = env.REDIS_URL;
  if (url === undefined) return [];
  const readers = [
    ...(broker?.kind === 'embedded' && scenario.broker?.persistence === 'redis' ? ['broker.persistence redis'] : []),
    ...(aggregator === 'reference' && !scenario.target && dedup?.kind === 'redis' && dedup.url === undefined ? ['--dedup redis'] : []),
  ];
  const problem = readers.length > 0 ? redisDatabaseProblem(url) : undefined;
  return problem ? [`REDIS_URL (read for ${readers.join(' and ')}): ${problem}`] : [];
}

/** --metrics-port and --metrics-linger: where the run's metrics are served, or undefined (off); each bad value a problem naming its flag. */
function resolveMetrics(request: RunRequest, problems: string[]): MetricsRequest | undefined {
  const { metrics_port: port, metrics_linger_s: linger } = request;
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65_535)) problems.push(`--metrics-port must be an integer in [0, 65535] (0 = a free port), got ${port}`);
  if (linger !== undefined && !(Number.isFinite(linger) && linger >= 0)) problems.push(`--metrics-linger must be a number of seconds >= 0, got ${linger}`);
  if (linger !== undefined && port === undefined) problems.push('--metrics-linger: needs --metrics-port');
  return port === undefined ? undefined : { port, linger_s: linger ?? DEFAULT_METRICS_LINGER_S };
}

/**
 * A password in any value the request took from a command line (argv is readable by every user of
 * the machine) is refused, naming the flag (docs/own-broker.md): the dedup store's and the sink's
 * from the environment (REDIS_URL, DATABASE_URL, PGPASSWORD) or a scenario file instead. The
 * broker's own check (resolveBroker) names --broker.
 */
function passwordsOnCommandLine(request: RunRequest): string[] {
  const given: [string, unknown][] = [
    ...Object.entries(request.flags).map(([name, value]): [string, unknown] => [`--${name}`, value]),
    ['--sink', request.sink],
    ...request.changes.map((change): [string, unknown] => [`--${change.flag ?? 'set'}`, change.value]),
    ['--target-command', request.target?.command],
    ['--target-query', request.target?.query],
  ];
  return given.flatMap(([flag, value]) => passwordInFlag(flag, value) ?? []);
}

/**
 * --broker with --broker-ca/-cert/-key, --mqtt-version and the CHAOSBENCH_BROKER_* variables: the
 * spec (a URL without credentials) and, for an external broker, how to reach it. Each bad value is
 * added to problems, naming its flag or variable; undefined when the spec itself is bad.
 */
function resolveBroker(
  text: string,
  flags: BrokerFlags,
  problems: string[],
  env: NodeJS.ProcessEnv,
): { spec: BrokerSpec; access?: BrokerAccess } | undefined {
  const fromEnv = text === 'env';
  const url = fromEnv ? env.CHAOSBENCH_BROKER_URL : text;
  if (url === undefined || url === '') {
    problems.push('--broker env: CHAOSBENCH_BROKER_URL is not set');
    return undefined;
  }
  let spec: BrokerSpec;
  try {
    spec = parseBrokerSpec(url);
  } catch (error) {
    problems.push(`${fromEnv ? 'CHAOSBENCH_BROKER_URL' : '--broker'}: ${(error as Error).message}`);
    return undefined;
  }
  if (spec.kind === 'embedded') {
    // The environment's TLS files and credentials are for an external broker; flags given with the embedded one are a mistake.
    for (const name of ['broker-ca', 'broker-cert', 'broker-key'] as const) {
      if (flags[name] !== undefined) problems.push(`--${name}: TLS files need an external mqtts:// --broker (the embedded broker listens on plain mqtt://)`);
    }
    const version = flags['mqtt-version'];
    if (version !== undefined) {
      try {
        if (parseMqttVersion(version) === 5) problems.push('--mqtt-version: 5 needs an external --broker (the embedded Aedes speaks MQTT 3.1.1)');
      } catch (error) {
        problems.push(`--mqtt-version: ${(error as Error).message}`);
      }
    }
    return { spec };
  }
  const resolved = resolveBrokerAccess(
    {
      url,
      url_from: fromEnv ? 'env' : 'flag',
      url_field: fromEnv ? 'CHAOSBENCH_BROKER_URL' : '--broker',
      ca: flags['broker-ca'],
      cert: flags['broker-cert'],
      key: flags['broker-key'],
      mqtt_version: flags['mqtt-version'],
      flags: { ca: '--broker-ca', cert: '--broker-cert', key: '--broker-key', mqtt_version: '--mqtt-version' },
    },
    env,
  );
  problems.push(...resolved.problems);
  return { spec, access: resolved.access };
}
