// The reference aggregator as one object: a consumer connection (and/or the HTTP ingest, see
// ingest/http.ts) feeding the pipeline, with its dedup store and sink built from plain configuration.
// Used by the standalone `npm run aggregator` and by the harness (which runs it as a child process
// so that it can be killed).

import { ConsumerConnection, type AckToken } from './consumer/connection.ts';
import type { BrokerAccess } from './consumer/access.ts';
import { emptyCounters, Pipeline, type AggregatorCounters, type PipelineMessage } from './pipeline.ts';
import { SinkSlowdown } from './sink/slowdown.ts';
import { SqliteSink } from './sink/sqlite.ts';
import { PostgresSink } from './sink/postgres.ts';
import type { SinkMode } from './sink/index.ts';
import { createDedupStore } from './dedup/registry.ts';
import type { DedupStore } from './dedup/index.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
import { deriveSeed, seededRandom } from './random.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './event/types.ts';
import { ENVELOPE_ALLOWANCE_BYTES } from './event/parse.ts';
import { HttpIngest } from './ingest/http.ts';

export interface AggregatorConfig {
  /** mqtt://host:port or mqtts://host:port (no credentials), or 'none' for an HTTP-only aggregator (then http_port is required). */
  broker_url: string;
  /** MQTT version, TLS material and credentials for broker_url; absent: MQTT 3.1.1, none of the rest. */
  broker_access?: BrokerAccess;
  client_id: string;
  topic: string;
  /** MQTT clean session. false: the broker keeps our subscription and un-acked messages across reconnects. */
  clean_session: boolean;
  /** QoS of the subscription: 1 (at-least-once, the default) or 0 (at-most-once, to show what it loses). */
  qos: 0 | 1;
  /**
   * memory | none | sqlite (in the sink's database, atomic with it) | sqlite:PATH |
   * redis[://host:port] (keys under chaosbench:dedup:<dedup_namespace>:) | postgres[://user@host:port/db] (table
   * chaosbench.dedup, shared by every aggregator on that database)
   */
  dedup: string;
  /**
   * redis dedup only: the namespace of the claims. Default (undefined): the client id, so each aggregator's
   * claims are its own. Aggregators that share one stream (a `$share/<group>/…` subscription) give the same
   * name, so that an event claimed by one is a duplicate to the others.
   */
  dedup_namespace?: string;
  /**
   * postgres dedup only: schema of the claims table. Default (undefined): 'chaosbench', shared by every
   * aggregator on the database. The harness gives each run a schema of its own and drops it afterwards.
   */
  dedup_schema?: string;
  dedup_ttl_ms: number;
  /**
   * sqlite:PATH (':memory:' is refused: the harness must be able to read the sink after the run) |
   * postgres[://user@host:port/db] (tables events, dlq in schema chaosbench; default DATABASE_URL)
   */
  sink: string;
  sink_mode: SinkMode;
  /** postgres sink only: schema of its tables (created if missing). Default 'chaosbench'. */
  sink_schema?: string;
  /** Artificial delay added to every sink commit (the slow-sink knob). */
  sink_delay_ms: number;
  /** Calibration: a delay inside every sink transaction, before COMMIT (ScenarioAggregator.commit_hold_ms). Default 0. */
  commit_hold_ms?: number;
  batch_size: number;
  batch_wait_ms: number;
  max_in_flight: number;
  max_payload_bytes: number;
  retry: RetryPolicy;
  seed: number;
  /**
   * Ack every message on receipt with no validation, dedup or sink: not an aggregator but the
   * baseline that capacity comparisons divide by (what the broker and connection alone sustain).
   */
  bare: boolean;
  /**
   * HTTP ingest (POST /events, answered after the commit) on 127.0.0.1 at this port: undefined = off,
   * 0 = a free ephemeral port (read it from AggregatorService.http_port).
   */
  http_port?: number;
}

/** broker_url of an aggregator that takes events over HTTP only. */
export const NO_BROKER = 'none';

/** How long stop() keeps retrying a failing sink or store before it leaves the rest un-acked. */
export const STOP_GRACE_MS = 10_000;

export const DEFAULT_AGGREGATOR_CONFIG: AggregatorConfig = {
  broker_url: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
  client_id: 'chaosbench-aggregator',
  topic: 'events/#',
  clean_session: false,
  qos: 1,
  dedup: 'sqlite',
  dedup_ttl_ms: 10 * 60_000,
  sink: 'sqlite:./data/events.db',
  sink_mode: 'idempotent',
  sink_delay_ms: 0,
  batch_size: 200,
  batch_wait_ms: 5,
  max_in_flight: 2_000,
  max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
  retry: DEFAULT_RETRY_POLICY,
  seed: 1,
  bare: false,
};

/** Where the sink lives: a SQLite file, or a PostgreSQL server (url undefined = DATABASE_URL or the local default). */
export type SinkSpec = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url?: string };

const SINK_FORMS = "sqlite:PATH, postgres or postgres://USER@HOST:PORT/DB";

/** Parses 'sqlite:PATH' | 'postgres' | 'postgres://…' | 'postgresql://…'; no side effects (reads no environment). */
export function parseSinkSpec(spec: string): SinkSpec {
  if (spec.startsWith('sqlite:')) {
    if (spec.length <= 'sqlite:'.length) throw new Error(`sink '${spec}' has an empty path: use ${SINK_FORMS}`);
    return { kind: 'sqlite', path: spec.slice('sqlite:'.length) };
  }
  if (spec === 'postgres') return { kind: 'postgres' };
  if (/^postgres(ql)?:\/\//i.test(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new Error(`sink '${spec}' is not a valid URL: use postgres://USER@HOST:PORT/DB`);
    }
    if (url.hostname === '') throw new Error(`sink '${spec}' names no host: use postgres://USER@HOST:PORT/DB`);
    return { kind: 'postgres', url: spec };
  }
  // Worded so that the SQLite form comes first (the CLI tests match on it).
  throw new Error(`sink must be sqlite:PATH, got '${spec}' (or postgres, postgres://USER@HOST:PORT/DB)`);
}

/** The file of a 'sqlite:PATH' sink; throws for any other sink. */
export function sinkPath(spec: string): string {
  const parsed = parseSinkSpec(spec);
  if (parsed.kind !== 'sqlite') throw new Error(`sink must be sqlite:PATH, got '${spec}'`);
  return parsed.path;
}

export class AggregatorService {
  private connection: ConsumerConnection | undefined;
  private pipeline: Pipeline | undefined;
  private sink: SqliteSink | PostgresSink | undefined;
  private store: DedupStore | undefined;
  private stopping: Promise<void> | undefined;
  private bareCounters: AggregatorCounters | undefined;
  private http: HttpIngest | undefined;

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

  get claim_order(): string | undefined {
    return this.config.bare ? 'bare (ack on receipt)' : this.pipeline?.order;
  }

  async start(): Promise<void> {
    if (this.config.bare) return this.startBare();
    const config = this.config;
    const sinkSpec = parseSinkSpec(config.sink);
    const sink =
      sinkSpec.kind === 'sqlite'
        ? new SqliteSink({ path: sinkSpec.path, mode: config.sink_mode, slowdown: this.slowdown, holdMs: config.commit_hold_ms ?? 0 })
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
        random: seededRandom(deriveSeed(config.seed, 'aggregator.retry')),
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
      });
      await this.http.start();
    }
    if (config.broker_url === NO_BROKER) return;
    const connection = this.connect();
    connection.on('message', (message) => {
      pipeline.push(new MqttMessage(message.topic, message.payload, message.dup, connection, message.ackToken));
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
  ) {}

  ack(): void {
    this.connection.ack(this.token);
  }
}
