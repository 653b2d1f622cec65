// Standalone entry point of the reference aggregator: `npm run aggregator -- --broker mqtt://…`.
// Also the child process the harness starts: it then takes its whole AggregatorConfig as one JSON
// message over the IPC channel (never as argv, where a database password would sit in
// /proc/<pid>/cmdline and `ps` for anyone to read) and reports over IPC instead of printing.
// Both ways end in validateAggregatorConfig, the one check of a configuration.
// Exit codes: 0 after a graceful drain, 2 for bad flags, 3 when the broker or the dedup store's
// server cannot be reached, or the HTTP port (--http-port) cannot be bound.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { SlowdownProfile } from './sink/slowdown.ts';
import { AggregatorService, DEFAULT_AGGREGATOR_CONFIG, NO_BROKER, parseSinkSpec, type AggregatorConfig, type SinkSpec } from './service.ts';
import { dedupSinkConflict, parseDedupSpec, type DedupSpec } from './dedup/registry.ts';
import { DEFAULT_POSTGRES_SCHEMA, resolveSchema } from './postgres.ts';
import { redactPassword } from './redact.ts';
import { BROKER_ENV, mqttVersionName, parseMqttVersion, resolveBrokerAccess } from './consumer/access.ts';
import { EXIT, UsageError } from '../cli/exit.ts';

const defaults = DEFAULT_AGGREGATOR_CONFIG;

export async function parseAggregatorArgs(argv: string[]): Promise<AggregatorConfig> {
  const args = await yargs(argv)
    .scriptName('npm run aggregator --')
    .usage(
      'Reference log aggregator: QoS 1 subscriber → validate → dedup → idempotent sink → PUBACK.\n\n' +
        'Usage: $0 --broker mqtt://127.0.0.1:1883 --dedup sqlite --sink sqlite:./data/events.db\n' +
        '       $0 --broker mqtt://127.0.0.1:1883 --dedup postgres --sink postgres://postgres@127.0.0.1:5432/test\n' +
        '       $0 --broker none --http-port 0   (HTTP only, on a free port printed at start: POST /events, answered after the commit)',
    )
    .options({
      broker: {
        type: 'string',
        default: defaults.broker_url,
        describe:
          `MQTT broker URL, mqtt://[USER@]HOST:PORT or mqtts://[USER@]HOST:PORT (env MQTT_URL, which may carry USER:PASSWORD@), ` +
          `or '${NO_BROKER}' to take events over HTTP only (needs --http-port). The password: env ${BROKER_ENV.password} (never in a flag)`,
      },
      'broker-ca': { type: 'string', describe: `mqtts: PEM file of the CA that signed the broker's certificate (env ${BROKER_ENV.ca}; default: the system's CAs)` },
      'broker-cert': { type: 'string', describe: `mqtts: PEM file of the client certificate (env ${BROKER_ENV.cert}); needs --broker-key` },
      'broker-key': { type: 'string', describe: `mqtts: PEM file of the client certificate's private key, unencrypted (env ${BROKER_ENV.key})` },
      'mqtt-version': { type: 'string', default: '3.1.1', describe: 'MQTT protocol version: 3.1.1 (or 4) or 5' },
      'http-port': {
        type: 'number',
        describe:
          'also take events over HTTP on 127.0.0.1:PORT (0 = a free port, printed at start): POST /events with one event ' +
          'as JSON, through the same validate → dedup → sink; answered after the commit: 200 committed | duplicate, ' +
          '400 dead-lettered (with the reason), 503 not committed (send again). Off when absent',
      },
      'client-id': { type: 'string', default: defaults.client_id, describe: 'MQTT client id; fixed so the broker keeps the session' },
      topic: { type: 'string', default: defaults.topic, describe: 'topic filter to subscribe to (QoS 1)' },
      qos: { choices: [0, 1] as const, default: defaults.qos, describe: 'QoS of the subscription: 1 at-least-once, 0 at-most-once (nothing acked, nothing kept while away)' },
      'clean-session': { type: 'boolean', default: defaults.clean_session, describe: 'start with a clean MQTT session (drops what the broker queued)' },
      dedup: {
        type: 'string',
        default: defaults.dedup,
        describe:
          "dedup store: memory | none | sqlite (inside the sink's database, atomic with the commit) | sqlite:PATH | " +
          'redis | redis://HOST:PORT (default REDIS_URL) | postgres | postgres://USER@HOST:PORT/DB (default DATABASE_URL)',
      },
      'dedup-ttl-ms': { type: 'number', default: defaults.dedup_ttl_ms, describe: 'how long an event id is remembered' },
      'dedup-namespace': {
        type: 'string',
        describe:
          'redis dedup only: keep claims under chaosbench:dedup:NAME: (default: the client id, private to this aggregator). ' +
          "Give every aggregator on one shared subscription ($share/GROUP/…) the same NAME so they share one set of claims; " +
          'the postgres dedup table (chaosbench.dedup) is shared by every aggregator on its database',
      },
      'dedup-schema': {
        type: 'string',
        describe: 'postgres dedup only: schema of the claims table (default chaosbench; created if missing)',
      },
      sink: {
        type: 'string',
        default: defaults.sink,
        describe: 'sink: sqlite:PATH | postgres | postgres://USER@HOST:PORT/DB (default DATABASE_URL; tables in schema chaosbench)',
      },
      'sink-schema': {
        type: 'string',
        default: DEFAULT_POSTGRES_SCHEMA,
        describe: 'postgres sink only: schema of its tables events, dlq and sink_meta (created if missing)',
      },
      'sink-mode': {
        choices: ['idempotent', 'append'] as const,
        default: defaults.sink_mode,
        describe: 'idempotent (ON CONFLICT DO NOTHING) or append (keeps duplicates; to show what dedup prevents)',
      },
      'sink-delay-ms': { type: 'number', default: defaults.sink_delay_ms, describe: 'artificial delay per sink commit (slow sink)' },
      'commit-hold-ms': { type: 'number', describe: 'calibration: a delay inside every sink transaction, before COMMIT (a slow COMMIT)' },
      'batch-size': { type: 'number', default: defaults.batch_size, describe: 'most messages per sink commit' },
      'batch-wait-ms': { type: 'number', default: defaults.batch_wait_ms, describe: 'longest wait to fill a batch' },
      'max-in-flight': { type: 'number', default: defaults.max_in_flight, describe: 'un-acked messages before reading pauses (backpressure)' },
      'max-payload-bytes': { type: 'number', default: defaults.max_payload_bytes, describe: 'larger payloads go to the DLQ' },
      seed: { type: 'number', default: defaults.seed, describe: 'seed for retry and reconnect jitter' },
      bare: {
        type: 'boolean',
        default: defaults.bare,
        describe: 'ack on receipt, no validation/dedup/sink: the baseline for capacity comparisons',
      },
    })
    .strict()
    .help()
    .version(false)
    .fail((message, error) => {
      throw new UsageError(message ?? error?.message ?? 'bad arguments');
    })
    .parseAsync();

  // The URL from MQTT_URL may carry a password (it is not in the process list); from --broker it may not.
  const brokerFromFlag = argv.some((arg) => arg === '--broker' || arg.startsWith('--broker='));
  let brokerUrl = args.broker;
  let brokerAccess: AggregatorConfig['broker_access'];
  if (brokerUrl !== NO_BROKER) {
    const resolved = resolveBrokerAccess({
      url: args.broker,
      url_from: brokerFromFlag ? 'flag' : 'env',
      url_field: brokerFromFlag ? '--broker' : 'MQTT_URL',
      ca: args['broker-ca'],
      cert: args['broker-cert'],
      key: args['broker-key'],
      mqtt_version: args['mqtt-version'],
      flags: { ca: '--broker-ca', cert: '--broker-cert', key: '--broker-key', mqtt_version: '--mqtt-version' },
    });
    if (resolved.problems.length > 0) throw new UsageError(resolved.problems.join('\n'));
    brokerUrl = resolved.url;
    brokerAccess = resolved.access;
  }
  const config: AggregatorConfig = {
    ...defaults,
    broker_url: brokerUrl,
    ...(brokerAccess ? { broker_access: brokerAccess } : {}),
    client_id: args['client-id'],
    topic: args.topic,
    clean_session: args['clean-session'],
    qos: args.qos,
    dedup: args.dedup,
    dedup_ttl_ms: args['dedup-ttl-ms'],
    dedup_namespace: args['dedup-namespace'],
    dedup_schema: args['dedup-schema'],
    sink: args.sink,
    sink_mode: args['sink-mode'],
    sink_schema: args['sink-schema'],
    sink_delay_ms: args['sink-delay-ms'],
    commit_hold_ms: args['commit-hold-ms'],
    batch_size: args['batch-size'],
    batch_wait_ms: args['batch-wait-ms'],
    max_in_flight: args['max-in-flight'],
    max_payload_bytes: args['max-payload-bytes'],
    seed: args.seed,
    bare: args.bare,
    http_port: args['http-port'],
  };
  validateAggregatorConfig(config);
  return config;
}

/**
 * Throws UsageError naming every bad field. Checks types too: over IPC the object is plain JSON
 * that no flag parser has typed.
 */
export function validateAggregatorConfig(config: AggregatorConfig): void {
  const errors: string[] = [];
  const text = (field: string, value: unknown) => {
    if (typeof value !== 'string' || value === '') errors.push(`${field} must be a non-empty string, got ${JSON.stringify(value)}`);
  };
  const flag = (field: string, value: unknown) => {
    if (typeof value !== 'boolean') errors.push(`${field} must be true or false, got ${JSON.stringify(value)}`);
  };
  if (typeof config !== 'object' || config === null) throw new UsageError(`the aggregator's configuration must be an object, got ${JSON.stringify(config)}`);
  for (const [field, value] of [['broker', config.broker_url], ['client-id', config.client_id], ['topic', config.topic], ['dedup', config.dedup], ['sink', config.sink]] as const) {
    text(field, value);
  }
  // The checks below parse these three as text.
  if ([config.broker_url, config.dedup, config.sink].some((value) => typeof value !== 'string')) throw new UsageError(errors.join('\n'));
  flag('clean-session', config.clean_session);
  flag('bare', config.bare);
  if (config.qos !== 0 && config.qos !== 1) errors.push(`qos must be 0 or 1, got ${JSON.stringify(config.qos)}`);
  if (config.sink_mode !== 'idempotent' && config.sink_mode !== 'append') errors.push(`sink-mode must be idempotent or append, got ${JSON.stringify(config.sink_mode)}`);
  const positiveInt = (field: string, value: number) => {
    if (!Number.isInteger(value) || value < 1) errors.push(`${field} must be a positive integer, got ${value}`);
  };
  const nonNegative = (field: string, value: number) => {
    if (!Number.isFinite(value) || value < 0) errors.push(`${field} must be >= 0, got ${value}`);
  };
  if (config.broker_url === NO_BROKER) {
    if (config.http_port === undefined) errors.push(`broker '${NO_BROKER}' leaves nothing to take events from: give --http-port too`);
  } else {
    const shown = redactPassword(config.broker_url);
    try {
      const url = new URL(config.broker_url);
      if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') errors.push(`broker must be mqtt://host:port, mqtts://host:port or ${NO_BROKER}, got ${shown}`);
      // Credentials travel in broker_access, never in the URL (which is printed).
      if (url.username !== '' || url.password !== '') errors.push(`broker: credentials belong in broker_access, not in the URL ${shown}`);
    } catch {
      errors.push(`broker must be mqtt://host:port, mqtts://host:port or ${NO_BROKER}, got ${shown}`);
    }
    const access = config.broker_access;
    if (access !== undefined) {
      if (typeof access !== 'object' || access === null) errors.push('broker_access must be an object');
      else {
        try {
          parseMqttVersion(access.mqtt_version);
        } catch (error) {
          errors.push(`mqtt-version ${(error as Error).message}`);
        }
        for (const key of ['username', 'password', 'ca', 'cert', 'key', 'verify_host'] as const) {
          if (access[key] !== undefined && typeof access[key] !== 'string') errors.push(`broker_access.${key} must be a string`);
        }
      }
    }
  }
  if (config.http_port !== undefined) {
    if (!Number.isInteger(config.http_port) || config.http_port < 0 || config.http_port > 65_535) {
      errors.push(`http-port must be an integer in [0, 65535] (0 = a free port), got ${config.http_port}`);
    }
    if (config.bare) errors.push('http-port cannot be combined with bare (the bare baseline acks MQTT deliveries only)');
  }
  let dedup: DedupSpec | undefined;
  try {
    dedup = parseDedupSpec(config.dedup);
  } catch (error) {
    errors.push(`dedup: ${(error as Error).message}`);
  }
  let sink: SinkSpec | undefined;
  try {
    sink = parseSinkSpec(config.sink);
  } catch (error) {
    errors.push((error as Error).message);
  }
  if (config.dedup_namespace !== undefined && config.dedup_namespace.trim() === '') {
    errors.push('dedup-namespace must not be empty (leave it out to use the client id)');
  }
  if (config.dedup_schema !== undefined) {
    try {
      resolveSchema(config.dedup_schema);
    } catch (error) {
      errors.push(`dedup-schema: ${(error as Error).message}`);
    }
  }
  if (config.sink_schema !== undefined) {
    try {
      resolveSchema(config.sink_schema);
    } catch (error) {
      errors.push(`sink-schema: ${(error as Error).message}`);
    }
  }
  const conflict = dedup && sink ? dedupSinkConflict(dedup, sink) : undefined;
  if (conflict) errors.push(conflict);
  positiveInt('batch-size', config.batch_size);
  positiveInt('max-in-flight', config.max_in_flight);
  positiveInt('max-payload-bytes', config.max_payload_bytes);
  positiveInt('dedup-ttl-ms', config.dedup_ttl_ms);
  nonNegative('batch-wait-ms', config.batch_wait_ms);
  nonNegative('sink-delay-ms', config.sink_delay_ms);
  if (config.commit_hold_ms !== undefined) nonNegative('commit-hold-ms', config.commit_hold_ms);
  if (!Number.isInteger(config.seed)) errors.push(`seed must be an integer, got ${config.seed}`);
  if (typeof config.retry !== 'object' || config.retry === null) errors.push(`retry must be an object, got ${JSON.stringify(config.retry)}`);
  else {
    nonNegative('retry.base_ms', config.retry.base_ms);
    nonNegative('retry.cap_ms', config.retry.cap_ms);
    positiveInt('retry.max_attempts', config.retry.max_attempts);
  }
  if (errors.length > 0) throw new UsageError(errors.join('\n'));
}

/**
 * The harness's child asks for its configuration and takes the answer (engine/aggregator-process.ts
 * sends it). It asks, rather than waiting for a message sent at fork, because a message that
 * arrives while the modules still load, before any listener, is dropped.
 */
function configFromHarness(): Promise<AggregatorConfig> {
  return new Promise((resolve, reject) => {
    process.once('message', (message: HarnessMessage) => {
      if (message?.type !== 'config') return reject(new UsageError(`the harness's first message must be the configuration, got ${JSON.stringify(message?.type)}`));
      try {
        validateAggregatorConfig(message.config);
        resolve(message.config);
      } catch (error) {
        reject(error as Error);
      }
    });
    process.send!({ type: 'awaiting-config' });
  });
}

async function main(): Promise<void> {
  const child = typeof process.send === 'function';
  let config: AggregatorConfig;
  try {
    config = child ? await configFromHarness() : await parseAggregatorArgs(hideBin(process.argv));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${child ? '' : '\nRun with --help for the options.\n'}`);
    process.exit(EXIT.bad_input);
  }
  const log = (line: string) => process.stderr.write(`[aggregator] ${line}\n`);
  const sinkSpec = parseSinkSpec(config.sink);
  if (sinkSpec.kind === 'sqlite') mkdirSync(dirname(sinkSpec.path), { recursive: true });
  const service = new AggregatorService(config, log);
  try {
    await service.start();
  } catch (error) {
    log((error as Error).message);
    process.exit(EXIT.invalid_run);
  }
  const report = (type: 'ready' | 'counters' | 'stopped') => {
    if (child) process.send!({ type, counters: service.counters, claim_order: service.claim_order, http_port: service.http_port });
    else if (type !== 'ready') log(JSON.stringify(service.counters));
  };
  report('ready');
  if (!child) {
    const from = [
      config.broker_url === NO_BROKER
        ? undefined
        : `subscribed to ${config.topic} at ${config.broker_url} (MQTT ${mqttVersionName(config.broker_access?.mqtt_version ?? 4)}${config.broker_access?.username !== undefined ? `, user ${config.broker_access.username}, password ***` : ''})`,
      service.http_port === undefined ? undefined : `listening for POST http://127.0.0.1:${service.http_port}/events`,
    ];
    log(`${from.filter(Boolean).join('; ')}; dedup ${redactPassword(config.dedup)} (${service.claim_order}), sink ${redactPassword(config.sink)}`);
  }
  // A harness driving a closed model paces itself on these counters and asks for them more often.
  const childInterval = Number(process.env.CHAOSBENCH_REPORT_INTERVAL_MS ?? 100);
  const ticker = setInterval(() => report('counters'), child ? (childInterval > 0 ? childInterval : 100) : 5_000);

  const shutdown = async (signal: string) => {
    clearInterval(ticker);
    log(`${signal}: draining in-flight batches`);
    await service.stop();
    report('stopped');
    // Let the IPC message flush before exiting.
    setTimeout(() => process.exit(EXIT.ok), 50);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  if (child) {
    process.on('message', (message: HarnessMessage) => {
      if (message?.type === 'stop') void shutdown('stop');
      // The slow-sink fault: a delay profile for a phase, and stall windows.
      else if (message?.type === 'slow-sink') service.slowdown.set(message.profile ?? undefined, message.seed);
      else if (message?.type === 'stall-sink') service.slowdown.stall(message.ms);
    });
    // The harness died: do not linger as an orphan.
    process.once('disconnect', () => void shutdown('parent gone'));
  }
}

/** What the harness may send to an aggregator it runs as a child process. */
export type HarnessMessage =
  | { type: 'config'; config: AggregatorConfig }
  | { type: 'stop' }
  | { type: 'slow-sink'; profile: SlowdownProfile | null; seed?: number }
  | { type: 'stall-sink'; ms: number };

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  await main();
}
