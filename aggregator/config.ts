// The reference aggregator's settings as one table (SETTINGS): for each, its field of
// AggregatorConfig, the flag of `npm run aggregator`, the kind of value (type, bounds, how a flag of
// it is read), its default, its help, and whether a scenario's `aggregator` section may set it.
// AggregatorConfig and DEFAULT_AGGREGATOR_CONFIG, the standalone command's flags (main.ts), the one
// check of a configuration (checkAggregatorConfig) and the scenario section's type and check
// (scenarios/ uses them) all come from it: a new setting is one entry here.
// Invariants: a check has no side effects and reads no environment (only the broker's default reads
// MQTT_URL, once, at load); each check's messages name the setting as the caller names it (the flag
// here, `aggregator.<field>` in a scenario); relations between settings are checked in
// checkAggregatorConfig only. Nothing here imports from outside aggregator/.

import { dedupSinkConflict, parseDedupSpec, type DedupSpec } from './dedup/registry.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './event/types.ts';
import { DEFAULT_POSTGRES_SCHEMA, resolveSchema } from './postgres.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
import { BROKER_ENV, parseMqttVersion, type BrokerAccess } from './consumer/access.ts';
import { redactPassword } from './redact.ts';
import { DEFAULT_DLQ_MAX_BYTES, type SinkMode } from './sink/index.ts';
import { parseSinkSpec, type SinkSpec } from './sink/spec.ts';

/** The environment variable `npm run aggregator` reads http_token from (a secret never goes in a flag). */
export const HTTP_TOKEN_ENV = 'CHAOSBENCH_HTTP_TOKEN';

/** broker_url of an aggregator that takes events over HTTP only. */
export const NO_BROKER = 'none';

/**
 * Planted breaks (test only, see `mutation`): 'ack-on-receipt' acks each message as it arrives,
 * before anything is durable; 'claim-outside-transaction' makes a store that would claim inside the
 * sink's transaction claim first, in its own (a crash between the two loses the event).
 */
export const MUTATIONS = ['ack-on-receipt', 'claim-outside-transaction'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** How the standalone command's parser (yargs) reads a setting's flag. */
type FlagType = { type: 'string' | 'number' | 'boolean' } | { choices: readonly (string | number)[] };

type Read<P> = { ok: true; value: P } | { ok: false; problems: string[] };

/** A kind of value: T in the configuration, read as P (a parsed spec, or T itself). */
interface Kind<T, P = T> {
  option?: FlagType;
  /** The value as the aggregator takes it, or its problems (an absent value's included), each worded after `name`. */
  read(value: unknown, name: string): Read<P>;
  /** Type only: the value's type in the configuration. */
  readonly type?: T;
}

const show = (value: unknown) => (typeof value === 'number' ? String(value) : JSON.stringify(value));
const ok = <P>(value: P): Read<P> => ({ ok: true, value });
const problem = (text: string): Read<never> => ({ ok: false, problems: [text] });

/** A finite number that passes `test` (worded `rule`) and is at most `max`. */
function number(test: (n: number) => boolean, rule: string, max = Number.MAX_SAFE_INTEGER): Kind<number> {
  return {
    option: { type: 'number' },
    read: (value, name) =>
      typeof value !== 'number' || Number.isNaN(value)
        ? problem(`${name} must be a number, got ${show(value)}`)
        : !Number.isFinite(value)
          ? problem(`${name} must be a finite number, got ${value}`)
          : !test(value)
            ? problem(`${name} must be ${rule}, got ${value}`)
            : value > max
              ? problem(`${name} must be at most ${max}, got ${value}`)
              : ok(value),
  };
}
/** Counts and TTLs fit a 32-bit signed integer (the limit of Node's timers); a delay (ms) is at most a day. */
const MAX_INT = 2 ** 31 - 1;
const MAX_DELAY_MS = 86_400_000;
const POSITIVE_INT = number((n) => Number.isInteger(n) && n >= 1, 'a positive integer', MAX_INT);
const NON_NEGATIVE = number((n) => n >= 0, '>= 0', MAX_DELAY_MS);
const PORT = number((n) => Number.isInteger(n) && n >= 0 && n <= 65_535, 'an integer in [0, 65535] (0 = a free port)');

function oneOf<const T extends string | number>(values: readonly T[], rule: string): Kind<T> {
  return {
    option: { choices: values },
    read: (value, name) => (values.includes(value as T) ? ok(value as T) : problem(`${name} must be ${rule}, got ${JSON.stringify(value)}`)),
  };
}

const BOOLEAN: Kind<boolean> = {
  option: { type: 'boolean' },
  read: (value, name) => (typeof value === 'boolean' ? ok(value) : problem(`${name} must be true or false, got ${JSON.stringify(value)}`)),
};

const TEXT: Kind<string> = {
  option: { type: 'string' },
  read: (value, name) => (typeof value === 'string' && value !== '' ? ok(value) : problem(`${name} must be a non-empty string, got ${JSON.stringify(value)}`)),
};

/** A secret: a non-empty string of printable ASCII (it goes in a header), never shown in a message. */
const SECRET: Kind<string> = {
  read: (value, name) =>
    typeof value === 'string' && /^[\x21-\x7e]+$/.test(value) ? ok(value) : problem(`${name} must be a non-empty string of printable ASCII without spaces (value not shown)`),
};

/** Text that `parse` reads; its error follows the name (`dedup: unknown dedup store …`), or stands alone when it names the setting itself. */
function parsedText<P>(parse: (text: string) => P, wording: 'after-name' | 'own'): Kind<string, P> {
  return {
    option: { type: 'string' },
    read(value, name) {
      const text = TEXT.read(value, name);
      if (!text.ok) return text;
      try {
        return ok(parse(text.value));
      } catch (error) {
        return problem(wording === 'own' ? (error as Error).message : `${name}: ${(error as Error).message}`);
      }
    },
  };
}

const BROKER: Kind<string> = {
  option: { type: 'string' },
  read(value, name) {
    const text = TEXT.read(value, name);
    if (!text.ok || text.value === NO_BROKER) return text;
    let protocol: string | undefined;
    try {
      protocol = new URL(text.value).protocol;
    } catch {
      protocol = undefined;
    }
    const shown = redactPassword(text.value);
    if (protocol !== 'mqtt:' && protocol !== 'mqtts:') return problem(`${name} must be mqtt://host:port, mqtts://host:port or ${NO_BROKER}, got ${shown}`);
    // Credentials travel in broker_access, never in the URL (which is printed).
    const url = new URL(text.value);
    return url.username !== '' || url.password !== '' ? problem(`${name}: credentials belong in broker_access, not in the URL ${shown}`) : text;
  },
};

/** How to reach the broker beyond its URL (consumer/access.ts): version, TLS material, credentials. */
const BROKER_ACCESS: Kind<BrokerAccess> = {
  read(value, name) {
    if (typeof value !== 'object' || value === null) return problem(`${name} must be an object, got ${JSON.stringify(value)}`);
    const access = value as Record<string, unknown>;
    const problems: string[] = [];
    try {
      parseMqttVersion(access.mqtt_version as string | number);
    } catch (error) {
      problems.push(`mqtt-version ${(error as Error).message}`);
    }
    for (const key of ['username', 'password', 'ca', 'cert', 'key', 'verify_host'] as const) {
      if (access[key] !== undefined && typeof access[key] !== 'string') problems.push(`${name}.${key} must be a string`);
    }
    return problems.length > 0 ? { ok: false, problems } : ok(value as BrokerAccess);
  },
};

const NAMESPACE: Kind<string> = {
  option: { type: 'string' },
  read: (value, name) =>
    typeof value !== 'string'
      ? problem(`${name} must be a non-empty string, got ${JSON.stringify(value)}`)
      : value.trim() === ''
        ? problem(`${name} must not be empty (leave it out to use the client id)`)
        : ok(value),
};

const RETRY: Kind<RetryPolicy> = {
  read(value, name) {
    if (typeof value !== 'object' || value === null) return problem(`${name} must be an object, got ${JSON.stringify(value)}`);
    const policy = value as Record<string, unknown>;
    const problems = [
      NON_NEGATIVE.read(policy.base_ms, `${name}.base_ms`),
      NON_NEGATIVE.read(policy.cap_ms, `${name}.cap_ms`),
      POSITIVE_INT.read(policy.max_attempts, `${name}.max_attempts`),
    ].flatMap((read) => (read.ok ? [] : read.problems));
    return problems.length > 0 ? { ok: false, problems } : ok(value as RetryPolicy);
  },
};

/** One setting. Without a default it is optional: off, or its user's own default applies. */
interface Setting<T, P = T> {
  kind: Kind<T, P>;
  /** The flag of `npm run aggregator` (--NAME), which also names the setting in the aggregator's messages. None: set over IPC or in code only. */
  flag?: string;
  /** The flag's help. */
  help?: string;
  default?: T;
  /** A scenario's `aggregator` section may set it: always ('required'), or when it likes ('optional': this default applies). */
  scenario?: 'required' | 'optional';
}

function setting<T, P, const O extends Omit<Setting<T, P>, 'kind'>>(kind: Kind<T, P>, options: O): { kind: Kind<T, P> } & O {
  return { kind, ...options };
}

/** Every setting, in the order `npm run aggregator -- --help` lists them. */
export const SETTINGS = {
  /** mqtt://host:port, or 'none' for an HTTP-only aggregator (then http_port is required). */
  broker_url: setting(BROKER, {
    flag: 'broker',
    default: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
    help:
      `MQTT broker URL, mqtt://[USER@]HOST:PORT or mqtts://[USER@]HOST:PORT (env MQTT_URL, which may carry USER:PASSWORD@), ` +
      `or '${NO_BROKER}' to take events over HTTP only (needs --http-port). The password: env ${BROKER_ENV.password} (never in a flag)`,
  }),
  /** MQTT version, TLS material and credentials for broker_url; absent: MQTT 3.1.1, none of the rest. Set by the broker flags (main.ts) or over IPC. */
  broker_access: setting(BROKER_ACCESS, {}),
  /**
   * HTTP ingest (POST /events, answered after the commit) on 127.0.0.1 at this port: undefined = off,
   * 0 = a free ephemeral port (read it from AggregatorService.http_port).
   */
  http_port: setting(PORT, {
    flag: 'http-port',
    help:
      'also take events over HTTP on 127.0.0.1:PORT (0 = a free port, printed at start): POST /events with one event ' +
      'as JSON, through the same validate → dedup → sink; answered after the commit: 200 committed | duplicate, ' +
      '400 dead-lettered (with the reason), 503 not committed (send again). Off when absent',
  }),
  /** HTTP ingest: open connections beyond this many are closed on accept (slow or idle clients cannot take every file descriptor). */
  http_max_connections: setting(POSITIVE_INT, {
    flag: 'http-max-connections',
    default: 1_000,
    help: 'HTTP ingest: most open connections; more are closed as they arrive',
  }),
  /** HTTP ingest: a request whose headers have not all arrived within this long is answered 408 and its connection closed. */
  http_headers_timeout_ms: setting(POSITIVE_INT, {
    flag: 'http-headers-timeout-ms',
    default: 10_000,
    help: 'HTTP ingest: a request must send all its headers within this long (else 408, connection closed)',
  }),
  /** HTTP ingest: a request (headers and body) that has not all arrived within this long is answered 408 and its connection closed. */
  http_request_timeout_ms: setting(POSITIVE_INT, {
    flag: 'http-request-timeout-ms',
    default: 30_000,
    help: 'HTTP ingest: a request must send its headers and whole body within this long (else 408, connection closed); at least --http-headers-timeout-ms',
  }),
  /**
   * HTTP ingest: the bearer token every request must carry (Authorization: Bearer TOKEN), else 401.
   * A secret: no flag; the command reads it from HTTP_TOKEN_ENV, the harness sends it over IPC. Absent: no token asked.
   */
  http_token: setting(SECRET, {}),
  /**
   * Prometheus metrics (GET /metrics, chaosbench_aggregator_*: aggregator/metrics/registry.ts) on
   * 127.0.0.1 at this port: undefined = off, 0 = a free ephemeral port (AggregatorService.metrics_port).
   * Not a scenario field: the harness gives its aggregator a free port when bench has --metrics-port.
   */
  metrics_port: setting(PORT, {
    flag: 'metrics-port',
    help:
      'serve Prometheus metrics (chaosbench_aggregator_*, self-reported) at http://127.0.0.1:PORT/metrics ' +
      '(0 = a free port, printed at start); docs/prometheus.md. Off when absent',
  }),
  client_id: setting(TEXT, { flag: 'client-id', default: 'chaosbench-aggregator', help: 'MQTT client id; fixed so the broker keeps the session' }),
  topic: setting(TEXT, { flag: 'topic', default: 'events/#', help: 'topic filter to subscribe to (QoS 1)' }),
  /** QoS of the subscription: 1 (at-least-once, the default) or 0 (at-most-once, to show what it loses). */
  qos: setting(oneOf([0, 1] as const, '0 or 1'), {
    flag: 'qos',
    default: 1,
    help: 'QoS of the subscription: 1 at-least-once, 0 at-most-once (nothing acked, nothing kept while away)',
    scenario: 'optional',
  }),
  /** MQTT clean session. false: the broker keeps our subscription and un-acked messages across reconnects. */
  clean_session: setting(BOOLEAN, { flag: 'clean-session', default: false, help: 'start with a clean MQTT session (drops what the broker queued)' }),
  /**
   * memory | none | sqlite (in the sink's database, atomic with it) | sqlite:PATH |
   * redis[://host:port] (keys under chaosbench:dedup:<dedup_namespace>:) | postgres[://user@host:port/db] (table
   * chaosbench.dedup, shared by every aggregator on that database)
   */
  dedup: setting(parsedText<DedupSpec>(parseDedupSpec, 'after-name'), {
    flag: 'dedup',
    default: 'sqlite',
    help:
      "dedup store: memory | none | sqlite (inside the sink's database, atomic with the commit) | sqlite:PATH | " +
      'redis | redis://HOST:PORT (default REDIS_URL) | postgres | postgres://USER@HOST:PORT/DB (default DATABASE_URL). ' +
      'A password never goes in a flag: REDIS_URL, DATABASE_URL or PGPASSWORD',
    scenario: 'required',
  }),
  dedup_ttl_ms: setting(POSITIVE_INT, { flag: 'dedup-ttl-ms', default: 10 * 60_000, help: 'how long an event id is remembered', scenario: 'required' }),
  /**
   * redis dedup only: the namespace of the claims. Default (undefined): the client id, so each aggregator's
   * claims are its own. Aggregators that share one stream (a `$share/<group>/…` subscription) give the same
   * name, so that an event claimed by one is a duplicate to the others.
   */
  dedup_namespace: setting(NAMESPACE, {
    flag: 'dedup-namespace',
    help:
      'redis dedup only: keep claims under chaosbench:dedup:NAME: (default: the client id, private to this aggregator). ' +
      "Give every aggregator on one shared subscription ($share/GROUP/…) the same NAME so they share one set of claims; " +
      'the postgres dedup table (chaosbench.dedup) is shared by every aggregator on its database',
  }),
  /**
   * postgres dedup only: schema of the claims table. Default (undefined): 'chaosbench', shared by every
   * aggregator on the database. The harness gives each run a schema of its own and drops it afterwards.
   */
  dedup_schema: setting(parsedText(resolveSchema, 'after-name'), {
    flag: 'dedup-schema',
    help: 'postgres dedup only: schema of the claims table (default chaosbench; created if missing)',
  }),
  /**
   * sqlite:PATH (':memory:' is refused: the harness must be able to read the sink after the run) |
   * postgres[://user@host:port/db] (tables events, dlq in schema chaosbench; default DATABASE_URL)
   */
  sink: setting(parsedText<SinkSpec>(parseSinkSpec, 'own'), {
    flag: 'sink',
    default: 'sqlite:./data/events.db',
    help: 'sink: sqlite:PATH | postgres | postgres://USER@HOST:PORT/DB (default DATABASE_URL; tables in schema chaosbench). A password: PGPASSWORD or DATABASE_URL, never a flag',
  }),
  /** postgres sink only: schema of its tables (created if missing). */
  sink_schema: setting(parsedText(resolveSchema, 'after-name'), {
    flag: 'sink-schema',
    default: DEFAULT_POSTGRES_SCHEMA,
    help: 'postgres sink only: schema of its tables events, dlq and sink_meta (created if missing)',
  }),
  sink_mode: setting(oneOf<SinkMode>(['idempotent', 'append'], "'idempotent' or 'append'"), {
    flag: 'sink-mode',
    default: 'idempotent',
    help: 'idempotent (ON CONFLICT DO NOTHING) or append (keeps duplicates; to show what dedup prevents)',
    scenario: 'required',
  }),
  /** Artificial delay added to every sink commit (the slow-sink knob). */
  sink_delay_ms: setting(NON_NEGATIVE, { flag: 'sink-delay-ms', default: 0, help: 'artificial delay per sink commit (slow sink)', scenario: 'required' }),
  /**
   * Calibration: a delay inside every sink transaction, after the batch's rows are written and before
   * COMMIT: a slow COMMIT (an fsync). Default (undefined) 0. Unlike sink_delay_ms (awaited before the
   * write), it holds the transaction open, and the SQLite sink blocks the aggregator while it waits.
   */
  commit_hold_ms: setting(NON_NEGATIVE, {
    flag: 'commit-hold-ms',
    help: 'calibration: a delay inside every sink transaction, before COMMIT (a slow COMMIT)',
    scenario: 'optional',
  }),
  /**
   * A SQLite sink commits on a worker thread of its own (sink/sqlite-thread.ts), so that receiving,
   * parsing and claiming go on while a batch commits. Off by default: on 2 shared cores the thread
   * cost 3–6 µs of CPU per message more and gained no capacity that could be told from the noise
   * (docs/lab/2026-12-03-aggregator-pipeline.md); a machine with a core to spare may differ. Ignored
   * for a PostgreSQL sink (its commits are asynchronous already) and with dedup 'sqlite' in the
   * sink's database (its claim runs in the sink's transaction, on the same handle).
   */
  sink_thread: setting(BOOLEAN, {
    flag: 'sink-thread',
    default: false,
    help: "sqlite sink: commit on a worker thread of its own, so that receiving and parsing go on during a commit (costs CPU; not with --dedup sqlite in the sink's database)",
  }),
  batch_size: setting(POSITIVE_INT, { flag: 'batch-size', default: 200, help: 'most messages per sink commit', scenario: 'required' }),
  batch_wait_ms: setting(NON_NEGATIVE, { flag: 'batch-wait-ms', default: 5, help: 'longest wait to fill a batch', scenario: 'required' }),
  max_in_flight: setting(POSITIVE_INT, {
    flag: 'max-in-flight',
    default: 2_000,
    help: 'un-acked messages before reading pauses (backpressure)',
    scenario: 'required',
  }),
  max_payload_bytes: setting(POSITIVE_INT, { flag: 'max-payload-bytes', default: DEFAULT_MAX_PAYLOAD_BYTES, help: 'larger payloads go to the DLQ' }),
  dlq_max_bytes: setting(POSITIVE_INT, {
    flag: 'dlq-max-bytes',
    default: DEFAULT_DLQ_MAX_BYTES,
    help: "the dead-letter queue's byte budget (each dead letter keeps at most the first 4 KiB of its message, with the size and SHA-256); past it the aggregator stalls (no ack, no dead letter) rather than fill the disk",
  }),
  seed: setting(number(Number.isSafeInteger, 'an integer'), { flag: 'seed', default: 1, help: 'seed for retry and reconnect jitter' }),
  /**
   * Ack every message on receipt with no validation, dedup or sink: not an aggregator but the
   * baseline that capacity comparisons divide by (what the broker and connection alone sustain).
   */
  bare: setting(BOOLEAN, { flag: 'bare', default: false, help: 'ack on receipt, no validation/dedup/sink: the baseline for capacity comparisons' }),
  retry: setting(RETRY, { default: DEFAULT_RETRY_POLICY }),
  /**
   * Test only: a planted break of a safety property (MUTATIONS), so a test can show that it fails
   * without the property (tests/mutations.test.ts lists them). No flag, not a scenario field: a test
   * sets it over IPC, and checkAggregatorConfig refuses it unless told mutations are allowed
   * (main.ts: CHAOSBENCH_ALLOW_MUTATIONS=1).
   */
  mutation: setting(oneOf(MUTATIONS, MUTATIONS.map((m) => `'${m}'`).join(' or ')), {}),
};

type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;
type ValueOf<S> = S extends { kind: Kind<infer T, infer _P> } ? T : never;
type Where<Shape> = { [K in SettingName]: Settings[K] extends Shape ? K : never }[SettingName];

/** The aggregator's whole configuration: a field per setting, optional where the setting has no default. */
export type AggregatorConfig = { [K in keyof Settings as K extends Where<{ default: unknown }> ? K : never]: ValueOf<Settings[K]> } & {
  [K in keyof Settings as K extends Where<{ default: unknown }> ? never : K]?: ValueOf<Settings[K]>;
};

/** The `aggregator` section of a scenario: the settings a scenario may set, optional where the table says so. */
export type ScenarioAggregatorSettings = { [K in keyof Settings as K extends Where<{ scenario: 'required' }> ? K : never]: ValueOf<Settings[K]> } & {
  [K in keyof Settings as K extends Where<{ scenario: 'optional' }> ? K : never]?: ValueOf<Settings[K]>;
};

export type ScenarioSettingName = keyof ScenarioAggregatorSettings;

/** The table seen without its per-setting types, for the code that walks it. */
const TABLE: Record<SettingName, Setting<unknown, unknown>> = SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export const DEFAULT_AGGREGATOR_CONFIG: AggregatorConfig = Object.fromEntries(
  SETTING_NAMES.flatMap((name) => ('default' in TABLE[name] ? [[name, TABLE[name].default]] : [])),
) as AggregatorConfig;

/** The settings a scenario's `aggregator` section may hold, in the table's order. */
export const SCENARIO_SETTING_NAMES = SETTING_NAMES.filter((name) => TABLE[name].scenario !== undefined);

/** A scenario section with every setting it must hold at the aggregator's default. */
export const DEFAULT_SCENARIO_SETTINGS = Object.fromEntries(
  SCENARIO_SETTING_NAMES.filter((name) => TABLE[name].scenario === 'required').map((name) => [name, DEFAULT_AGGREGATOR_CONFIG[name]]),
) as ScenarioAggregatorSettings;

/** The standalone command's flags: flag → its yargs declaration (type or choices, default, help) and the setting it sets. */
export const SETTING_FLAGS = SETTING_NAMES.flatMap((name) => {
  const { flag, kind, help } = TABLE[name];
  if (flag === undefined) return [];
  const option = { ...kind.option, ...('default' in TABLE[name] ? { default: TABLE[name].default } : {}), describe: help };
  return [{ flag, name, option }];
});

/** Reads the settings `names` of `values`: every problem, named by `name`; a setting `optional` allows is skipped when absent. */
function readSettings(
  values: Record<string, unknown>,
  names: readonly SettingName[],
  name: (setting: SettingName) => string,
  optional: (setting: SettingName) => boolean,
): { problems: string[]; read: Partial<Record<SettingName, unknown>> } {
  const problems: string[] = [];
  const read: Partial<Record<SettingName, unknown>> = {};
  for (const setting of names) {
    const value = values[setting];
    if (value === undefined && optional(setting)) continue;
    const result = TABLE[setting].kind.read(value, name(setting));
    if (result.ok) read[setting] = result.value;
    else problems.push(...result.problems);
  }
  return { problems, read };
}

/** A scenario's `aggregator` section (an object) checked by the aggregator's own rules, each problem named `<path>.<field>`, and its dedup store parsed. */
export function checkScenarioSettings(section: Record<string, unknown>, path: string): { problems: string[]; dedup?: DedupSpec } {
  const { problems, read } = readSettings(section, SCENARIO_SETTING_NAMES, (name) => `${path}.${name}`, (name) => TABLE[name].scenario === 'optional');
  return { problems, ...(read.dedup === undefined ? {} : { dedup: read.dedup as DedupSpec }) };
}

export type CheckedConfig = { ok: true; config: AggregatorConfig; dedup: DedupSpec; sink: SinkSpec } | { ok: false; problems: string[] };

/**
 * The one check of a whole configuration, each problem named by its flag. Checks types too: over
 * IPC the object is plain JSON that no flag parser has typed. Gives the parsed dedup store and sink.
 */
export function checkAggregatorConfig(config: unknown, options: { allow_mutations?: boolean } = {}): CheckedConfig {
  if (typeof config !== 'object' || config === null) return { ok: false, problems: [`the aggregator's configuration must be an object, got ${JSON.stringify(config)}`] };
  const values = config as Record<string, unknown>;
  const { problems, read } = readSettings(values, SETTING_NAMES, (name) => TABLE[name].flag ?? name, (name) => !('default' in TABLE[name]));
  if (values.broker_url === NO_BROKER && values.http_port === undefined) problems.push(`broker '${NO_BROKER}' leaves nothing to take events from: give --http-port too`);
  if (values.mutation !== undefined && options.allow_mutations !== true) problems.push('mutation is a planted break for tests only: refused unless CHAOSBENCH_ALLOW_MUTATIONS=1');
  if (typeof values.http_headers_timeout_ms === 'number' && typeof values.http_request_timeout_ms === 'number' && values.http_headers_timeout_ms > values.http_request_timeout_ms) {
    problems.push(`http-headers-timeout-ms (${values.http_headers_timeout_ms}) must not exceed http-request-timeout-ms (${values.http_request_timeout_ms})`);
  }
  if (values.http_port !== undefined && values.bare === true) problems.push('http-port cannot be combined with bare (the bare baseline acks MQTT deliveries only)');
  const dedup = read.dedup as DedupSpec | undefined;
  const sink = read.sink as SinkSpec | undefined;
  const conflict = dedup && sink ? dedupSinkConflict(dedup, sink) : undefined;
  if (conflict) problems.push(conflict);
  if (problems.length > 0 || !dedup || !sink) return { ok: false, problems };
  return { ok: true, config: config as AggregatorConfig, dedup, sink };
}
