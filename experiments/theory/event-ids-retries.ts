// Part (a) of theory table 3: producers that retry, through a real MQTT broker, into the real
// aggregator path (consumer connection → pipeline → SQLite dedup claim + idempotent SQLite sink),
// once per id scheme. What escaped and what was lost is counted from the sink file by each event's
// true identity (source, seq), never from the aggregator's own counters.
// It must never leave a client connected or a database open when it returns or throws.

import mqtt, { type MqttClient } from 'mqtt';
import { ConsumerConnection } from '../../aggregator/consumer/connection.ts';
import { Pipeline } from '../../aggregator/pipeline.ts';
import { SqliteSink, readDeadLetters, readSinkRows } from '../../aggregator/sink/sqlite.ts';
import { createDedupStore } from '../../aggregator/dedup/registry.ts';
import type { DedupStore } from '../../aggregator/dedup/index.ts';
import { DEFAULT_AGGREGATOR_CONFIG } from '../../aggregator/service.ts';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';
import { sleep } from '../../aggregator/clock.ts';
import {
  ConsumerIds,
  generateReadings,
  planSends,
  ProducerIds,
  wireMessage,
  type IdScheme,
  type RetryPlanOptions,
  type WorkloadOptions,
} from './event-ids-schemes.ts';

export interface RetryRunOptions {
  scheme: IdScheme;
  broker_url: string;
  /** The sink's SQLite file (created; must not exist yet). */
  db_path: string;
  /** Topic prefix of this run alone, so that runs sharing a broker do not see each other's events. */
  topic_prefix: string;
  workload: Omit<WorkloadOptions, 'topic_prefix'>;
  retries: RetryPlanOptions;
  /** Publishes a producer keeps in flight (un-acked by the broker) at once. */
  producer_window: number;
  /** Longest wait for the aggregator to ack every delivery. */
  settle_timeout_ms: number;
}

export interface RetryRunResult {
  scheme: IdScheme;
  /** Distinct events the producers published (true identities). */
  events: number;
  /** Of those, readings with the same natural key as the reading before them (distinct events). */
  same_key_events: number;
  /** Extra sends of an event already sent once (the producers' retries). */
  retries_sent: number;
  /** Deliveries the aggregator received (first sends + retries). */
  deliveries: number;
  /** Rows in the sink. */
  sink_rows: number;
  /** Deliveries that did not become a row: stopped by the dedup claim or the sink's key (from the ledger: deliveries − rows). */
  absorbed: number;
  /** Rows beyond one per true event: retries that became rows of their own. */
  escaped_duplicates: number;
  /** True events with no row at all: wrongly taken for a duplicate of another event. */
  merged_lost: number;
  /** Dead letters in the sink (none expected: every message is a valid event). */
  dead_letters: number;
  /** The aggregator's self-reported count of duplicates absorbed (dedup claim + sink), for a cross-check. */
  self_reported_absorbed: number;
  duration_ms: number;
}

const POLL_MS = 10;

/** One scheme, end to end. */
export async function runRetries(options: RetryRunOptions): Promise<RetryRunResult> {
  const started = performance.now();
  const { scheme } = options;
  const readingsBySource = generateReadings({ ...options.workload, topic_prefix: options.topic_prefix });
  const ids = new ProducerIds(scheme, options.workload.seed);
  // Each event is serialised once: a retry sends exactly the same bytes (and the same id) again.
  const messages = readingsBySource.map((readings) => readings.map((r) => Buffer.from(wireMessage(r, ids.idFor(r)))));
  const sendsBySource = readingsBySource.map((readings, s) => planSends(readings.length, readings[0]?.source ?? `source-${s}`, options.retries));
  const events = readingsBySource.reduce((n, readings) => n + readings.length, 0);
  const sameKeyEvents = readingsBySource.reduce((n, readings) => n + readings.filter((r) => r.same_key_as_previous).length, 0);
  const retriesSent = sendsBySource.reduce((n, sends) => n + sends.filter((send) => send.retry).length, 0);
  const deliveries = events + retriesSent;

  const config = DEFAULT_AGGREGATOR_CONFIG;
  const sink = new SqliteSink({ path: options.db_path, mode: config.sink_mode });
  let store: DedupStore | undefined;
  let connection: ConsumerConnection | undefined;
  const producers: MqttClient[] = [];
  try {
    // The aggregator's default: claims in the sink's own database, in the same transaction as the write.
    store = createDedupStore(config.dedup, { sink });
    const pipeline = new Pipeline(store, sink, {
      batch_size: config.batch_size,
      batch_wait_ms: config.batch_wait_ms,
      dedup_ttl_ms: config.dedup_ttl_ms,
      retry: config.retry,
      parse: { maxPayloadBytes: config.max_payload_bytes },
      random: seededRandom(deriveSeed(options.workload.seed, `event-ids.${scheme}.aggregator.retry`)),
    });
    const consumerIds = new ConsumerIds(options.workload.seed);
    const subscriber = new ConsumerConnection({
      url: options.broker_url,
      clientId: `${options.topic_prefix.replaceAll('/', '-')}-aggregator`,
      topic: `${options.topic_prefix}/#`,
      clean: true,
      keepalive_s: 30,
      max_in_flight: config.max_in_flight,
      reconnect: { base_ms: 50, cap_ms: 1_000, max_attempts: 5 },
      random: seededRandom(deriveSeed(options.workload.seed, `event-ids.${scheme}.aggregator.reconnect`)),
    });
    connection = subscriber;
    subscriber.on('error', () => {});
    subscriber.on('message', (message) => {
      pipeline.push({
        topic: message.topic,
        // Consumer-assigned ids: the event arrives without one and gets a fresh ULID on receipt,
        // so the consumer cannot tell a retry from a new event.
        payload: scheme === 'consumer' ? withConsumerId(message.payload, consumerIds.idAt(Date.now())) : message.payload,
        dup: message.dup,
        ack: () => subscriber.ack(message.ackToken),
      });
    });
    await subscriber.start();

    for (let s = 0; s < readingsBySource.length; s++) {
      producers.push(
        await mqtt.connectAsync(options.broker_url, {
          clientId: `${options.topic_prefix.replaceAll('/', '-')}-producer-${s}`,
          clean: true,
          protocolVersion: 4,
          reconnectPeriod: 0,
          connectTimeout: 5_000,
        }),
      );
    }
    await Promise.all(
      producers.map((client, s) =>
        publishAll(client, readingsBySource[s]![0]!.topic, sendsBySource[s]!.map((send) => messages[s]![send.reading]!), options.producer_window),
      ),
    );

    const deadline = Date.now() + options.settle_timeout_ms;
    while (pipeline.counters.acked < deliveries && Date.now() < deadline) await sleep(POLL_MS);
    await pipeline.drain();
    if (pipeline.counters.acked < deliveries) {
      throw new Error(
        `event-ids (${scheme}): the aggregator acked ${pipeline.counters.acked} of ${deliveries} deliveries within ${options.settle_timeout_ms} ms`,
      );
    }
    const counters = pipeline.counters;
    const selfReportedAbsorbed = counters.duplicates_absorbed + counters.duplicates_absorbed_by_sink;

    await subscriber.close();
    connection = undefined;
    await store.close();
    store = undefined;
    await sink.close();

    const rows = readSinkRows(options.db_path);
    const identities = new Set(rows.map((row) => `${row.source}#${row.seq}`));
    return {
      scheme,
      events,
      same_key_events: sameKeyEvents,
      retries_sent: retriesSent,
      deliveries: counters.received,
      sink_rows: rows.length,
      absorbed: counters.received - rows.length,
      escaped_duplicates: rows.length - identities.size,
      merged_lost: events - identities.size,
      dead_letters: readDeadLetters(options.db_path).length,
      self_reported_absorbed: selfReportedAbsorbed,
      duration_ms: performance.now() - started,
    };
  } finally {
    await Promise.all(producers.map((client) => client.endAsync().catch(() => {})));
    await connection?.close().catch(() => {});
    await store?.close().catch(() => {});
    await sink.close();
  }
}

/** QoS 1 publishes in order with up to `window` awaiting their PUBACK at once. */
async function publishAll(client: MqttClient, topic: string, payloads: readonly Buffer[], window: number): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (const payload of payloads) {
    if (inFlight.size >= window) await Promise.race(inFlight);
    const publish = client.publishAsync(topic, payload, { qos: 1 }).finally(() => inFlight.delete(publish));
    inFlight.add(publish);
  }
  await Promise.all(inFlight);
}

/** The message with the consumer's own event_id added (it arrived without one). */
function withConsumerId(payload: Buffer, eventId: string): Buffer {
  const message = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...message, event_id: eventId }));
}
