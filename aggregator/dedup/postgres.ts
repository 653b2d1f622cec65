// PostgresDedupStore: durable claims in a PostgreSQL table `<schema>.dedup`, through a pg Pool.
// It cannot join the SQLite sink's transaction, so with a SQLite sink the pipeline claims it
// commit-first (after the idempotent sink commit; see aggregator/pipeline.ts). With a PostgresSink on
// the same database (same host, port, database and user) claimerFor offers a claim that runs on the
// sink's own transaction connection, so claim and commit are atomic ('transactional').
//
// claimMany is one statement: INSERT every id, or take over a row whose claim has expired, ON
// CONFLICT ... DO UPDATE ... WHERE expired, RETURNING the ids it wrote. No check-then-set, so any
// number of connections (processes) claiming one id see exactly one 'new': the primary key makes a
// concurrent insert of the same id wait for the first one's commit and then conflict.
// - A repeated id inside one call: one INSERT may not touch a row twice (Postgres refuses it), so the
//   ids are de-duplicated first and each repeat after its first occurrence answers 'duplicate'.
// - Concurrent calls with overlapping ids in different orders would lock rows in different orders and
//   deadlock; the ids are sorted, so every caller locks in one order.
// - Expiry follows the database server's clock (now()); there is no injectable clock.
// - A connection dropped between statements (server restart, pg_terminate_backend) is retried once
//   on a fresh connection. That retry is safe even if the first attempt did commit and only its
//   answer was lost: each call writes a token of its own, and a row carrying this call's token
//   answers 'new' again instead of 'duplicate'.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { databaseIdentity, isConnectionError, resolveSchema, resolveUrl, toTransientIfPostgresUnavailable } from '../postgres.ts';
import type { Sink, SinkTransaction, TransactionalClaim } from '../sink/index.ts';
import type { PostgresSink } from '../sink/postgres.ts';
import type { ClaimResult, DedupStore } from './index.ts';
import { assertValidTtl } from './ttl.ts';

export const DEFAULT_PURGE_EVERY_CLAIMS = 10_000;

export interface PostgresDedupStoreOptions {
  /** postgres://user[:password]@host:port/database. Default DATABASE_URL or postgres://postgres@127.0.0.1:5432/test. */
  url?: string;
  /** Schema of the `dedup` table, created if missing. Default 'chaosbench'. */
  schema?: string;
  /** application_name of the pool's connections (shows in pg_stat_activity). Default 'chaosbench-dedup'. */
  applicationName?: string;
  /** Most connections at once. Default 10. */
  maxConnections?: number;
  /** Longest wait for a connection before a claim fails (transiently). Default 5000. */
  connectTimeoutMs?: number;
  /** Expired rows are purged after this many claims (amortised, bounded per purge). Default 10_000. */
  purgeEveryClaims?: number;
  /** Told of errors on idle connections (the pool drops them and opens new ones). */
  onError?: (error: Error) => void;
}

const CLAIM_SQL = (table: string) => `INSERT INTO ${table} AS d (event_id, expires_at, claim_token)
       SELECT event_id, now() + $2::double precision * interval '1 millisecond', $3
       FROM unnest($1::text[]) WITH ORDINALITY AS input(event_id, position)
       ORDER BY position
       ON CONFLICT (event_id) DO UPDATE SET expires_at = EXCLUDED.expires_at, claim_token = EXCLUDED.claim_token
       WHERE d.expires_at <= now() OR d.claim_token = EXCLUDED.claim_token
       RETURNING event_id`;

export class PostgresDedupStore implements DedupStore {
  readonly kind = 'postgres' as const;
  readonly durable = true;
  readonly schema: string;
  readonly pool: pg.Pool;
  /** The resolved connection URL. */
  readonly url: string;
  private readonly table: string;
  private readonly purgeEveryClaims: number;
  private claimsSincePurge = 0;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(options: PostgresDedupStoreOptions = {}) {
    this.schema = resolveSchema(options.schema);
    this.purgeEveryClaims = options.purgeEveryClaims ?? DEFAULT_PURGE_EVERY_CLAIMS;
    if (!Number.isInteger(this.purgeEveryClaims) || this.purgeEveryClaims < 1) {
      throw new RangeError(`purgeEveryClaims must be an integer >= 1, got ${this.purgeEveryClaims}`);
    }
    this.table = `"${this.schema}".dedup`;
    this.url = resolveUrl(options.url);
    this.pool = new pg.Pool({
      connectionString: this.url,
      application_name: options.applicationName ?? 'chaosbench-dedup',
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    });
    const onError = options.onError ?? (() => {});
    // An idle connection that dies (server restart, terminated backend) is reported here and dropped
    // by the pool; without a listener the error would crash the process.
    this.pool.on('error', (error) => onError(error));
  }

  /** Creates the schema and table if missing; runs once (again after a failure). */
  async open(): Promise<void> {
    this.assertOpen();
    this.ready ??= this.createTable().catch((error: unknown) => {
      this.ready = undefined;
      throw toTransientIfPostgresUnavailable(error);
    });
    return this.ready;
  }

  async claimMany(eventIds: readonly string[], ttlMs: number): Promise<ClaimResult[]> {
    this.assertOpen();
    assertValidTtl(ttlMs);
    if (eventIds.length === 0) return [];
    await this.open();
    // First occurrences only, sorted so that concurrent callers lock rows in one order.
    const distinct = [...new Set(eventIds)].sort();
    const token = randomUUID();
    const { rows } = await this.query<{ event_id: string }>(CLAIM_SQL(this.table), [distinct, ttlMs, token]);
    const fresh = new Set(rows.map((row) => row.event_id));
    await this.purgeAfter(eventIds.length);
    // An id is 'new' at its first occurrence only: delete it from `fresh` once answered.
    return eventIds.map((eventId): ClaimResult => (fresh.delete(eventId) ? 'new' : 'duplicate'));
  }

  /**
   * A claim that runs on a PostgresSink's open transaction, when that sink writes to this store's
   * database: the claim commits or rolls back with the batch. Undefined for any other sink.
   */
  claimerFor(sink: Sink): TransactionalClaim | undefined {
    if (sink.kind !== 'postgres') return undefined;
    if (databaseIdentity((sink as PostgresSink).url) !== databaseIdentity(this.url)) return undefined;
    return (eventIds, ttlMs, transaction) => this.claimInTransaction(eventIds, ttlMs, transaction);
  }

  private async claimInTransaction(
    eventIds: readonly string[],
    ttlMs: number,
    transaction: SinkTransaction | undefined,
  ): Promise<ClaimResult[]> {
    this.assertOpen();
    assertValidTtl(ttlMs);
    if (!transaction) throw new Error('the postgres transactional claim runs only inside a PostgresSink transaction');
    if (eventIds.length === 0) return [];
    // The table, through the store's own pool (idempotent; once).
    await this.open();
    // No retry here: a lost connection fails the sink's whole transaction, claims included, and the
    // pipeline retries the batch. Sorted as in claimMany, so concurrent writers lock in one order.
    const distinct = [...new Set(eventIds)].sort();
    const { rows } = await transaction.query<{ event_id: string }>(CLAIM_SQL(this.table), [distinct, ttlMs, randomUUID()]);
    const fresh = new Set(rows.map((row) => row.event_id));
    this.claimsSincePurge += eventIds.length;
    if (this.claimsSincePurge >= this.purgeEveryClaims) {
      this.claimsSincePurge = 0;
      // On the same transaction: a purge on another connection could wait for a row lock this
      // transaction holds while this transaction waits for the purge.
      await transaction.query(
        `DELETE FROM ${this.table} WHERE event_id IN (
           SELECT event_id FROM ${this.table} WHERE expires_at <= now() ORDER BY expires_at LIMIT $1
         )`,
        [2 * this.purgeEveryClaims],
      );
    }
    return eventIds.map((eventId): ClaimResult => (fresh.delete(eventId) ? 'new' : 'duplicate'));
  }

  async release(eventIds: readonly string[]): Promise<void> {
    this.assertOpen();
    if (eventIds.length === 0) return;
    await this.open();
    // Idempotent, so the connection retry is always safe.
    await this.query(`DELETE FROM ${this.table} WHERE event_id = ANY($1::text[])`, [[...new Set(eventIds)]]);
  }

  async size(): Promise<number> {
    this.assertOpen();
    await this.open();
    const { rows } = await this.query<{ live: string }>(`SELECT count(*) AS live FROM ${this.table} WHERE expires_at > now()`);
    return Number(rows[0]?.live ?? 0);
  }

  /** Deletes up to `limit` expired claims (default: all); returns how many were deleted. */
  async purgeExpired(limit?: number): Promise<number> {
    this.assertOpen();
    await this.open();
    const result = await this.query(
      `DELETE FROM ${this.table} WHERE event_id IN (
         SELECT event_id FROM ${this.table} WHERE expires_at <= now() ORDER BY expires_at LIMIT $1
       )`,
      [limit ?? null],
    );
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let a table creation in progress finish, so that its connection is released before the pool ends.
    await this.ready?.catch(() => {});
    await this.pool.end();
  }

  private async createTable(): Promise<void> {
    const statements = [
      `CREATE SCHEMA IF NOT EXISTS "${this.schema}"`,
      `CREATE TABLE IF NOT EXISTS ${this.table} (
         event_id text PRIMARY KEY,
         expires_at timestamptz NOT NULL,
         claim_token text NOT NULL
       )`,
      `CREATE INDEX IF NOT EXISTS dedup_expires_at ON ${this.table} (expires_at)`,
    ];
    for (const statement of statements) {
      try {
        await this.query(statement);
      } catch (error) {
        // Two processes creating the same schema or table at once: IF NOT EXISTS is not atomic in
        // the catalogue, and the loser gets a unique violation, or (for the table's row type)
        // 'type "dedup" already exists', 42710. The object exists either way: go on.
        const code = (error as { code?: unknown }).code;
        if (code !== '23505' && code !== '42P06' && code !== '42P07' && code !== '42710') throw error;
      }
    }
  }

  private async purgeAfter(claims: number): Promise<void> {
    this.claimsSincePurge += claims;
    if (this.claimsSincePurge < this.purgeEveryClaims) return;
    this.claimsSincePurge = 0;
    // Bounded so one unlucky claim does not pay for a whole backlog; 2× keeps up with the claim rate.
    await this.purgeExpired(2 * this.purgeEveryClaims);
  }

  /** pool.query with one retry on a fresh connection when the connection was lost. */
  private async query<Row extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>(text, values);
    } catch (error) {
      if (!isConnectionError(error) || this.closed) throw toTransientIfPostgresUnavailable(error);
    }
    try {
      return await this.pool.query<Row>(text, values);
    } catch (error) {
      throw toTransientIfPostgresUnavailable(error);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('PostgresDedupStore is closed');
  }
}
