// What the PostgreSQL dedup store and sink share: where the server is by default, which names a
// schema may have (it is spliced into SQL, so only plain identifiers), and which errors mean the
// server is away for now (TransientError: the pipeline retries them) rather than a bug. Its own
// module so that the store and the sink depend on it and not on each other.

import { TransientError } from './sink/index.ts';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const DEFAULT_POSTGRES_SCHEMA = 'chaosbench';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The connection went away (or never came): the statement did not run, or its answer was lost. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // 08xxx connection exception; 57P01-03 admin/crash shutdown, cannot connect now.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
    if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) {
      return true;
    }
  }
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|Connection ended/i.test(error.message);
}

/** SQLSTATEs worth another try: serialization failure, deadlock, out of resources, lock timeout, cancelled. */
function isTransientSqlState(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === '40001' || code === '40P01' || code.startsWith('53') || code === '55P03' || code === '57014');
}

/** Connection and transient SQL errors become TransientError (the pipeline retries those). */
export function toTransientIfPostgresUnavailable(error: unknown): unknown {
  if (error instanceof TransientError) return error;
  if (isConnectionError(error) || isTransientSqlState(error)) {
    return new TransientError(`postgres: ${(error as Error).message}`, { cause: error });
  }
  return error;
}

/**
 * What makes two connection URLs the same database: user, host, port and database name (the scheme,
 * password and options do not matter). Different spellings of one host (localhost / 127.0.0.1)
 * compare unequal, which only costs the transactional claim order, never correctness.
 */
export function databaseIdentity(url: string): string {
  try {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    return JSON.stringify([decodeURIComponent(parsed.username), parsed.hostname.toLowerCase(), parsed.port || '5432', database]);
  } catch {
    return `unparsed:${url}`;
  }
}

/** The schema of a store's or sink's tables: the given one or the default, a plain identifier (it is spliced into SQL). */
export function resolveSchema(schema: string | undefined): string {
  const resolved = schema ?? DEFAULT_POSTGRES_SCHEMA;
  if (!SCHEMA_NAME.test(resolved)) {
    throw new RangeError(`schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63), got '${resolved}'`);
  }
  return resolved;
}

/** The server: the given URL, else DATABASE_URL, else the local default. */
export function resolveUrl(url: string | undefined): string {
  return url ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
}
