// Issue 21: the embedded broker's Redis persistence honours the database index of its URL
// (redis://host:port/5), or refuses to start naming it when the server has no such database: the
// same rule as the dedup store (aggregator/dedup/redis-db.test.ts). Before, ioredis went on in
// database 0 when the server refused /99: the run passed, its keys in database 0, and the run's
// clean-up (which does select) could not remove them. Against the machine's Redis.

import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { redisDatabases } from '../../test-support/redis-databases.ts';
import { EmbeddedBroker } from './embedded.ts';
import { deleteKeysWithPrefix } from './redis-keys.ts';

const { base: BASE, prefix, db0, db5 } = redisDatabases('test-broker-db');

describe('embedded broker with Redis persistence: the database index of its URL', () => {
  it('a persistent session and its queued message land in database 5 for redis://…/5, none in database 0', async () => {
    const broker = await EmbeddedBroker.start({ persistence: 'redis', redis: { url: `${BASE}/5`, key_prefix: prefix } });
    try {
      // A persistent subscriber that goes away, and a QoS 1 message queued for it while it is away.
      const subscriber = await mqtt.connectAsync(broker.url, { clientId: `redis-db-${process.pid}`, clean: false, reconnectPeriod: 0 });
      await subscriber.subscribeAsync('redis-db/#', { qos: 1 });
      await subscriber.endAsync();
      const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
      await publisher.publishAsync('redis-db/x', 'queued', { qos: 1 });
      await publisher.endAsync();
      expect((await db5.keys(`${prefix}*`)).length).toBeGreaterThan(0);
      expect(await db0.keys(`${prefix}*`)).toEqual([]);
    } finally {
      await broker.stop();
    }
    expect(await deleteKeysWithPrefix(`${BASE}/5`, prefix)).toBeGreaterThan(0);
  }, 30_000);

  it("redis://…/99, past the server's databases: the broker does not start, naming the index in one line; no key anywhere", async () => {
    const started = EmbeddedBroker.start({ persistence: 'redis', redis: { url: `${BASE}/99`, key_prefix: prefix } });
    const error = await started.then(
      async (broker) => {
        await broker.stop();
        return undefined;
      },
      (e: Error) => e,
    );
    expect(error?.message).toContain("redis persistence: redis database 99 cannot be selected: ERR DB index is out of range (see the server's 'databases' setting)");
    expect(error?.message).not.toMatch(/\n\s+at /);
    expect(await db0.keys(`${prefix}*`)).toEqual([]);
  }, 30_000);

  it("redis://…/abc and /1e999 (which ioredis reads as databases 0 and 1): the broker does not start, naming the path; no key anywhere", async () => {
    for (const path of ['abc', '1e999']) {
      const error = await EmbeddedBroker.start({ persistence: 'redis', redis: { url: `${BASE}/${path}`, key_prefix: prefix } }).then(
        async (broker) => {
          await broker.stop();
          return undefined;
        },
        (e: Error) => e,
      );
      expect(error?.message).toContain(`redis persistence: the path of a Redis URL is its database index, a number like /5, got '/${path}'`);
      expect(error?.message).not.toMatch(/\n\s+at /);
    }
    const db1 = new Redis(`${BASE}/1`, { maxRetriesPerRequest: 2 });
    try {
      expect(await db1.keys(`${prefix}*`)).toEqual([]);
    } finally {
      db1.disconnect();
    }
    expect(await db0.keys(`${prefix}*`)).toEqual([]);
  }, 30_000);
});
