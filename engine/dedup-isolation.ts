// A run's dedup claims on a shared server (Redis keys, a PostgreSQL table) belong to that run alone:
// every run of a comparison publishes the same seeded event ids, so claims left by one replicate
// would be found by the next (its dedup counters would be wrong and its store would start bigger),
// and claims kept for the default 10 minutes pile up on the machine's Redis and PostgreSQL. So the
// harness gives each run a place of its own and removes it after the run: the Redis key prefix is
// already per run (the aggregator's client id), and a PostgreSQL store gets a schema of its own.

import { createHash } from 'node:crypto';
import pg from 'pg';
import type { DedupSpec } from '../aggregator/dedup/registry.ts';
import { DEFAULT_DATABASE_URL } from '../aggregator/postgres.ts';
import { DEFAULT_REDIS_KEY_PREFIX, DEFAULT_REDIS_URL } from '../aggregator/dedup/redis.ts';
import { deleteKeysWithPrefix } from './broker/redis-keys.ts';

export type RunDedupPlace =
  | { kind: 'redis'; url: string; key_prefix: string }
  | { kind: 'postgres'; url: string; schema: string }
  | { kind: 'local' };

/** A lower-case SQL identifier of at most 63 characters, unique for the run's tag. */
export function runSchemaName(tag: string): string {
  const plain = `chaosbench_run_${tag.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  return plain.length <= 63 ? plain : `chaosbench_run_${createHash('sha256').update(tag).digest('hex').slice(0, 40)}`;
}

/**
 * Where a run's claims go, given its dedup store (parsed) and the aggregator's client id (the Redis
 * namespace). Environment defaults apply as in the aggregator (REDIS_URL, DATABASE_URL).
 */
export function runDedupPlace(spec: DedupSpec, clientId: string, tag: string): RunDedupPlace {
  if (spec.kind === 'redis') {
    return { kind: 'redis', url: spec.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL, key_prefix: `${DEFAULT_REDIS_KEY_PREFIX}${clientId}:` };
  }
  if (spec.kind === 'postgres') {
    return { kind: 'postgres', url: spec.url ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, schema: runSchemaName(tag) };
  }
  return { kind: 'local' };
}

/** Removes the run's claims; returns what it removed, for the progress line. */
export async function removeRunDedup(place: RunDedupPlace): Promise<string | undefined> {
  if (place.kind === 'redis') {
    const deleted = await deleteKeysWithPrefix(place.url, place.key_prefix);
    return `removed ${deleted} dedup keys under ${place.key_prefix}`;
  }
  if (place.kind === 'postgres') {
    await dropRunSchema(place.url, place.schema);
    return `dropped dedup schema ${place.schema}`;
  }
  return undefined;
}

/** Drops a run's schema (a plain lower-case identifier: runSchemaName, or one resolveSchema accepted) with everything in it. */
export async function dropRunSchema(url: string, schema: string): Promise<void> {
  // Bounded: 5 s to connect (a server that never answers included), 30 s for the DROP (a lock held elsewhere).
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 30_000, application_name: 'chaosbench-harness' });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
