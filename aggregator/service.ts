// The reference aggregator as one object: a consumer connection feeding the pipeline, with its
// dedup store and sink built from plain configuration. Used by the standalone `npm run aggregator`
// and by the harness (which runs it as a child process so that it can be killed).

import { ConsumerConnection } from './consumer/connection.ts';
import { emptyCounters, Pipeline, type AggregatorCounters } from './pipeline.ts';
import { SinkSlowdown } from './sink/slowdown.ts';
import { SqliteSink } from './sink/sqlite.ts';
import { PostgresSink } from './sink/postgres.ts';
import type { SinkMode } from './sink/index.ts';
import { createDedupStore } from './dedup/registry.ts';
import type { DedupStore } from './dedup/index.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
import { deriveSeed, seededRandom } from './random.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './event/types.ts';

export interface AggregatorConfig {
  broker_url: string;
  client_id: string;
  topic: string;
  /** MQTT clean session. false: the broker keeps our subscription and un-acked messages across reconnects. */
  clean_session: boolean;
  /**
   * memory | none | sqlite (in the sink's database, atomic with it) | sqlite:PATH |
   * redis[://host:port] (keys under chaosbench:dedup:<client_id>:) | postgres[://user@host:port/db] (schema chaosbench)
   */
  dedup: string;
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
}

export const DEFAULT_AGGREGATOR_CONFIG: AggregatorConfig = {
  broker_url: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
  client_id: 'chaosbench-aggregator',
  topic: 'events/#',
  clean_session: false,
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

  /** The sink's slow-down knob, which the harness's slow-sink fault turns at run time. */
  readonly slowdown: SinkSlowdown;

  constructor(readonly config: AggregatorConfig, private readonly log: (line: string) => void = () => {}) {
    this.slowdown = new SinkSlowdown(config.sink_delay_ms, config.seed);
  }

  get counters(): AggregatorCounters | undefined {
    return this.pipeline?.counters ?? this.bareCounters;
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
        ? new SqliteSink({ path: sinkSpec.path, mode: config.sink_mode, slowdown: this.slowdown })
        : new PostgresSink({
            url: sinkSpec.url,
            schema: config.sink_schema,
            mode: config.sink_mode,
            slowdown: this.slowdown,
            onError: (error) => this.log(`sink: ${error.message}`),
          });
    this.sink = sink;
    // A sink on a server: fail at start-up when it cannot be reached (or is in the other mode).
    if (sink instanceof PostgresSink) await sink.open();
    // Redis claims are namespaced by the client id: the broker keeps this id's session, and the claims
    // belong with it (a restarted aggregator with the same id sees its own claims, another one does not).
    this.store = createDedupStore(config.dedup, {
      // 'sqlite' without a path shares a SQLite sink's database; there is none to share with Postgres.
      sink: sink instanceof SqliteSink ? sink : undefined,
      namespace: config.client_id,
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
      (error) => this.log(`batch could not be made durable, left un-acked for redelivery: ${String(error)}`),
    );
    this.pipeline = pipeline;
    const connection = this.connect();
    connection.on('message', (message) => {
      pipeline.push({
        topic: message.topic,
        payload: message.payload,
        dup: message.dup,
        ack: () => connection.ack(message.ackToken),
      });
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
      clientId: config.client_id,
      topic: config.topic,
      clean: config.clean_session,
      keepalive_s: 30,
      max_in_flight: config.max_in_flight,
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
      await this.pipeline?.drain();
      await this.connection?.close();
      await this.pipeline?.drain();
      await this.store?.close();
      await this.sink?.close();
    })();
    return this.stopping;
  }
}
