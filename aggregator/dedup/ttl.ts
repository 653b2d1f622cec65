// Argument check shared by every DedupStore: a claim needs a positive, finite TTL.
// A TTL of 0 would make a claim expire the instant it is made, so a repeat inside one claimMany
// would count as 'new' again; reject it instead of silently not deduplicating.

export function assertValidTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`ttlMs must be a finite number > 0, got ${ttlMs}`);
  }
}
