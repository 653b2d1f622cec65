// RedisDedupStore: durable claims as Redis keys `<prefix><event id>` that Redis expires itself.
// It cannot join the SQLite sink's transaction, so the pipeline claims it commit-first (after the
// idempotent sink commit; see aggregator/pipeline.ts).
//
// A claim is one atomic `SET <key> <token> NX PX <ttl> GET`: Redis sets the key only when it does
// not exist (an expired key does not exist), and GET returns what was there before. No
// check-then-set, so any number of clients (processes) claiming one id see exactly one 'new'.
// claimMany runs those SETs for a whole batch in one Lua script (one command, one reply of one
// character per id): Redis runs a script atomically and the SETs in order, so a repeated id inside
// one call finds the key its first occurrence set: 'duplicate'. One SET command per id in a
// pipeline did the same, but building, writing and parsing 200 commands per batch cost the
// aggregator more CPU than its SQLite sink (ioredis Command objects and their garbage: measured
// with `npm run bench -- --cpu-prof`). The script takes the batch's ids as one argument (see
// CLAIM_SCRIPT), so this store targets a single server (or a primary with replicas), not Redis
// Cluster.
//
// Why a token instead of the plain `SET key 1 NX`: when the connection drops with commands in
// flight, ioredis resends them after reconnecting (autoResendUnfulfilledCommands). A SET that had
// already run would then answer "exists" to the very claim that made it, and a claim would be lost
// to nobody ('duplicate' everywhere). Each position of each call writes its own token; finding its
// own token means "this was my claim": 'new'. A repeat of an id later in the same call carries a
// different token, so it stays 'duplicate'. (NX together with GET needs Redis >= 7.0.)
//
// TTLs follow the Redis server's clock; there is no injectable clock.

import { randomBytes } from 'node:crypto';
import { Redis, ReplyError } from 'ioredis';
import { TransientError } from '../sink/index.ts';
import type { ClaimResult, DedupStore } from './index.ts';
import { assertValidTtl } from './ttl.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_REDIS_KEY_PREFIX = 'chaosbench:dedup:';

export interface RedisDedupStoreOptions {
  /** redis://[user:password@]host:port[/db]. Default REDIS_URL or redis://127.0.0.1:6379. */
  url?: string;
  /** Every claim is the key `<keyPrefix><event id>`. Default 'chaosbench:dedup:'. */
  keyPrefix?: string;
  /** CLIENT SETNAME of the store's connection (shows in CLIENT LIST). Default 'chaosbench-dedup'. */
  connectionName?: string;
  /** Told of connection errors (ioredis reconnects by itself; claims fail meanwhile). */
  onError?: (error: Error) => void;
}

/** Redis reply errors that a later attempt may not get (server loading, busy, failing over). */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|READONLY|MASTERDOWN|CLUSTERDOWN|NOREPLICAS|OOM)\b/;

/**
 * Connection errors (closed, reset, retries per request exhausted) and the transient reply errors
 * become TransientError, which the pipeline retries; other reply errors (syntax, WRONGTYPE) are
 * permanent.
 */
export function toTransientIfRedisUnavailable(error: unknown): unknown {
  if (error instanceof TransientError) return error;
  if (error instanceof ReplyError && !TRANSIENT_REPLY.test((error as Error).message)) return error;
  if (error instanceof Error) return new TransientError(`redis: ${error.message}`, { cause: error });
  return error;
}

/** SCAN MATCH pattern for keys starting with `prefix` (glob characters escaped). */
function matchPrefix(prefix: string): string {
  return `${prefix.replace(/[\\*?[\]]/g, '\\$&')}*`;
}

/**
 * ARGV[1]: this call's token, ARGV[2]: the TTL in ms, ARGV[3]: the key prefix, ARGV[4]: the ids,
 * each as `<byte length>:<id>` back to back (any bytes, newlines included, can be an id). Answers one
 * character per id: 'n' (set now, or already holding this position's own token: a resend of this
 * very call) or 'd' (held by another claim).
 *
 * The ids travel as one argument, not one key each: writing 200 key arguments per batch was most of
 * the store's cost in the aggregator (ioredis encodes every argument on its own; measured on this
 * machine, 2.7–4.6 µs of client CPU per claim against 0.8–1.9 packed, and redis-server 4.7–8.7 µs
 * against 4.1–5.2). The keys are not declared to Redis, which a single server allows and Redis
 * Cluster does not: this store targets a single server (or a primary with replicas).
 */
const CLAIM_SCRIPT = `
local token = ARGV[1]
local px = ARGV[2]
local prefix = ARGV[3]
local ids = ARGV[4]
local out = {}
local at = 1
local i = 0
while at <= #ids do
  local colon = string.find(ids, ':', at, true)
  local stop = colon + tonumber(string.sub(ids, at, colon - 1))
  local own = token .. ':' .. i
  i = i + 1
  local previous = redis.call('SET', prefix .. string.sub(ids, colon + 1, stop), own, 'NX', 'PX', px, 'GET')
  if previous == false or previous == own then out[i] = 'n' else out[i] = 'd' end
  at = stop + 1
end
return table.concat(out)
`;

/** The ids argument of CLAIM_SCRIPT: `<byte length>:<id>` for each, back to back. */
export function packIds(eventIds: readonly string[]): string {
  let packed = '';
  for (const id of eventIds) packed += `${isAscii(id) ? id.length : Buffer.byteLength(id)}:${id}`;
  return packed;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** What a Redis URL's database index may be written as: up to five digits (the server's `databases` setting decides the rest). */
const DATABASE_INDEX = /^\d{1,5}$/;

/**
 * Why the database index of a redis:// or rediss:// URL cannot be used, in words that name the bad
 * part, or undefined (none given, or a number). ioredis reads the index with parseInt and never
 * says no: '/abc' is NaN (no SELECT at all: database 0), '/1e999' database 1, '/5abc' database 5,
 * and '?db=' likewise when the path has none. Checked before anything connects, so that such a URL
 * is bad input rather than a run in a database not asked for. A URL of another form (a socket path,
 * host:port) has no index; what does not parse is left to the caller's own check.
 */
export function redisDatabaseProblem(url: string): string | undefined {
  if (!/^rediss?:\/\//i.test(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const path = parsed.pathname;
  if (path !== '' && path !== '/' && !DATABASE_INDEX.test(path.slice(1))) {
    return `the path of a Redis URL is its database index, a number like /5, got '${path}'`;
  }
  const query = parsed.searchParams.get('db');
  if ((path === '' || path === '/') && query !== null && !DATABASE_INDEX.test(query)) {
    return `the db parameter of a Redis URL is its database index, a number like 5, got '${query}'`;
  }
  return undefined;
}

/**
 * Selects the database the connection's URL names (redis://host:port/5), or throws a ReplyError
 * saying why it cannot be. ioredis selects it on connecting, but when the server refuses (an index
 * past its `databases` setting) it only emits an 'error' event and goes on in database 0: every
 * client that touches keys calls this once connected, so that none works in a database not asked for.
 */
export async function selectDatabase(redis: Redis): Promise<void> {
  const db = redis.options.db ?? 0;
  if (db === 0) return;
  try {
    await redis.select(db);
  } catch (error) {
    if (!(error instanceof ReplyError)) throw error;
    throw new ReplyError(`redis database ${db} cannot be selected: ${(error as Error).message} (see the server's 'databases' setting)`);
  }
}

/** Whether `error` is selectDatabase's refusal: nothing was written in that database (a clean-up there has nothing to remove). */
export function isUnselectableDatabase(error: unknown): boolean {
  return /^redis database \d+ cannot be selected:/.test((error as Error)?.message ?? '');
}

type ClaimingRedis = Redis & { chaosbenchClaim(token: string, px: string, prefix: string, ids: string): Promise<string> };

export class RedisDedupStore implements DedupStore {
  readonly kind = 'redis' as const;
  readonly durable = true;
  readonly keyPrefix: string;
  readonly redis: ClaimingRedis;
  private closed = false;

  constructor(options: RedisDedupStoreOptions = {}) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
    if (this.keyPrefix === '') throw new RangeError('keyPrefix must not be empty');
    const url = options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
    // Never a store in a database not asked for (callers check this first, naming their flag or variable).
    const database = redisDatabaseProblem(url);
    if (database) throw new RangeError(database);
    this.redis = new Redis(url, {
      connectionName: options.connectionName ?? 'chaosbench-dedup',
      // Connects on open() or the first command; claims made while (re)connecting wait in the
      // offline queue and fail (transiently) after a few reconnect attempts.
      lazyConnect: true,
      maxRetriesPerRequest: 5,
    }) as ClaimingRedis;
    // EVALSHA, falling back to EVAL when the server does not have the script (after a restart).
    this.redis.defineCommand('chaosbenchClaim', { lua: CLAIM_SCRIPT, numberOfKeys: 0 });
    const onError = options.onError ?? (() => {});
    // Without a listener ioredis prints every reconnect error; the caller decides what to log.
    this.redis.on('error', (error: Error) => onError(error));
  }

  async open(): Promise<void> {
    this.assertOpen();
    try {
      await this.redis.ping();
    } catch (error) {
      throw toTransientIfRedisUnavailable(error);
    }
    try {
      await selectDatabase(this.redis);
    } catch (error) {
      throw error instanceof ReplyError ? error : toTransientIfRedisUnavailable(error);
    }
  }

  async claimMany(eventIds: readonly string[], ttlMs: number): Promise<ClaimResult[]> {
    this.assertOpen();
    assertValidTtl(ttlMs);
    if (eventIds.length === 0) return [];
    // PX takes whole milliseconds > 0: round up so a claim never lives shorter than asked.
    const px = Math.ceil(ttlMs);
    const token = randomBytes(9).toString('base64url');
    let answer: string;
    try {
      answer = await this.redis.chaosbenchClaim(token, String(px), this.keyPrefix, packIds(eventIds));
    } catch (error) {
      throw toTransientIfRedisUnavailable(error);
    }
    if (typeof answer !== 'string' || answer.length !== eventIds.length) {
      throw new Error(`redis claim script answered ${JSON.stringify(answer)} for ${eventIds.length} ids`);
    }
    const claims = new Array<ClaimResult>(answer.length);
    for (let i = 0; i < answer.length; i++) claims[i] = answer[i] === 'n' ? 'new' : 'duplicate';
    return claims;
  }

  async release(eventIds: readonly string[]): Promise<void> {
    this.assertOpen();
    if (eventIds.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const eventId of eventIds) pipeline.del(this.keyPrefix + eventId);
    for (const [error] of await this.exec(pipeline)) {
      if (error) throw toTransientIfRedisUnavailable(error);
    }
  }

  /** Live claims: keys under the prefix (SCAN skips expired keys). O(keys under the prefix). */
  async size(): Promise<number> {
    this.assertOpen();
    // SCAN may return a key twice (when the keyspace is rehashed meanwhile): count distinct keys.
    const keys = new Set<string>();
    let cursor = '0';
    try {
      do {
        const [next, batch] = await this.redis.scan(cursor, 'MATCH', matchPrefix(this.keyPrefix), 'COUNT', 1_000);
        for (const key of batch) keys.add(key);
        cursor = next;
      } while (cursor !== '0');
    } catch (error) {
      throw toTransientIfRedisUnavailable(error);
    }
    return keys.size;
  }

  /** The server's id for the store's current connection (CLIENT ID), e.g. to CLIENT KILL it in tests. */
  async clientId(): Promise<number> {
    this.assertOpen();
    return (await this.redis.client('ID')) as number;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'ready') {
      try {
        await this.redis.quit();
      } catch {
        // The connection went away meanwhile: nothing left to close politely.
      }
    }
    // Stops any reconnecting too.
    this.redis.disconnect();
  }

  private async exec(pipeline: ReturnType<Redis['pipeline']>): Promise<[Error | null, unknown][]> {
    try {
      return (await pipeline.exec()) ?? [];
    } catch (error) {
      throw toTransientIfRedisUnavailable(error);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('RedisDedupStore is closed');
  }
}
