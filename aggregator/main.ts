// Standalone entry point of the reference aggregator: `npm run aggregator -- --broker mqtt://…`.
// Also the child process the harness starts: it then takes its whole AggregatorConfig as one JSON
// message over the IPC channel (never as argv, where a database password would sit in
// /proc/<pid>/cmdline and `ps` for anyone to read) and reports over IPC instead of printing.
// Both ways end in validateAggregatorConfig, the one check of a configuration.
// Exit codes: 0 after a graceful drain, 2 for bad flags, 3 when the broker or the dedup store's
// server cannot be reached, or the HTTP port (--http-port) or the metrics port (--metrics-port)
// cannot be bound.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import yargs, { type Options } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { SlowdownProfile } from './sink/slowdown.ts';
import { AggregatorService } from './service.ts';
import { checkAggregatorConfig, DEFAULT_AGGREGATOR_CONFIG, HTTP_TOKEN_ENV, NO_BROKER, SETTING_FLAGS, type AggregatorConfig, type CheckedConfig } from './config.ts';
import { passwordInFlag, redactPassword, redactPasswords } from './redact.ts';
import { BROKER_ENV, mqttVersionName, resolveBrokerAccess } from './consumer/access.ts';
import { EXIT, UsageError } from '../cli/exit.ts';
import { redisDatabaseProblem } from './dedup/redis.ts';

/** The command line as a configuration, checked; a UsageError names every bad flag. */
export async function parseAggregatorArgs(argv: string[]): Promise<AggregatorConfig> {
  return (await readAggregatorArgs(argv)).config;
}

async function readAggregatorArgs(argv: string[]): Promise<CheckedOk> {
  const args: Record<string, unknown> = await yargs(argv)
    .scriptName('npm run aggregator --')
    .usage(
      'Reference log aggregator: QoS 1 subscriber → validate → dedup → idempotent sink → PUBACK.\n\n' +
        'Usage: $0 --broker mqtt://127.0.0.1:1883 --dedup sqlite --sink sqlite:./data/events.db\n' +
        '       $0 --broker mqtt://127.0.0.1:1883 --dedup postgres --sink postgres://postgres@127.0.0.1:5432/test\n' +
        '       $0 --broker none --http-port 0   (HTTP only, on a free port printed at start: POST /events, answered after the commit)\n' +
        `HTTP ingest token (Authorization: Bearer TOKEN): env ${HTTP_TOKEN_ENV}, never a flag`,
    )
    // Every flag is a setting of the table in config.ts, declared from it.
    .options(Object.fromEntries(SETTING_FLAGS.map(({ flag, option }) => [flag, option as Options])))
    // How to reach the broker beyond its URL (consumer/access.ts): files and a version, read into broker_access.
    .options({
      'broker-ca': { type: 'string', describe: `mqtts: PEM file of the CA that signed the broker's certificate (env ${BROKER_ENV.ca}; default: the system's CAs)` },
      'broker-cert': { type: 'string', describe: `mqtts: PEM file of the client certificate (env ${BROKER_ENV.cert}); needs --broker-key` },
      'broker-key': { type: 'string', describe: `mqtts: PEM file of the client certificate's private key, unencrypted (env ${BROKER_ENV.key})` },
      'mqtt-version': { type: 'string', default: '3.1.1', describe: 'MQTT protocol version: 3.1.1 (or 4) or 5' },
    })
    .strict()
    .help()
    .version(false)
    .fail((message, error) => {
      throw new UsageError(message ?? error?.message ?? 'bad arguments');
    })
    .parseAsync();
  const given = Object.fromEntries(SETTING_FLAGS.map(({ flag, name }) => [name, args[flag]]));
  // argv is readable by every user (ps): a password of the dedup store or the sink comes from the
  // environment (REDIS_URL, DATABASE_URL, PGPASSWORD) instead; --broker has its own check below.
  const inArgv = SETTING_FLAGS.flatMap(({ flag }) => (flag === 'broker' ? [] : (passwordInFlag(`--${flag}`, args[flag]) ?? [])));
  if (inArgv.length > 0) throw new UsageError(inArgv.join('\n'));
  // The URL from MQTT_URL may carry a password (it is not in the process list); from --broker it may not.
  const brokerFromFlag = argv.some((arg) => arg === '--broker' || arg.startsWith('--broker='));
  if (typeof given.broker_url === 'string' && given.broker_url !== NO_BROKER) {
    const resolved = resolveBrokerAccess({
      url: given.broker_url,
      url_from: brokerFromFlag ? 'flag' : 'env',
      url_field: brokerFromFlag ? '--broker' : 'MQTT_URL',
      ca: args['broker-ca'] as string | undefined,
      cert: args['broker-cert'] as string | undefined,
      key: args['broker-key'] as string | undefined,
      mqtt_version: args['mqtt-version'] as string,
      flags: { ca: '--broker-ca', cert: '--broker-cert', key: '--broker-key', mqtt_version: '--mqtt-version' },
    });
    if (resolved.problems.length > 0) throw new UsageError(resolved.problems.join('\n'));
    given.broker_url = resolved.url;
    // Plain MQTT 3.1.1 with no TLS material and no credentials is what an absent broker_access means.
    const { mqtt_version, ...rest } = resolved.access;
    if (mqtt_version !== 4 || Object.values(rest).some((value) => value !== undefined)) given.broker_access = resolved.access;
  }
  // The HTTP ingest's token is a secret: from the environment only, never a flag.
  const token = process.env[HTTP_TOKEN_ENV];
  if (token !== undefined && token !== '') given.http_token = token;
  return validateAggregatorConfig({ ...DEFAULT_AGGREGATOR_CONFIG, ...given });
}

type CheckedOk = Extract<CheckedConfig, { ok: true }>;

/** The one check of a configuration (config.ts), as a UsageError naming every bad field; gives the parsed dedup store and sink. */
export function validateAggregatorConfig(config: unknown): CheckedOk {
  const checked = checkAggregatorConfig(config, { allow_mutations: process.env.CHAOSBENCH_ALLOW_MUTATIONS === '1' });
  if (!checked.ok) throw new UsageError(checked.problems.join('\n'));
  // A bare 'redis' takes its URL from the environment, which no flag parser has seen: its database index is checked here.
  const fromEnvironment = checked.dedup.kind === 'redis' && checked.dedup.url === undefined ? process.env.REDIS_URL : undefined;
  const database = fromEnvironment === undefined ? undefined : redisDatabaseProblem(fromEnvironment);
  if (database) throw new UsageError(`REDIS_URL (read for --dedup redis): ${database}`);
  return checked;
}

/**
 * The harness's child asks for its configuration and takes the answer (engine/aggregator-process.ts
 * sends it). It asks, rather than waiting for a message sent at fork, because a message that
 * arrives while the modules still load, before any listener, is dropped.
 */
function configFromHarness(): Promise<CheckedOk> {
  return new Promise((resolve, reject) => {
    process.once('message', (message: HarnessMessage) => {
      if (message?.type !== 'config') return reject(new UsageError(`the harness's first message must be the configuration, got ${JSON.stringify(message?.type)}`));
      try {
        resolve(validateAggregatorConfig(message.config));
      } catch (error) {
        reject(error as Error);
      }
    });
    process.send!({ type: 'awaiting-config' });
  });
}

async function main(): Promise<void> {
  const child = typeof process.send === 'function';
  let checked: CheckedOk;
  try {
    checked = child ? await configFromHarness() : await readAggregatorArgs(hideBin(process.argv));
  } catch (error) {
    process.stderr.write(`${redactPasswords((error as Error).message)}\n${child ? '' : '\nRun with --help for the options.\n'}`);
    process.exit(EXIT.bad_input);
  }
  // Every line with any URL's password as *** (a store's or sink's error may quote its URL).
  const log = (line: string) => process.stderr.write(`[aggregator] ${redactPasswords(line)}\n`);
  const { config, sink } = checked;
  if (sink.kind === 'sqlite') mkdirSync(dirname(sink.path), { recursive: true });
  const service = new AggregatorService(config, log);
  try {
    await service.start();
  } catch (error) {
    log((error as Error).message);
    process.exit(EXIT.invalid_run);
  }
  const report = (type: 'ready' | 'counters' | 'stopped') => {
    if (child) process.send!({ type, counters: service.counters, claim_order: service.claim_order, http_port: service.http_port, metrics_port: service.metrics_port });
    else if (type !== 'ready') log(JSON.stringify(service.counters));
  };
  report('ready');
  if (!child) {
    const from = [
      config.broker_url === NO_BROKER
        ? undefined
        : `subscribed to ${config.topic} at ${config.broker_url} (MQTT ${mqttVersionName(config.broker_access?.mqtt_version ?? 4)}${config.broker_access?.username !== undefined ? `, user ${config.broker_access.username}, password ***` : ''})`,
      service.http_port === undefined ? undefined : `listening for POST http://127.0.0.1:${service.http_port}/events`,
      service.metrics_port === undefined ? undefined : `metrics at http://127.0.0.1:${service.metrics_port}/metrics`,
    ];
    log(`${from.filter(Boolean).join('; ')}; dedup ${redactPassword(config.dedup)} (${service.claim_order}), sink ${redactPassword(config.sink)}`);
  }
  // A harness driving a closed model paces itself on these counters and asks for them more often.
  const childInterval = Number(process.env.CHAOSBENCH_REPORT_INTERVAL_MS ?? 100);
  const ticker = setInterval(() => report('counters'), child ? (childInterval > 0 ? childInterval : 100) : 5_000);

  const shutdown = async (signal: string, finalScrapeMs = 0) => {
    clearInterval(ticker);
    log(`${signal}: draining in-flight batches`);
    await service.stop();
    report('stopped');
    // The harness may ask the endpoint to stay until a scraper has read the final counters.
    await service.closeMetrics(finalScrapeMs);
    // Let the IPC message flush before exiting.
    setTimeout(() => process.exit(EXIT.ok), 50);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  // Run by the harness, Ctrl-C (SIGINT to the terminal's whole process group) is the harness's to
  // act on: it stops the load and then this process, in order, and its leaving (the IPC channel
  // closing) stops this process anyway. On its own, Ctrl-C stops it.
  if (child) process.on('SIGINT', () => {});
  else process.once('SIGINT', () => void shutdown('SIGINT'));
  if (child) {
    process.on('message', (message: HarnessMessage) => {
      if (message?.type === 'stop') void shutdown('stop', message.final_scrape_ms);
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
  /** final_scrape_ms: keep the metrics endpoint (if any) after the drain until two more scrapes, at most this long. */
  | { type: 'stop'; final_scrape_ms?: number }
  | { type: 'slow-sink'; profile: SlowdownProfile | null; seed?: number }
  | { type: 'stall-sink'; ms: number };

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  await main();
}
