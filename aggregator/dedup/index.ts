// DedupStore: remembers which event ids were already committed, for a TTL.
// Contract (tested once in contract.test.ts for every implementation):
// - claimMany is atomic per id: of any number of concurrent claims of one id, exactly one sees 'new'.
// - an id claimed within its TTL is 'duplicate'; after the TTL it is 'new' again.
// - release(ids) forgets claims, so that a sink write that failed after a claim does not turn the
//   redelivery into a "duplicate" (silent loss).
// It must never be the reason an event is dropped before the sink has durably written it: see
// aggregator/pipeline.ts for the order of claim and commit.

import type { Sink, TransactionalClaim } from '../sink/index.ts';
import type { ClaimResult } from './claim.ts';

export type { ClaimResult } from './claim.ts';

export interface DedupStore {
  /** Short name used in reports ('memory', 'sqlite', 'none', 'redis', 'postgres'). */
  readonly kind: DedupKind;
  /**
   * True when claims outlive the process. A durable store that cannot join the sink's transaction
   * must be claimed *after* the sink commit (commit-first), never before.
   */
  readonly durable: boolean;
  /**
   * Claims each id, in order: 'new' if no live claim holds it (it is now claimed for ttlMs), else
   * 'duplicate'; a repeated id inside one call is 'duplicate' after its first.
   */
  claimMany(eventIds: readonly string[], ttlMs: number): Promise<ClaimResult[]>;
  release(eventIds: readonly string[]): Promise<void>;
  /**
   * A claim that joins `sink`'s write transaction (atomic claim + commit), or undefined when this
   * store cannot share the sink's transaction (then the pipeline orders claim and commit itself).
   */
  claimerFor?(sink: Sink): TransactionalClaim | undefined;
  /**
   * Connects to the store's server and prepares it (schema, table), so that an unreachable server is
   * reported at start-up rather than at the first batch. Optional: in-process stores have nothing to
   * open, and a store that has one opens itself on first use anyway.
   */
  open?(): Promise<void>;
  /** Number of live (unexpired) claims, for reports of store size. */
  size(): Promise<number>;
  /**
   * What the store holds right now, expired claims not yet purged included: what it costs, as
   * opposed to size(), which counts what still deduplicates. Synchronous and cheap enough to sample
   * a few times a second; only in-process stores have it (redis and postgres would need a round trip).
   */
  footprint?(): DedupFootprint;
  close(): Promise<void>;
}

export interface DedupFootprint {
  /** Claims held: Map entries (memory), rows of the dedup table (sqlite). */
  entries: number;
  /** Estimated bytes the claims take, when the store can tell (memory: heap bytes); else null. */
  bytes_estimate: number | null;
}

export type DedupKind = 'memory' | 'sqlite' | 'none' | 'redis' | 'postgres';
