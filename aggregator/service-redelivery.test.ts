// A batch the aggregator could not make durable while it keeps running must come back: brokers
// resend un-acked QoS 1 messages only on a new connection, so a batch left un-acked on a live one
// would wait for ever. Real parts: the embedded broker, the service with its SQLite sink, and a
// dead-letter table that refuses writes for a fault the pipeline cannot retry away (a trigger whose
// insert breaks a NOT NULL constraint: a fault "of the event", thrown at once) until the test lifts it.

import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../engine/broker/index.ts';
import { sleep } from './clock.ts';
import { AggregatorService, DEFAULT_AGGREGATOR_CONFIG } from './service.ts';
import { readDeadLetters } from './sink/sqlite.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

let broker: BrokerHandle;
let dir: string;
let service: AggregatorService | undefined;

const newDir = tempDirs('redelivery');

beforeEach(async () => {
  dir = newDir();
  broker = await startBroker({ kind: 'embedded' }, { persistence: 'memory' });
});

afterEach(async () => {
  await service?.stop();
  service = undefined;
  await broker.stop();
});

describe('a batch that cannot be made durable on a live connection', () => {
  it('drops the connection so that the broker redelivers it; once the fault is lifted it is dead-lettered and acked', async () => {
    const path = join(dir, 'sink.db');
    // The sink creates its tables IF NOT EXISTS: this dlq table (same columns) comes with a trigger.
    const setup = new Database(path);
    setup.exec(`
      CREATE TABLE dlq (id INTEGER PRIMARY KEY, event_id TEXT, topic TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL, at_us INTEGER NOT NULL);
      CREATE TABLE refuse (on_ INTEGER);
      CREATE TABLE required (v TEXT NOT NULL);
      INSERT INTO refuse VALUES (1);
      CREATE TRIGGER refuse_dead_letters BEFORE INSERT ON dlq WHEN EXISTS (SELECT 1 FROM refuse)
      BEGIN INSERT INTO required (v) VALUES (NULL); END;
    `);
    setup.close();

    const logs: string[] = [];
    service = new AggregatorService(
      {
        ...DEFAULT_AGGREGATOR_CONFIG,
        broker_url: broker.url,
        client_id: `redelivery-test-${randomBytes(3).toString('hex')}`,
        topic: 'events/redelivery/#',
        dedup: 'memory',
        sink: `sqlite:${path}`,
        batch_size: 10,
        retry: { base_ms: 1, cap_ms: 20, max_attempts: 3 },
      },
      (line) => logs.push(line),
    );
    await service.start();

    const client = await mqtt.connectAsync(broker.url, { clientId: `redelivery-test-pub-${randomBytes(3).toString('hex')}` });
    await client.publishAsync('events/redelivery/pub-0', '{not an event', { qos: 1 });
    await client.endAsync();

    // The dead-letter write failed: the batch is left un-acked.
    const failedBy = Date.now() + 10_000;
    while (!logs.some((line) => /could not be made durable/.test(line))) {
      if (Date.now() > failedBy) throw new Error(`no batch failure; log: ${logs.join(' | ')}`);
      await sleep(10);
    }
    expect(service.counters!.acked).toBe(0);
    const lift = new Database(path);
    lift.exec('DELETE FROM refuse');
    lift.close();

    // Redelivered on a new connection: this time it is dead-lettered and acked.
    const ackedBy = Date.now() + 15_000;
    while ((service.counters?.acked ?? 0) < 1) {
      if (Date.now() > ackedBy) throw new Error(`never acked; counters ${JSON.stringify(service.counters)}; log: ${logs.join(' | ')}`);
      await sleep(20);
    }
    await service.stop();
    service = undefined;
    // It came back because the connection was dropped on purpose (the broker never resends on a live one).
    expect(logs.some((line) => /dropped on purpose/.test(line))).toBe(true);
    const letters = readDeadLetters(path);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ raw: '{not an event', topic: 'events/redelivery/pub-0' });
  });
});
