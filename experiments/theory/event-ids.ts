// Theory table 3, "Event id design": who assigns an event's id, and what it is made of, decides
// whether a producer's retry is recognised as a repeat (and whether a distinct event is mistaken for
// one), and how expensive the id is for the sink's B-tree. Two measured parts:
// (a) producers retry through a real MQTT broker into the real aggregator path (event-ids-retries.ts);
// (b) the aggregator's sinks take the same rows keyed by each scheme (event-ids-throughput.ts).
// The table's numbers and findings come from those measurements only; nothing here is typed in.

import { join } from 'node:path';
import { median } from 'simple-statistics';
import { startBroker, type BrokerHandle } from '../../engine/broker/index.ts';
import { DEFAULT_AGGREGATOR_CONFIG } from '../../aggregator/service.ts';
import { DEFAULT_DATABASE_URL } from '../../aggregator/postgres.ts';
import { ID_SCHEMES, SCHEME_DESCRIPTIONS, type IdScheme, type RetryPlanOptions, type WorkloadOptions } from './event-ids-schemes.ts';
import { runRetries, type RetryRunResult } from './event-ids-retries.ts';
import { ARRIVAL_ROWS_PER_S, measureThroughput, postgresReachable, THROUGHPUT_SOURCES, type ThroughputBackend, type ThroughputSample } from './event-ids-throughput.ts';
import type { TheoryCell, TheoryColumn, TheoryContext, TheoryExperiment, TheoryTable } from './types.ts';
import { redactPassword } from '../../aggregator/redact.ts';

export interface EventIdsSizes {
  /** Part (a): producers (one MQTT connection each) and events each sends. */
  sources: number;
  events_per_source: number;
  sensors_per_source: number;
  same_key_probability: number;
  retry_probability: number;
  second_retry_probability: number;
  max_retry_delay_sends: number;
  /** Part (b): rows per SQLite sample, repetitions, and rows per PostgreSQL sample (0 = skip PostgreSQL). */
  sqlite_rows: number;
  repetitions: number;
  postgres_rows: number;
}

export const DEFAULT_SIZES: EventIdsSizes = {
  sources: 4,
  events_per_source: 1_000,
  sensors_per_source: 4,
  same_key_probability: 0.02,
  retry_probability: 0.1,
  second_retry_probability: 0.2,
  max_retry_delay_sends: 50,
  sqlite_rows: 50_000,
  repetitions: 3,
  postgres_rows: 10_000,
};

export interface EventIdsMeasurement {
  sizes: EventIdsSizes;
  retries: RetryRunResult[];
  throughput: ThroughputSample[];
  /** Why PostgreSQL has no numbers, when it has none. */
  postgres_skipped: string | null;
  /** The broker part (a) went through. */
  broker: 'embedded' | 'external';
}

const PRODUCER_WINDOW = 32;
const SETTLE_TIMEOUT_MS = 30_000;

/** Both parts, measured; the table is built from this by eventIdsTable. */
export async function measureEventIds(context: TheoryContext, sizes: EventIdsSizes = DEFAULT_SIZES): Promise<EventIdsMeasurement> {
  const workload: Omit<WorkloadOptions, 'topic_prefix'> = {
    seed: context.seed,
    sources: sizes.sources,
    events_per_source: sizes.events_per_source,
    sensors_per_source: sizes.sensors_per_source,
    same_key_probability: sizes.same_key_probability,
  };
  const retryPlan: RetryPlanOptions = {
    seed: context.seed,
    retry_probability: sizes.retry_probability,
    second_retry_probability: sizes.second_retry_probability,
    max_retry_delay_sends: sizes.max_retry_delay_sends,
  };

  let broker: BrokerHandle | undefined;
  const retries: RetryRunResult[] = [];
  try {
    broker = await startBroker(context.broker_url ?? 'embedded', { persistence: 'memory', error_output: context.log });
    // A run tag of its own: an external broker may carry other runs (and earlier runs of this one).
    const runTag = `${process.pid}-${Date.now().toString(36)}`;
    for (const scheme of ID_SCHEMES) {
      context.signal?.throwIfAborted();
      const result = await runRetries({
        scheme,
        broker_url: broker.url,
        db_path: join(context.out_dir, `retries-${scheme}.db`),
        topic_prefix: `theory/event-ids/${runTag}/${scheme}`,
        workload,
        retries: retryPlan,
        producer_window: PRODUCER_WINDOW,
        settle_timeout_ms: SETTLE_TIMEOUT_MS,
      });
      retries.push(result);
      context.log(
        `  retries ${scheme}: ${result.events} events, ${result.retries_sent} retries, ${result.absorbed} absorbed, ` +
          `${result.escaped_duplicates} escaped, ${result.merged_lost} merged [${Math.round(result.duration_ms)} ms]`,
      );
    }
  } finally {
    await broker?.stop();
  }

  let postgres: { url: string; rows: number } | undefined;
  let postgresSkipped: string | null = null;
  if (sizes.postgres_rows > 0) {
    const url = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    if (await postgresReachable(url)) postgres = { url, rows: sizes.postgres_rows };
    else postgresSkipped = `no PostgreSQL server answered at ${redactPassword(url)}`;
  } else {
    postgresSkipped = 'PostgreSQL was not requested';
  }
  const throughput = await measureThroughput({
    seed: context.seed,
    rows: sizes.sqlite_rows,
    batch_size: DEFAULT_AGGREGATOR_CONFIG.batch_size,
    repetitions: sizes.repetitions,
    dir: context.out_dir,
    postgres,
    log: context.log,
    ...(context.signal ? { signal: context.signal } : {}),
  });
  return { sizes, retries, throughput, postgres_skipped: postgresSkipped, broker: context.broker_url === undefined ? 'embedded' : 'external' };
}


/** Median over repetitions of one scheme on one backend, or null when there are no samples. */
function medianOf(samples: readonly ThroughputSample[], backend: ThroughputBackend, scheme: IdScheme, pick: (s: ThroughputSample) => number | null): number | null {
  const values = samples.filter((s) => s.backend === backend && s.scheme === scheme).map(pick).filter((v): v is number => v !== null);
  return values.length === 0 ? null : median(values);
}

const COLUMNS: TheoryColumn[] = [
  { key: 'scheme', label: 'id scheme', format: 'text' },
  { key: 'assigned', label: 'assigned by: made of', format: 'text' },
  { key: 'events', label: 'events', format: 'int' },
  { key: 'retries_sent', label: 'retries sent', format: 'int' },
  { key: 'absorbed', label: 'absorbed by dedup', format: 'int' },
  { key: 'escaped_duplicates', label: 'duplicates escaped to sink', format: 'int' },
  { key: 'merged_lost', label: 'distinct events merged (lost)', format: 'int' },
  { key: 'sqlite_rows_per_s', label: 'SQLite rows/s', format: 'int' },
  { key: 'sqlite_vs_ulid', label: 'SQLite vs ULID', format: 'ratio' },
  { key: 'sqlite_bytes_per_row', label: 'SQLite bytes written/row', format: 'int' },
  { key: 'sqlite_key_fill', label: 'key B-tree fill', format: 'pct' },
  { key: 'postgres_rows_per_s', label: 'PostgreSQL rows/s', format: 'int' },
  { key: 'postgres_vs_ulid', label: 'PostgreSQL vs ULID', format: 'ratio' },
  { key: 'postgres_key_index_pages', label: 'PostgreSQL key index pages', format: 'int' },
];

export function eventIdsRows(measurement: EventIdsMeasurement): Record<string, TheoryCell>[] {
  const { throughput } = measurement;
  const rate = (backend: ThroughputBackend, scheme: IdScheme) => medianOf(throughput, backend, scheme, (s) => s.rows_per_s);
  const ratio = (backend: ThroughputBackend, scheme: IdScheme): number | null => {
    const ratios = pairedRatios(throughput, backend, scheme);
    return ratios.length === 0 ? null : median(ratios);
  };
  return ID_SCHEMES.map((scheme) => {
    const retry = measurement.retries.find((r) => r.scheme === scheme);
    return {
      scheme,
      assigned: SCHEME_DESCRIPTIONS[scheme],
      events: retry?.events ?? null,
      retries_sent: retry?.retries_sent ?? null,
      absorbed: retry?.absorbed ?? null,
      escaped_duplicates: retry?.escaped_duplicates ?? null,
      merged_lost: retry?.merged_lost ?? null,
      sqlite_rows_per_s: rate('sqlite', scheme),
      sqlite_vs_ulid: ratio('sqlite', scheme),
      sqlite_bytes_per_row: medianOf(throughput, 'sqlite', scheme, (s) => s.bytes_written_per_row),
      sqlite_key_fill: medianOf(throughput, 'sqlite', scheme, (s) => s.key_index_fill),
      postgres_rows_per_s: rate('postgres', scheme),
      postgres_vs_ulid: ratio('postgres', scheme),
      postgres_key_index_pages: medianOf(throughput, 'postgres', scheme, (s) => s.key_index_pages),
    };
  });
}

/** Median key B-tree size and page cache of a scheme's SQLite samples. */
function sqliteIndex(samples: readonly ThroughputSample[], scheme: IdScheme): { index_bytes: number; cache_bytes: number } | null {
  const indexBytes = medianOf(samples, 'sqlite', scheme, (s) => s.key_index_bytes);
  const cacheBytes = medianOf(samples, 'sqlite', scheme, (s) => s.cache_bytes);
  return indexBytes === null || cacheBytes === null ? null : { index_bytes: indexBytes, cache_bytes: cacheBytes };
}

/**
 * A scheme's rows/s over ULID's within each repetition. Paired by repetition: the two samples were
 * taken close together, so that the machine's drift (other load, file-system state) cancels out.
 */
function pairedRatios(samples: readonly ThroughputSample[], backend: ThroughputBackend, scheme: IdScheme): number[] {
  const ratios: number[] = [];
  for (const sample of samples.filter((s) => s.backend === backend && s.scheme === scheme)) {
    const ulid = samples.find((s) => s.backend === backend && s.scheme === 'ulid' && s.repetition === sample.repetition);
    if (ulid && ulid.rows_per_s > 0) ratios.push(sample.rows_per_s / ulid.rows_per_s);
  }
  return ratios;
}

/**
 * Whether UUIDv4 was slower than the spread between the two time-ordered schemes (ULID and
 * consumer ULIDs) explains: a sentence, or '' without the samples to say.
 */
function beyondNoise(samples: readonly ThroughputSample[], backend: ThroughputBackend): string {
  const random = pairedRatios(samples, backend, 'uuid4');
  const ordered = pairedRatios(samples, backend, 'consumer');
  if (random.length < 2 || ordered.length < 2) return '';
  return Math.max(...random) < Math.min(...ordered)
    ? ' UUIDv4 was slower in every repetition, by more than the two time-ordered schemes ever differed from each other.'
    : ' UUIDv4 was not distinguishable from the spread between the two time-ordered schemes at this size.';
}

/** 'uuid4 0.31× (0.28–0.42 across repetitions)' from the measurement; the range is left out with one repetition. */
function ratioText(samples: readonly ThroughputSample[], backend: ThroughputBackend, scheme: IdScheme): string | null {
  const ratios = pairedRatios(samples, backend, scheme);
  if (ratios.length === 0) return null;
  const range = ratios.length > 1 ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} across repetitions)` : '';
  return `${scheme} ${times(median(ratios))}${range}`;
}

const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const count = (n: number) => grouped.format(n);
const times = (r: number) => `${r.toFixed(2)}×`;
const percent = (f: number) => `${(f * 100).toFixed(0)}%`;

function num(row: Record<string, TheoryCell> | undefined, key: string): number | null {
  const value = row?.[key];
  return typeof value === 'number' ? value : null;
}

/** Sentences computed from the rows and the measurement (never typed-in numbers). */
export function eventIdsFindings(rows: readonly Record<string, TheoryCell>[], measurement: EventIdsMeasurement): string[] {
  const findings: string[] = [];
  const row = (scheme: IdScheme) => rows.find((r) => r.scheme === scheme);
  const sameKey = measurement.retries[0]?.same_key_events ?? 0;

  const producerSchemes = (['ulid', 'uuid4'] as const).filter((s) => num(row(s), 'retries_sent') !== null);
  if (producerSchemes.length > 0) {
    const parts = producerSchemes.map(
      (s) => `${s}: ${count(num(row(s), 'absorbed')!)} of ${count(num(row(s), 'retries_sent')!)} retries absorbed, ${count(num(row(s), 'escaped_duplicates')!)} escaped, ${count(num(row(s), 'merged_lost')!)} lost`,
    );
    findings.push(
      `An id minted once by the producer and sent again unchanged on every retry is all the dedup store needs; whether it is time-ordered or random makes no difference to correctness (${parts.join('; ')}).`,
    );
  }
  const consumer = row('consumer');
  if (num(consumer, 'retries_sent') !== null) {
    const escaped = num(consumer, 'escaped_duplicates')!;
    const sent = num(consumer, 'retries_sent')!;
    findings.push(
      `With ids assigned at the consumer every retry is a new event to the dedup store: ${count(escaped)} of ${count(sent)} retries (${percent(sent === 0 ? 0 : escaped / sent)}) ended up as extra rows in the sink, and the dedup store absorbed ${count(num(consumer, 'absorbed')!)}. Deduplication cannot repair what the id no longer identifies.`,
    );
  }
  const natural = row('natural-key');
  if (num(natural, 'retries_sent') !== null) {
    const merged = num(natural, 'merged_lost')!;
    findings.push(
      `A hash of the natural key (source, sensor, second) also recognises retries (${count(num(natural, 'escaped_duplicates')!)} escaped), but the workload held ${count(sameKey)} genuinely distinct readings that shared a key with the reading before them, and ${count(merged)} of them were dropped as "duplicates" — silently: ${count(measurement.retries.find((r) => r.scheme === 'natural-key')?.dead_letters ?? 0)} dead letters, and the aggregator counted them as absorbed (${count(num(natural, 'absorbed')!)} absorbed against ${count(num(natural, 'retries_sent')!)} retries sent). The id is only as unique as the key it hashes.`,
    );
  }

  const ulidRate = num(row('ulid'), 'sqlite_rows_per_s');
  if (ulidRate !== null) {
    const sqliteRows = measurement.throughput.find((s) => s.backend === 'sqlite')?.rows ?? 0;
    const ratios = (['uuid4', 'natural-key', 'consumer'] as const)
      .map((s) => ratioText(measurement.throughput, 'sqlite', s))
      .filter((text): text is string => text !== null)
      .join(', ');
    findings.push(
      `SQLite, ${count(sqliteRows)} rows per sample in batches of ${DEFAULT_AGGREGATOR_CONFIG.batch_size}, median of ${measurement.sizes.repetitions}: ULID keys went in at ${count(ulidRate)} rows/s; relative to ULID: ${ratios}. The consumer's ids are ULIDs too (time-ordered), so its ratio shows how far two equally ordered schemes differ by chance on this machine.${beyondNoise(measurement.throughput, 'sqlite')}`,
    );
    const ulidBytes = num(row('ulid'), 'sqlite_bytes_per_row');
    const uuidBytes = num(row('uuid4'), 'sqlite_bytes_per_row');
    const ulidFill = num(row('ulid'), 'sqlite_key_fill');
    const uuidFill = num(row('uuid4'), 'sqlite_key_fill');
    const pageBytes = medianOf(measurement.throughput, 'sqlite', 'uuid4', (s) => s.page_bytes);
    if (ulidBytes !== null && uuidBytes !== null && ulidBytes > 0 && pageBytes !== null) {
      const batch = DEFAULT_AGGREGATOR_CONFIG.batch_size;
      let sentence =
        `Why: a time-ordered key always lands on the right-most page of the key's B-tree, so a batch of ${batch} rows dirties one or two of its pages; a random key lands on any page, so a batch dirties up to ${batch} of them, and at commit every dirty page is written whole to the write-ahead log and later copied into the database file. ` +
        `Measured: ${count(uuidBytes)} bytes written per row with UUIDv4 keys against ${count(ulidBytes)} with ULIDs (${times(uuidBytes / ulidBytes)}), that is ${count((uuidBytes * batch) / pageBytes)} against ${count((ulidBytes * batch) / pageBytes)} pages of ${count(pageBytes)} bytes written per batch (log and checkpoint together, table pages included).`;
      if (ulidFill !== null && uuidFill !== null) {
        sentence +=
          ` The key's pages ended ${percent(uuidFill)} full with UUIDv4 and ${percent(ulidFill)} with ULIDs` +
          (uuidFill < ulidFill - 0.02
            ? ': random inserts split pages in the middle and leave them part-empty, so the same keys need more pages.'
            : ': random inserts did not leave SQLite\'s pages emptier, so page fill is not where the cost is here.');
      }
      const index = sqliteIndex(measurement.throughput, 'uuid4');
      if (index !== null) {
        sentence +=
          index.index_bytes <= index.cache_bytes
            ? ` At this size the whole key B-tree (${mebibytes(index.index_bytes)} with UUIDv4) fits in SQLite's page cache (${mebibytes(index.cache_bytes)}), so what random keys cost here is writes; once the key B-tree outgrows the cache, inserts can also wait for reads, which this table does not measure.`
            : ` The key B-tree (${mebibytes(index.index_bytes)} with UUIDv4) is larger than SQLite's page cache (${mebibytes(index.cache_bytes)}), so random inserts also re-read pages that were evicted.`;
      }
      findings.push(sentence);
    }
  }
  const ulidPg = num(row('ulid'), 'postgres_rows_per_s');
  if (ulidPg !== null) {
    const pgRows = measurement.throughput.find((s) => s.backend === 'postgres')?.rows ?? 0;
    const pgRatios = (['uuid4', 'natural-key', 'consumer'] as const)
      .map((s) => ratioText(measurement.throughput, 'postgres', s))
      .filter((text): text is string => text !== null)
      .join(', ');
    const ulidPages = num(row('ulid'), 'postgres_key_index_pages');
    const uuidPages = num(row('uuid4'), 'postgres_key_index_pages');
    findings.push(
      `PostgreSQL, ${count(pgRows)} rows per sample through the aggregator's PostgreSQL sink (each batch a transaction that waits for its WAL flush): ULID ${count(ulidPg)} rows/s; relative to ULID: ${pgRatios}.${beyondNoise(measurement.throughput, 'postgres')}` +
        (ulidPages !== null && uuidPages !== null && ulidPages > 0
          ? ` The unique index on event_id took ${count(uuidPages)} pages with UUIDv4 against ${count(ulidPages)} with ULIDs (${times(uuidPages / ulidPages)})` +
            (uuidPages > ulidPages * 1.05
              ? ': PostgreSQL splits the right-most page of an index unevenly (leaving the left half nearly full) when a key goes past the end, and splits any other page in half, so random keys leave pages part-empty and the index larger.'
              : '.')
          : ''),
    );
  } else if (measurement.postgres_skipped !== null) {
    findings.push(`PostgreSQL was not measured: ${measurement.postgres_skipped}.`);
  }
  return findings;
}

export function eventIdsTable(context: Pick<TheoryContext, 'seed'>, measurement: EventIdsMeasurement, durationMs: number): TheoryTable {
  const { sizes } = measurement;
  const rows = eventIdsRows(measurement);
  return {
    id: 3,
    slug: 'event-ids',
    title: 'Event id design',
    intro:
      'At-least-once delivery means an event can arrive more than once, and the only thing that lets the aggregator recognise a repeat is the event id. ' +
      'This table compares four ways to get one: a ULID minted by the producer (a timestamp followed by random bits, so ids sort by time), a random UUIDv4 minted by the producer, ' +
      'a hash of the event\'s natural key (here: which host, which sensor, which second), and an id the consumer assigns when the event arrives. ' +
      'The left half counts what happened when producers re-sent some events, as a producer does when its acknowledgement from the broker is lost: how many repeats the deduplication absorbed, how many got into the database as extra rows, ' +
      'and how many genuinely different events were wrongly thrown away as repeats. The right half shows how fast the aggregator\'s database takes rows keyed by each kind of id, relative to ULIDs (1.00× = as fast as ULID, lower is slower).',
    method:
      `Part 1: ${sizes.sources} producers each published ${count(sizes.events_per_source)} temperature readings (${sizes.sensors_per_source} sensors per producer, each read once a second) over MQTT with QoS 1 through ${measurement.broker === 'embedded' ? 'the harness\'s embedded Aedes broker' : 'the external broker given to the run'}. ` +
      `With probability ${sizes.same_key_probability} a reading was followed within the same second by a second, different reading of the same sensor: a distinct event with the same natural key. ` +
      `Each event was re-sent with probability ${sizes.retry_probability} (and a third time with probability ${sizes.second_retry_probability} of those), 1 to ${sizes.max_retry_delay_sends} sends later, as after a PUBACK timeout; a retry re-sends the same bytes, id included. ` +
      'The same seeded workload ran once per id scheme, each into a fresh copy of the reference aggregator\'s real path: its MQTT consumer connection, its batching pipeline, and its default dedup store (claims in the sink\'s own SQLite database, in the same transaction as the write) in front of its idempotent SQLite sink. ' +
      'For the consumer scheme the producer sent no id and the consumer added a fresh ULID to each message on receipt. ' +
      'Every event also carries its true identity (producer and sequence number), which no scheme uses as a key; after each run the sink file was read back: rows beyond one per true identity are escaped duplicates, true identities with no row are lost. ' +
      'UUIDv4 and hash ids are 128 bits like a ULID and are written in the ULID\'s 26-character form, which is what the aggregator\'s wire format accepts, so only the order of the bits differs between schemes. ' +
      'Producer ULIDs take their time from the event time, from each producer\'s own monotonic generator (the producers\' clocks are a few seconds apart). ' +
      `Part 2: ${count(sizes.sqlite_rows)} distinct readings from ${THROUGHPUT_SOURCES} producers, interleaved as they would arrive (consumer ULIDs timed as arrivals at ${count(ARRIVAL_ROWS_PER_S)} rows/s), were committed, with each scheme's ids, through the aggregator's SQLite sink (its real schema, event_id as primary key, WAL mode) in transactions of ${DEFAULT_AGGREGATOR_CONFIG.batch_size} rows, the aggregator's batch size, into a fresh database file, including the final checkpoint. ` +
      `This was repeated ${sizes.repetitions} time${sizes.repetitions === 1 ? '' : 's'} with the order of schemes rotated each time, after one discarded warm-up sample; rows/s is the median over repetitions, and the ratio to ULID is the median of the ratios within each repetition (so that the machine's drift between repetitions cancels out). Bytes written are what the process handed to the operating system (WAL and checkpoint), per row; B-tree fill is how full the pages of the event_id index were at the end. ` +
      (sizes.postgres_rows > 0
        ? `The same was done with ${count(sizes.postgres_rows)} rows per sample through the aggregator's PostgreSQL sink, in a schema of its own that was dropped afterwards${measurement.postgres_skipped ? ` (skipped in this run: ${measurement.postgres_skipped})` : ''}. `
        : '') +
      'All random choices (workload, retries, ids) come from the seed.',
    command: 'npm run theory -- --only 3',
    seed: context.seed,
    columns: COLUMNS,
    rows,
    findings: eventIdsFindings(rows, measurement),
    duration_ms: durationMs,
  };
}

export const eventIds: TheoryExperiment = {
  id: 3,
  slug: 'event-ids',
  title: 'Event id design',
  async run(context: TheoryContext): Promise<TheoryTable> {
    const started = performance.now();
    const measurement = await measureEventIds(context);
    return eventIdsTable(context, measurement, performance.now() - started);
  },
};
