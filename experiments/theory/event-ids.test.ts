import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { isUlid } from '../../aggregator/event/parse.ts';
import {
  ConsumerIds,
  generateReadings,
  ID_SCHEMES,
  naturalKeyOf,
  planSends,
  ProducerIds,
  seededUuid4,
  type WorkloadOptions,
} from './event-ids-schemes.ts';
import { DEFAULT_SIZES, eventIds, eventIdsTable, measureEventIds, type EventIdsMeasurement } from './event-ids.ts';
import { seededRandom } from '../../aggregator/random.ts';
import type { TheoryTable } from './types.ts';
import { tempDir } from '../../test-support/temp-dirs.ts';

const workload: WorkloadOptions = {
  seed: 11,
  sources: 2,
  events_per_source: 300,
  sensors_per_source: 4,
  same_key_probability: 0.05,
  topic_prefix: 'events/test',
};

describe('event-ids workload and ids (pure)', () => {
  it('replays from the seed and keeps every same-key reading in its predecessor\'s second', () => {
    const first = generateReadings(workload);
    expect(generateReadings(workload)).toEqual(first);
    for (const readings of first) {
      expect(readings.map((r) => r.seq)).toEqual(readings.map((_, i) => i));
      const keys = readings.map(naturalKeyOf);
      readings.forEach((reading, i) => {
        const repeatsPrevious = i > 0 && keys[i] === keys[i - 1];
        expect(repeatsPrevious).toBe(reading.same_key_as_previous);
      });
      // Only the planted same-key readings share a key.
      expect(new Set(keys).size).toBe(readings.length - readings.filter((r) => r.same_key_as_previous).length);
    }
    expect(first.flat().filter((r) => r.same_key_as_previous).length).toBeGreaterThan(0);
  });

  it('mints ids the wire format accepts, the same ones for the same seed', () => {
    const readings = generateReadings(workload).flat();
    for (const scheme of ID_SCHEMES.filter((s) => s !== 'consumer')) {
      const again = new ProducerIds(scheme, 5);
      const replayed = readings.map((r) => again.idFor(r));
      const minted = new ProducerIds(scheme, 5);
      const sequence = readings.map((r) => minted.idFor(r));
      expect(sequence.every((id) => id !== undefined && isUlid(id))).toBe(true);
      expect(replayed).toEqual(sequence);
      // A natural-key id depends on the reading alone, not on what was minted before it.
      if (scheme === 'natural-key') expect(readings.map((r) => new ProducerIds(scheme, 6).idFor(r))).toEqual(sequence);
    }
    expect(new ProducerIds('consumer', 5).idFor(readings[0]!)).toBeUndefined();
    const consumer = new ConsumerIds(5);
    const received = [consumer.idAt(1_000), consumer.idAt(1_000), consumer.idAt(999)];
    expect([...received].sort()).toEqual(received);
    expect(new Set(received).size).toBe(3);
  });

  it('makes version-4 UUIDs', () => {
    const random = seededRandom(3);
    for (let i = 0; i < 100; i++) expect(seededUuid4(random)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('sends every reading once, in order, plus each retry after its first send', () => {
    const options = { seed: 2, retry_probability: 0.3, second_retry_probability: 0.5, max_retry_delay_sends: 10 };
    const sends = planSends(200, 'host-0', options);
    expect(sends.filter((s) => !s.retry).map((s) => s.reading)).toEqual([...Array(200).keys()]);
    const retries = sends.filter((s) => s.retry);
    expect(retries.length).toBeGreaterThan(30);
    sends.forEach((send, i) => {
      if (send.retry) expect(sends.findIndex((s) => s.reading === send.reading && !s.retry)).toBeLessThan(i);
    });
    expect(planSends(200, 'host-0', options)).toEqual(sends);
  });
});

describe('event-ids experiment (real broker, real aggregator path, real SQLite)', () => {
  const dir = tempDir('event-ids');
  let measurement: EventIdsMeasurement;
  let table: TheoryTable;

  beforeAll(async () => {
    const context = { seed: 7, out_dir: dir, log: () => {} };
    measurement = await measureEventIds(context, {
      ...DEFAULT_SIZES,
      sources: 2,
      events_per_source: 200,
      same_key_probability: 0.05,
      retry_probability: 0.2,
      sqlite_rows: 2_000,
      repetitions: 1,
      postgres_rows: 0,
    });
    table = eventIdsTable(context, measurement, 1);
  }, 40_000);

  const run = (scheme: string) => measurement.retries.find((r) => r.scheme === scheme)!;

  it('producer-assigned ULID and UUIDv4: every retry absorbed, nothing escaped, nothing lost', () => {
    for (const scheme of ['ulid', 'uuid4']) {
      const result = run(scheme);
      expect(result.retries_sent).toBeGreaterThan(0);
      expect(result.escaped_duplicates).toBe(0);
      expect(result.merged_lost).toBe(0);
      expect(result.absorbed).toBe(result.retries_sent);
      expect(result.sink_rows).toBe(result.events);
    }
  });

  it('consumer-assigned ids: every retry escapes into the sink', () => {
    const result = run('consumer');
    expect(result.escaped_duplicates).toBe(result.retries_sent);
    expect(result.absorbed).toBe(0);
    expect(result.merged_lost).toBe(0);
  });

  it('natural-key hash: retries absorbed, but distinct same-key events merged and lost', () => {
    const result = run('natural-key');
    expect(result.same_key_events).toBeGreaterThan(0);
    expect(result.merged_lost).toBe(result.same_key_events);
    expect(result.escaped_duplicates).toBe(0);
    expect(result.dead_letters).toBe(0);
    expect(result.absorbed).toBe(result.retries_sent + result.same_key_events);
  });

  it('counts from the sink agree with the aggregator\'s own counters', () => {
    for (const result of measurement.retries) {
      expect(result.deliveries).toBe(result.events + result.retries_sent);
      expect(result.self_reported_absorbed).toBe(result.absorbed);
    }
  });

  it('builds table 3 with throughput for every scheme and findings from the rows', () => {
    expect(table.id).toBe(eventIds.id);
    expect(table.slug).toBe('event-ids');
    expect(table.command).toBe('npm run theory -- --only 3');
    expect(table.rows.map((r) => r.scheme)).toEqual([...ID_SCHEMES]);
    const keys = new Set(table.columns.map((c) => c.key));
    for (const row of table.rows) {
      for (const key of Object.keys(row)) expect(keys.has(key)).toBe(true);
      expect(row.sqlite_rows_per_s).toBeGreaterThan(0);
      expect(row.sqlite_vs_ulid).toBeGreaterThan(0);
      expect(row.postgres_rows_per_s).toBeNull();
    }
    for (const sample of measurement.throughput) {
      expect(sample.rows).toBe(2_000);
      expect(sample.key_index_pages).toBeGreaterThan(0);
    }
    expect(table.rows[0]!.sqlite_vs_ulid).toBe(1);
    expect(measurement.throughput.filter((s) => s.backend === 'sqlite')).toHaveLength(ID_SCHEMES.length);
    expect(table.findings.length).toBeGreaterThanOrEqual(4);
    expect(table.findings.join(' ')).toContain(`${run('natural-key').merged_lost} of them were dropped`);
    expect(table.findings.some((f) => f.startsWith('PostgreSQL was not measured'))).toBe(true);
  });
});
