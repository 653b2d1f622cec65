// NoDedupStore: the "no deduplication" baseline. Every claim is 'new', so every delivery reaches
// the sink and only the sink's idempotency (or nothing, in append mode) absorbs duplicates.
// It must never report 'duplicate': that would drop events without any store to justify it.

import type { ClaimResult, DedupFootprint, DedupStore } from './index.ts';
import { assertValidTtl } from './ttl.ts';

export class NoDedupStore implements DedupStore {
  readonly kind = 'none' as const;
  readonly durable = false;
  private closed = false;

  async claimMany(eventIds: readonly string[], ttlMs: number): Promise<ClaimResult[]> {
    this.assertOpen();
    assertValidTtl(ttlMs);
    return eventIds.map((): ClaimResult => 'new');
  }

  async release(_eventIds: readonly string[]): Promise<void> {
    this.assertOpen();
  }

  async size(): Promise<number> {
    this.assertOpen();
    return 0;
  }

  footprint(): DedupFootprint {
    this.assertOpen();
    return { entries: 0, bytes_estimate: 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('NoDedupStore is closed');
  }
}
