// SqliteDedupStore: durable claims in a SQLite table, either in a file of its own or in the sink's
// own database. Sharing the sink's handle is the point: then claimerFor(sink) lets the claim run
// inside the sink's write transaction, so claim and commit happen together or not at all, and a
// failed write can never leave a claim behind that would turn the redelivery into silent loss.
// With a file of its own it is a durable store that cannot join the sink's transaction, so the
// pipeline must claim only after the sink commit (see DedupStore.durable).
//
// A claim is one atomic UPSERT: it inserts the id, or renews it only when the stored claim has
// expired; `changes` is 1 exactly when the claim is 'new'. No check-then-set, so claims from other
// connections (other processes) on the same file are safe too: SQLite serialises the writers.

import Database from 'better-sqlite3';
import type { Sink, TransactionalClaim } from '../sink/index.ts';
import { SqliteSink, toTransientIfBusy } from '../sink/sqlite.ts';
import type { ClaimResult, DedupFootprint, DedupStore } from './index.ts';
import { assertValidTtl } from './ttl.ts';

interface StoreCommonOptions {
  /** Clock in ms; injectable so tests can move time. Default Date.now. */
  now?: () => number;
  /** Expired rows are purged after this many claims (amortised, bounded per purge). Default 10_000. */
  purgeEveryClaims?: number;
}

export type SqliteDedupStoreOptions =
  | (StoreCommonOptions & {
      /** Opens (and later closes) its own database at this path. */
      path: string;
      /** Lock wait of the store's own connection. Default 5000. */
      busyTimeoutMs?: number;
      db?: never;
    })
  | (StoreCommonOptions & {
      /** An open handle, e.g. `sink.db`, shared with its owner, who also closes it. */
      db: Database.Database;
      path?: never;
      busyTimeoutMs?: never;
    });

export const DEFAULT_PURGE_EVERY_CLAIMS = 10_000;
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

export class SqliteDedupStore implements DedupStore {
  readonly kind = 'sqlite' as const;
  readonly durable = true;
  readonly db: Database.Database;
  private readonly ownsDb: boolean;
  private readonly now: () => number;
  private readonly purgeEveryClaims: number;
  private claimsSincePurge = 0;
  private closed = false;
  private readonly claimInTransaction: (eventIds: readonly string[], ttlMs: number, now: number) => ClaimResult[];
  private readonly releaseInTransaction: (eventIds: readonly string[]) => void;
  private readonly countLive: Database.Statement<[number], { live: number }>;
  private readonly countRows: Database.Statement<[], { held: number }>;
  private readonly purgeStatement: Database.Statement<[number, number]>;

  constructor(options: SqliteDedupStoreOptions) {
    this.now = options.now ?? Date.now;
    this.purgeEveryClaims = options.purgeEveryClaims ?? DEFAULT_PURGE_EVERY_CLAIMS;
    if (!Number.isInteger(this.purgeEveryClaims) || this.purgeEveryClaims < 1) {
      throw new RangeError(`purgeEveryClaims must be an integer >= 1, got ${this.purgeEveryClaims}`);
    }
    if (options.db) {
      this.db = options.db;
      this.ownsDb = false;
    } else {
      this.db = new Database(options.path);
      this.ownsDb = true;
    }
    try {
      if (this.ownsDb) {
        // Same durability as the sink: a committed claim survives a process crash (see sink/sqlite.ts).
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
        this.db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS)}`);
      }
      // WITHOUT ROWID: the key is the only lookup, so one B-tree instead of table + key index.
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS dedup (
          event_id TEXT PRIMARY KEY,
          expires_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS dedup_expires_ms ON dedup (expires_ms);
      `);
    } catch (error) {
      if (this.ownsDb) this.db.close();
      throw error;
    }

    const claimStatement = this.db.prepare<{ event_id: string; expires_ms: number; now: number }>(
      `INSERT INTO dedup (event_id, expires_ms) VALUES (@event_id, @expires_ms)
       ON CONFLICT(event_id) DO UPDATE SET expires_ms = excluded.expires_ms
       WHERE dedup.expires_ms <= @now`,
    );
    const claimTransaction = this.db.transaction(
      (eventIds: readonly string[], ttlMs: number, now: number): ClaimResult[] => {
        const expiresMs = now + ttlMs;
        // changes is 0 only when the id exists and its claim is still live (the WHERE said no).
        return eventIds.map((eventId) =>
          claimStatement.run({ event_id: eventId, expires_ms: expiresMs, now }).changes > 0 ? 'new' : 'duplicate',
        );
      },
    );
    // Top level: IMMEDIATE, so the write lock (and busy wait) comes at BEGIN. Inside the sink's
    // transaction better-sqlite3 turns this into a savepoint of that transaction.
    this.claimInTransaction = (eventIds, ttlMs, now) => claimTransaction.immediate(eventIds, ttlMs, now);

    const deleteStatement = this.db.prepare<[string]>('DELETE FROM dedup WHERE event_id = ?');
    const releaseTransaction = this.db.transaction((eventIds: readonly string[]) => {
      for (const eventId of eventIds) deleteStatement.run(eventId);
    });
    this.releaseInTransaction = (eventIds) => releaseTransaction.immediate(eventIds);

    this.countLive = this.db.prepare<[number], { live: number }>(
      'SELECT count(*) AS live FROM dedup WHERE expires_ms > ?',
    );
    this.countRows = this.db.prepare<[], { held: number }>('SELECT count(*) AS held FROM dedup');
    // LIMIT through a subquery: DELETE ... LIMIT needs a compile option better-sqlite3 lacks.
    this.purgeStatement = this.db.prepare<[number, number]>(
      `DELETE FROM dedup WHERE event_id IN (
         SELECT event_id FROM dedup WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?
       )`,
    );
  }

  async claimMany(eventIds: readonly string[], ttlMs: number): Promise<ClaimResult[]> {
    return this.claimManySync(eventIds, ttlMs);
  }

  /**
   * claimMany in one transaction (or a savepoint of the caller's transaction on the same handle).
   * Busy/locked database errors are thrown as TransientError.
   */
  claimManySync(eventIds: readonly string[], ttlMs: number): ClaimResult[] {
    this.assertOpen();
    assertValidTtl(ttlMs);
    if (eventIds.length === 0) return [];
    const now = this.now();
    try {
      const results = this.claimInTransaction(eventIds, ttlMs, now);
      this.claimsSincePurge += eventIds.length;
      if (this.claimsSincePurge >= this.purgeEveryClaims) {
        this.claimsSincePurge = 0;
        // Bounded so one unlucky commit does not pay for a whole backlog; 2× keeps up with the claim rate.
        this.purgeExpired(2 * this.purgeEveryClaims);
      }
      return results;
    } catch (error) {
      throw toTransientIfBusy(error);
    }
  }

  /** Deletes up to `limit` expired claims (default: all); returns how many were deleted. */
  purgeExpired(limit = -1): number {
    this.assertOpen();
    // LIMIT -1 is SQLite for "no limit".
    return this.purgeStatement.run(this.now(), limit).changes;
  }

  claimerFor(sink: Sink): TransactionalClaim | undefined {
    if (sink instanceof SqliteSink && sink.db === this.db) {
      return (eventIds, ttlMs) => this.claimManySync(eventIds, ttlMs);
    }
    return undefined;
  }

  async release(eventIds: readonly string[]): Promise<void> {
    this.assertOpen();
    if (eventIds.length === 0) return;
    try {
      this.releaseInTransaction(eventIds);
    } catch (error) {
      throw toTransientIfBusy(error);
    }
  }

  async size(): Promise<number> {
    this.assertOpen();
    return this.countLive.get(this.now())?.live ?? 0;
  }

  /**
   * Rows of the dedup table, expired ones not yet purged included (see purgeEveryClaims): what the
   * store costs. A full count, O(rows): the pipeline samples it at a rate that keeps it cheap.
   */
  footprint(): DedupFootprint {
    this.assertOpen();
    return { entries: this.countRows.get()?.held ?? 0, bytes_estimate: null };
  }

  /** Closes the database only if this store opened it; a shared handle belongs to the sink. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDb && this.db.open) this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('SqliteDedupStore is closed');
  }
}
