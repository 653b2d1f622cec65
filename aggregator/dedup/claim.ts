// What a claim of one event id answers. Its own module because both sides of the claim name it:
// the dedup stores (index.ts) and the sinks, whose transactional claim (sink/index.ts,
// TransactionalClaim) returns it, and neither of those may import the other.

export type ClaimResult = 'new' | 'duplicate';
