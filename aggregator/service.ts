// The reference aggregator as one object: a consumer connection (and/or the HTTP ingest, see
// ingest/http.ts) feeding the pipeline, with its dedup store and sink built from plain configuration.
// Used by the standalone `npm run aggregator` and by the harness (which runs it as a child process
// so that it can be killed).

import { ConsumerConnection, type AckToken, type OversizedPayload } from './consumer/connection.ts';
import type { BrokerAccess } from './consumer/access.ts';
import { emptyCounters, Pipeline, type AggregatorCounters, type PipelineMessage } from './pipeline.ts';
import { SinkSlowdown } from './sink/slowdown.ts';
import { SqliteSink } from './sink/sqlite.ts';
import { ThreadedSqliteSink } from './sink/sqlite-thread.ts';
import { PostgresSink } from './sink/postgres.ts';
import { createDedupStore, parseDedupSpec, type DedupSpec } from './dedup/registry.ts';
import type { DedupStore } from './dedup/index.ts';
import { deriveSeed, seededRandom } from './random.ts';
import { ENVELOPE_ALLOWANCE_BYTES } from './event/parse.ts';
import { HttpIngest } from './ingest/http.ts';
import { NO_BROKER, type AggregatorConfig } from './config.ts';
import { parseSinkSpec } from './sink/spec.ts';
import { DLQ_RAW_PREFIX_BYTES } from './sink/index.ts';
import { aggregatorMetrics } from './metrics/registry.ts';
import { MetricsServer } from './metrics/server.ts';

// The configuration (its table of settings, defaults and check) lives in config.ts, the sink's spec
// in sink/spec.ts; re-exported here for the service's users.
export { DEFAULT_AGGREGATOR_CONFIG, NO_BROKER, type AggregatorConfig } from './config.ts';
export { parseSinkSpec, sinkPath, type SinkSpec } from './sink/spec.ts';

/** How long stop() keeps retrying a failing sink or store before it leaves the rest un-acked. */
export const STOP_GRACE_MS = 10_000;

export class AggregatorService {
  private connection: ConsumerConnection | undefined;
  private pipeline: Pipeline | undefined;
  private sink: SqliteSink | ThreadedSqliteSink | PostgresSink | undefined;
  private store: DedupStore | undefined;
  private stopping: Promise<void> | undefined;
  private bareCounters: AggregatorCounters | undefined;
  private http: HttpIngest | undefined;
  private metricsServer: MetricsServer | undefined;
  private readonly metrics = aggregatorMetrics(() => ({
    counters: this.counters,
    in_flight: this.pipeline?.backlog ?? 0,
    lag_s: this.pipeline?.lagSeconds() ?? 0,
  }));

  /** The sink's slow-down knob, which the harness's slow-sink fault turns at run time. */
  readonly slowdown: SinkSlowdown;

  constructor(readonly config: AggregatorConfig, private readonly log: (line: string) => void = () => {}) {
    this.slowdown = new SinkSlowdown(config.sink_delay_ms, config.seed);
  }

  get counters(): AggregatorCounters | undefined {
    return this.pipeline?.counters ?? this.bareCounters;
  }

  /** The HTTP ingest's bound port once started (undefined when it is off). */
  get http_port(): number | undefined {
    return this.http?.port;
  }

  /** The metrics endpoint's bound port once started (undefined when it is off). */
  get metrics_port(): number | undefined {
    return this.metricsServer?.port;
  }

  get claim_order(): string | undefined {
    return this.config.bare ? 'bare (ack on receipt)' : this.pipeline?.order;
  }

  async start(): Promise<void> {
    // First: a port that cannot be bound fails the start before anything connects.
    if (this.config.metrics_port !== undefined) {
      this.metricsServer = await MetricsServer.start(this.metrics.registry, this.config.metrics_port);
      this.metrics.addProcessMetrics();
    }
    if (this.config.bare) return this.startBare();
    const config = this.config;
    const sinkSpec = parseSinkSpec(config.sink);
    const SqliteSinkClass = sqliteSinkOnThread(config.sink_thread, parseDedupSpec(config.dedup)) ? ThreadedSqliteSink : SqliteSink;
    const sink =
      sinkSpec.kind === 'sqlite'
        ? new SqliteSinkClass({ path: sinkSpec.path, mode: config.sink_mode, slowdown: this.slowdown, holdMs: config.commit_hold_ms ?? 0 })
        : new PostgresSink({
            url: sinkSpec.url,
            schema: config.sink_schema,
            mode: config.sink_mode,
            slowdown: this.slowdown,
            holdMs: config.commit_hold_ms ?? 0,
            onError: (error) => this.log(`sink: ${error.message}`),
          });
    this.sink = sink;
    // A sink on a server: fail at start-up when it cannot be reached (or is in the other mode).
    if (sink instanceof PostgresSink) await sink.open();
    // Redis claims are namespaced by the client id unless a dedup namespace is given: the broker keeps
    // this id's session, and the claims belong with it (a restarted aggregator with the same id sees its
    // own claims, another one does not). Scaled-out aggregators on one shared subscription name one
    // namespace, so that their claims are one set.
    this.store = createDedupStore(config.dedup, {
      // 'sqlite' without a path shares a SQLite sink's database; there is none to share with Postgres.
      sink: sink instanceof SqliteSink ? sink : undefined,
      namespace: config.dedup_namespace ?? config.client_id,
      ...(config.dedup_schema === undefined ? {} : { schema: config.dedup_schema }),
      onError: (error) => this.log(`dedup store: ${error.message}`),
    });
    // A store on a server: fail at start-up when it cannot be reached, not at the first batch.
    await this.store.open?.();
    const pipeline = new Pipeline(
      this.store,
      sink,
      {
        batch_size: config.batch_size,
        batch_wait_ms: config.batch_wait_ms,
        dedup_ttl_ms: config.dedup_ttl_ms,
        retry: config.retry,
        parse: { maxPayloadBytes: config.max_payload_bytes },
        dlq_max_bytes: config.dlq_max_bytes,
        random: seededRandom(deriveSeed(config.seed, 'aggregator.retry')),
        observeBatch: this.metrics.observeBatch,
        ...(config.mutation === undefined ? {} : { mutation: config.mutation }),
      },
      (error) => {
        this.log(`batch could not be made durable, left un-acked for redelivery: ${String(error)}`);
        // Un-acked on a live connection, the batch would never come back: the broker resends only on
        // a new connection. At shutdown the next start's connection gets it.
        if (!this.stopping) this.connection?.reconnect('a batch could not be made durable');
      },
    );
    this.pipeline = pipeline;
    if (config.http_port !== undefined) {
      this.http = new HttpIngest(pipeline, {
        port: config.http_port,
        max_in_flight: config.max_in_flight,
        // Oversized events are read and dead-lettered with the parser's reason, as over MQTT; only
        // bodies far beyond any valid event are refused unread.
        max_body_bytes: Math.max(2 ** 20, 2 * (config.max_payload_bytes + ENVELOPE_ALLOWANCE_BYTES)),
        max_connections: config.http_max_connections,
        headers_timeout_ms: config.http_headers_timeout_ms,
        request_timeout_ms: config.http_request_timeout_ms,
        ...(config.http_token === undefined ? {} : { token: config.http_token }),
      });
      await this.http.start();
    }
    if (config.broker_url === NO_BROKER) return;
    const connection = this.connect();
    connection.on('message', (message) => {
      pipeline.push(new MqttMessage(message.topic, message.payload, message.dup, connection, message.ackToken, message.oversized));
    });
    await connection.start();
  }

  private async startBare(): Promise<void> {
    const counters = emptyCounters();
    this.bareCounters = counters;
    const connection = this.connect();
    connection.on('message', (message) => {
      counters.received++;
      connection.ack(message.ackToken);
      counters.acked++;
    });
    await connection.start();
  }

  private connect(): ConsumerConnection {
    const config = this.config;
    const connection = new ConsumerConnection({
      url: config.broker_url,
      ...(config.broker_access ? { access: config.broker_access } : {}),
      clientId: config.client_id,
      topic: config.topic,
      clean: config.clean_session,
      keepalive_s: 30,
      max_in_flight: config.max_in_flight,
      qos: config.qos,
      reconnect: { base_ms: 50, cap_ms: 2_000, max_attempts: Number.POSITIVE_INFINITY },
      random: seededRandom(deriveSeed(config.seed, 'aggregator.reconnect')),
      // A message over the parser's raw limit is dead-lettered as its first bytes, size and hash: it
      // is read a chunk at a time and never held whole (issue 21: a 250 MB message cost 250 MB+).
      oversized: { above_bytes: config.max_payload_bytes + ENVELOPE_ALLOWANCE_BYTES, prefix_bytes: DLQ_RAW_PREFIX_BYTES },
    });
    this.connection = connection;
    connection.on('disconnected', (reason) => this.log(`broker connection lost (${reason}); reconnecting`));
    connection.on('subscribed', (generation, sessionPresent) => {
      if (generation > 1) this.log(`resubscribed (session present: ${sessionPresent})`);
    });
    connection.on('error', (error) => this.log(`mqtt: ${error.message}`));
    return connection;
  }

  /** Stop taking messages, commit and ack everything in flight, then disconnect and close stores. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.connection?.pause();
      this.http?.stopAccepting();
      // A sink or store that stays down must not hold the shutdown for ever: after the grace period
      // the batches still failing are left un-acked (the broker redelivers them to the next start).
      const giveUp = setTimeout(() => this.pipeline?.abandonRetries(), STOP_GRACE_MS);
      giveUp.unref();
      await this.pipeline?.drain();
      await this.http?.close();
      await this.connection?.close();
      await this.pipeline?.drain();
      await this.store?.close();
      await this.sink?.close();
    })();
    return this.stopping;
  }

  /**
   * Closes the metrics endpoint, after stop(): first waits up to finalScrapeMs for two more scrapes,
   * so that a scraper reads the final counters (the harness asks for this; 0: close at once).
   */
  async closeMetrics(finalScrapeMs = 0): Promise<void> {
    const server = this.metricsServer;
    if (!server) return;
    await server.finalScrape(finalScrapeMs);
    await server.close();
  }
}

/**
 * Whether a SQLite sink commits on a thread of its own (setting sink_thread, see config.ts). A sqlite
 * dedup store without a path claims inside the sink's transaction, on its handle: never.
 */
export function sqliteSinkOnThread(sinkThread: boolean, dedup: DedupSpec): boolean {
  return sinkThread && !(dedup.kind === 'sqlite' && dedup.path === undefined);
}

/**
 * A delivery handed to the pipeline; its ack sends the PUBACK. A class rather than an object with an
 * arrow function: one closure per message was a function object (and, under tsx, a name) per
 * message, about 1% of the aggregator's time in a profile.
 */
class MqttMessage implements PipelineMessage {
  constructor(
    readonly topic: string,
    readonly payload: Buffer,
    readonly dup: boolean,
    private readonly connection: ConsumerConnection,
    private readonly token: AckToken,
    readonly oversized?: OversizedPayload,
  ) {}

  ack(): void {
    this.connection.ack(this.token);
  }
}
