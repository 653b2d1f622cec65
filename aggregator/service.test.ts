// The service with a PostgreSQL sink, end to end in-process: embedded broker → AggregatorService
// (--sink postgres://…, a schema of its own) → rows and dead letters read back with the Postgres
// read helpers. Runs against the real server (DATABASE_URL or the local default); fails, never
// skips, when it is unreachable.

import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import pg from 'pg';
import { ulid } from 'ulid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../engine/broker/index.ts';
import { sleep } from './clock.ts';
import { DEFAULT_DATABASE_URL } from './postgres.ts';
import { serializeEvent } from './event/parse.ts';
import { AggregatorService, DEFAULT_AGGREGATOR_CONFIG } from './service.ts';
import { countPostgresDurable, readPostgresDeadLetters, readPostgresSinkRows } from './sink/postgres.ts';

const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;

let broker: BrokerHandle;
let schema: string;
let service: AggregatorService | undefined;

beforeEach(async () => {
  schema = `chaosbench_test_service_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  broker = await startBroker({ kind: 'embedded' }, { persistence: 'memory' });
});

afterEach(async () => {
  await service?.stop();
  service = undefined;
  await broker.stop();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

describe('AggregatorService with a postgres sink', () => {
  it('commits each event once, dead-letters the malformed message, and the read helpers see it all', async () => {
    service = new AggregatorService({
      ...DEFAULT_AGGREGATOR_CONFIG,
      broker_url: broker.url,
      client_id: `pg-sink-test-${randomBytes(3).toString('hex')}`,
      topic: 'events/pgsink/#',
      dedup: 'memory',
      sink: databaseUrl,
      sink_schema: schema,
      batch_size: 20,
    });
    await service.start();
    expect(service.claim_order).toBe('claim-first');

    const ids = Array.from({ length: 60 }, () => ulid());
    const client = await mqtt.connectAsync(broker.url, { clientId: `pg-sink-test-pub-${Date.now()}` });
    const publishOne = (seq: number) =>
      client.publishAsync(
        'events/pgsink/pub-0',
        serializeEvent({ v: 1, event_id: ids[seq]!, source: 'pub-0', seq, topic: 'events/pgsink/pub-0', ts: new Date().toISOString(), payload: { seq } }),
        { qos: 1 },
      );
    for (let seq = 0; seq < ids.length; seq += 1) await publishOne(seq);
    // Every tenth event again: the dedup store absorbs the repeats.
    for (let seq = 0; seq < ids.length; seq += 10) await publishOne(seq);
    await client.publishAsync('events/pgsink/pub-0', '{not json', { qos: 1 });
    await client.endAsync();

    const deadline = Date.now() + 15_000;
    while ((service.counters?.acked ?? 0) < ids.length + 7) {
      if (Date.now() > deadline) throw new Error(`timed out; counters ${JSON.stringify(service.counters)}`);
      await sleep(25);
    }
    await service.stop();
    service = undefined;

    const location = { url: databaseUrl, schema };
    const rows = await readPostgresSinkRows(location);
    expect(rows.map((row) => row.event_id)).toEqual(ids);
    expect(rows.every((row) => row.deliveries === 1 && row.committed_us > 0)).toBe(true);
    const letters = await readPostgresDeadLetters(location);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ raw: '{not json', topic: 'events/pgsink/pub-0' });
    expect(await countPostgresDurable(location)).toBe(ids.length + 1);
  });

  it('fails at start-up when the sink server cannot be reached', async () => {
    service = new AggregatorService({
      ...DEFAULT_AGGREGATOR_CONFIG,
      broker_url: broker.url,
      dedup: 'memory',
      sink: 'postgres://postgres@127.0.0.1:1/test',
      sink_schema: schema,
    });
    await expect(service.start()).rejects.toThrow(/postgres/);
  });
});
