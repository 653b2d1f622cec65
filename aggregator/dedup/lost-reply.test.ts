// A claim that ran on the server but whose answer was lost with the connection: the store sends it
// again (ioredis resends unanswered commands after reconnecting; the Postgres store retries once), and
// the resent claim must still answer 'new', not 'duplicate' to the very claim that made it. The
// connection goes through a small TCP proxy that, when armed, swallows the next reply and cuts the
// connection. Real servers (REDIS_URL, DATABASE_URL or the local defaults); failing, never skipped,
// when they are unreachable.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_URL } from '../postgres.ts';
import { PostgresDedupStore } from './postgres.ts';
import { DEFAULT_REDIS_URL, RedisDedupStore } from './redis.ts';

const TTL_MS = 60_000;

/** Forwards TCP to `target`; once armed, the next server → client chunk is dropped and both sides closed. */
class ReplyDroppingProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private armed = false;
  /** Replies swallowed so far. */
  dropped = 0;

  private constructor(target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.on('data', (data) => upstream.write(data));
      upstream.on('data', (data) => {
        if (this.armed) {
          this.armed = false;
          this.dropped++;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(data);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(target: { host: string; port: number }): Promise<ReplyDroppingProxy> {
    const proxy = new ReplyDroppingProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  arm(): void {
    this.armed = true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function target(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || defaultPort) };
}

/** `url` with its host and port replaced by the proxy's. */
function throughProxy(url: string, proxy: ReplyDroppingProxy): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return parsed.toString();
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a claim whose reply is lost with its connection', () => {
  it('redis: the resent SET still answers new, and the claim holds', async () => {
    const url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
    const keyPrefix = `chaosbench:test:lost-reply:${randomBytes(6).toString('hex')}:`;
    const proxy = await ReplyDroppingProxy.start(target(url, 6379));
    cleanups.push(() => proxy.close());
    const admin = new Redis(url, { maxRetriesPerRequest: 2 });
    cleanups.push(async () => {
      const keys = await admin.keys(`${keyPrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    });
    const store = new RedisDedupStore({ url: throughProxy(url, proxy), keyPrefix });
    cleanups.push(() => store.close());
    const peer = new RedisDedupStore({ url, keyPrefix });
    cleanups.push(() => peer.close());

    expect(await store.claimMany(['warm'], TTL_MS)).toEqual(['new']);
    proxy.arm();
    expect(await store.claimMany(['a', 'b', 'a'], TTL_MS)).toEqual(['new', 'new', 'duplicate']);
    expect(proxy.dropped).toBe(1);
    // The claims were made once, on the server: another client sees them.
    expect(await peer.claimMany(['a', 'b'], TTL_MS)).toEqual(['duplicate', 'duplicate']);
  });

  it('postgres: the retried INSERT still answers new, and the claim holds', async () => {
    const url = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    const schema = `chaosbench_test_${randomBytes(6).toString('hex')}`;
    const proxy = await ReplyDroppingProxy.start(target(url, 5432));
    cleanups.push(() => proxy.close());
    cleanups.push(async () => {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.end();
      }
    });
    const store = new PostgresDedupStore({ url: throughProxy(url, proxy), schema, maxConnections: 1 });
    cleanups.push(() => store.close());
    const peer = new PostgresDedupStore({ url, schema });
    cleanups.push(() => peer.close());

    expect(await store.claimMany(['warm'], TTL_MS)).toEqual(['new']);
    proxy.arm();
    expect(await store.claimMany(['a', 'b', 'a'], TTL_MS)).toEqual(['new', 'new', 'duplicate']);
    expect(proxy.dropped).toBe(1);
    expect(await peer.claimMany(['a', 'b'], TTL_MS)).toEqual(['duplicate', 'duplicate']);
  });
});
