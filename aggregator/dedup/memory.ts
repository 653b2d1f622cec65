// MemoryDedupStore: claims kept in process memory for a TTL, bounded in size.
// Not durable: a restart forgets every claim, so after a crash the sink's idempotency is what stops
// redeliveries. It must never report 'duplicate' for an id whose claim has expired or been released.
// Evicting a live claim to stay under maxEntries can let a duplicate through later; every such
// eviction is counted in `evicted` so a report can show it instead of hiding it.
//
// Expiry is amortised: the Map keeps insertion order, and when every claim uses the same TTL (the
// usual case) insertion order is expiry order, so expired claims are dropped from the front only.
// With mixed TTLs the front may hold a long-lived claim in front of expired ones; lookups stay
// correct because every claim compares its expiry with the clock, and a full sweep runs once per
// `size` inserts so memory stays bounded by live claims (amortised O(1) per insert).

import type { ClaimResult, DedupFootprint, DedupStore } from './index.ts';
import { assertValidTtl } from './ttl.ts';

export interface MemoryDedupStoreOptions {
  /** Clock in ms; injectable so tests can move time. Default Date.now. */
  now?: () => number;
  /** Most claims kept at once; beyond it the oldest claim is evicted (and counted). Default 1_000_000. */
  maxEntries?: number;
}

export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** Fewest inserts between two full sweeps when TTLs differ, so small stores are not swept per insert. */
const MIN_INSERTS_PER_FULL_SWEEP = 1_024;
/**
 * Heap bytes per claim besides the id's characters: the string header and the Map's entry and
 * bucket share (the expiry is a small integer in the entry itself). Calibrated on Node 20 with
 * 26-character ULIDs parsed from JSON, 100,000 to 300,000 claims: 77 to 90 bytes per claim in all
 * (the spread is where the Map's table is in its doubling).
 */
export const ESTIMATED_BYTES_PER_CLAIM = 60;

export class MemoryDedupStore implements DedupStore {
  readonly kind = 'memory' as const;
  readonly durable = false;
  readonly maxEntries: number;
  private readonly now: () => number;
  /**
   * event id → expiry, in insertion order. Times are ms on `now`'s clock minus `epoch` (its first
   * reading): small integers V8 keeps in the Map's own slots, where an epoch-ms expiry was a heap
   * number allocated per claim (and traced by every GC while the claim lived).
   */
  private readonly expiries = new Map<string, number>();
  private epoch: number | undefined;
  private evictedCount = 0;
  private firstTtlMs: number | undefined;
  private mixedTtls = false;
  private insertsSinceFullSweep = 0;
  /** Characters and count of the ids inserted so far, for the mean id length of the bytes estimate. */
  private insertedIdChars = 0;
  private insertedIds = 0;
  private closed = false;

  constructor(options: MemoryDedupStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer >= 1, got ${maxEntries}`);
    }
    this.maxEntries = maxEntries;
    this.now = options.now ?? Date.now;
  }

  /** Live claims dropped early to respect maxEntries; each one may let a duplicate through. */
  get evicted(): number {
    return this.evictedCount;
  }

  async claimMany(eventIds: readonly string[], ttlMs: number): Promise<ClaimResult[]> {
    return this.claimManySync(eventIds, ttlMs);
  }

  /** Synchronous claimMany: runs to completion without yielding, which is what makes it atomic. */
  claimManySync(eventIds: readonly string[], ttlMs: number): ClaimResult[] {
    this.assertOpen();
    assertValidTtl(ttlMs);
    const now = this.clock();
    this.noteTtl(ttlMs);
    this.sweepFront(now);
    return eventIds.map((eventId) => this.claimOne(eventId, now + ttlMs, now));
  }

  async release(eventIds: readonly string[]): Promise<void> {
    this.assertOpen();
    for (const eventId of eventIds) this.expiries.delete(eventId);
  }

  async size(): Promise<number> {
    this.assertOpen();
    const now = this.clock();
    if (this.mixedTtls) this.sweepAll(now);
    else this.sweepFront(now);
    return this.expiries.size;
  }

  /** Claims held after the routine front sweep (the same one every claim runs), and their heap bytes, estimated. */
  footprint(): DedupFootprint {
    this.assertOpen();
    this.sweepFront(this.clock());
    const entries = this.expiries.size;
    const meanIdChars = this.insertedIds > 0 ? this.insertedIdChars / this.insertedIds : 0;
    return { entries, bytes_estimate: Math.round(entries * (ESTIMATED_BYTES_PER_CLAIM + meanIdChars)) };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.expiries.clear();
  }

  private claimOne(eventId: string, expiresAt: number, now: number): ClaimResult {
    const existing = this.expiries.get(eventId);
    if (existing !== undefined) {
      // A duplicate does not extend the claim: the TTL runs from the first claim, as in SQLite.
      if (existing > now) return 'duplicate';
      // Expired: delete first so the renewed claim moves to the back of the insertion order.
      this.expiries.delete(eventId);
    }
    if (this.expiries.size >= this.maxEntries) this.makeRoom(now);
    this.expiries.set(eventId, expiresAt);
    this.insertedIdChars += eventId.length;
    this.insertedIds += 1;
    if (this.mixedTtls) {
      this.insertsSinceFullSweep += 1;
      if (this.insertsSinceFullSweep >= Math.max(MIN_INSERTS_PER_FULL_SWEEP, this.expiries.size)) {
        this.sweepAll(now);
      }
    }
    return 'new';
  }

  private makeRoom(now: number): void {
    // With mixed TTLs expired claims may hide behind a live one at the front: sweep them all before
    // evicting anything live, but at most once per size/8 inserts so a store full of live claims
    // does not pay O(size) per insert.
    if (this.mixedTtls && this.insertsSinceFullSweep * 8 >= this.expiries.size) this.sweepAll(now);
    else this.sweepFront(now);
    for (const [eventId, expiresAt] of this.expiries) {
      if (this.expiries.size < this.maxEntries) break;
      this.expiries.delete(eventId);
      if (expiresAt > now) this.evictedCount += 1;
    }
  }

  /** `now` in the store's own time: ms since its first reading. */
  private clock(): number {
    const now = this.now();
    this.epoch ??= now;
    return now - this.epoch;
  }

  private noteTtl(ttlMs: number): void {
    if (this.firstTtlMs === undefined) this.firstTtlMs = ttlMs;
    else if (ttlMs !== this.firstTtlMs) this.mixedTtls = true;
  }

  /** Drop expired claims from the front until the first live one. */
  private sweepFront(now: number): void {
    for (const [eventId, expiresAt] of this.expiries) {
      if (expiresAt > now) break;
      this.expiries.delete(eventId);
    }
  }

  private sweepAll(now: number): void {
    for (const [eventId, expiresAt] of this.expiries) {
      if (expiresAt <= now) this.expiries.delete(eventId);
    }
    this.insertsSinceFullSweep = 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('MemoryDedupStore is closed');
  }
}
