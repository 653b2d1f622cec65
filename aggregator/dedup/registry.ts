// Dedup store registry: turns a spec string from config or the CLI ('memory', 'none', 'sqlite',
// 'sqlite:./data/dedup.db', 'redis', 'redis://host:6379', 'postgres', 'postgres://user@host/db') into
// a store. A new store is a new file plus one line in `factories`; the `satisfies` clause makes the
// compiler list any DedupKind without a factory.
// Parsing has no side effects (it neither connects nor reads the environment), so a bad spec is
// reported before anything is opened; a bare 'redis' or 'postgres' takes its URL from REDIS_URL or
// DATABASE_URL when the store is created.

import type { SqliteSink } from '../sink/sqlite.ts';
import type { DedupKind, DedupStore } from './index.ts';
import { MemoryDedupStore } from './memory.ts';
import { NoDedupStore } from './none.ts';
import { DEFAULT_POSTGRES_SCHEMA } from '../postgres.ts';
import { PostgresDedupStore } from './postgres.ts';
import { DEFAULT_REDIS_KEY_PREFIX, RedisDedupStore, redisDatabaseProblem } from './redis.ts';
import { SqliteDedupStore } from './sqlite.ts';

export interface DedupSpec {
  kind: DedupKind;
  /** sqlite only: a database file of its own. Undefined = share the sink's database. */
  path?: string;
  /** redis, postgres: the server's URL. Undefined = REDIS_URL / DATABASE_URL, or the local default. */
  url?: string;
}

export interface CreateDedupStoreOptions {
  /** The sink, required by 'sqlite' without a path (the store shares `sink.db`). */
  sink?: SqliteSink;
  /** Clock in ms for TTLs (tests). Default Date.now. */
  now?: () => number;
  /** memory only: bound on live claims. */
  maxEntries?: number;
  /**
   * redis only: claims live under the key prefix `chaosbench:dedup:<namespace>:`, so that aggregators
   * with different namespaces (the service passes its MQTT client id) do not share claims. Default 'default'.
   */
  namespace?: string;
  /** postgres only: schema of the dedup table. Default 'chaosbench'. */
  schema?: string;
  /** redis, postgres: told of connection errors (the store reconnects by itself). */
  onError?: (error: Error) => void;
}

type Factory = (spec: DedupSpec, options: CreateDedupStoreOptions) => DedupStore;

const factories = {
  memory: (_spec, { now, maxEntries }) => new MemoryDedupStore({ now, maxEntries }),
  none: () => new NoDedupStore(),
  sqlite: (spec, { now, sink }) => {
    if (spec.path !== undefined) return new SqliteDedupStore({ path: spec.path, now });
    if (!sink) {
      throw new Error("dedup store 'sqlite' without a path shares the sink's database, but no SQLite sink was given");
    }
    return new SqliteDedupStore({ db: sink.db, now });
  },
  redis: (spec, { namespace, onError }) =>
    new RedisDedupStore({ url: spec.url, keyPrefix: `${DEFAULT_REDIS_KEY_PREFIX}${namespace ?? 'default'}:`, onError }),
  postgres: (spec, { schema, onError }) => new PostgresDedupStore({ url: spec.url, schema: schema ?? DEFAULT_POSTGRES_SCHEMA, onError }),
} satisfies Record<DedupKind, Factory>;

export const DEDUP_KINDS = Object.keys(factories) as DedupKind[];

/** Kinds that accept ':<path>' after the name. */
const KINDS_WITH_PATH: ReadonlySet<DedupKind> = new Set<DedupKind>(['sqlite']);

/** Kinds that accept a URL instead of the bare name, by URL scheme (lower case, with the colon). */
const URL_SCHEMES = {
  'redis:': 'redis',
  'rediss:': 'redis',
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
} as const satisfies Record<string, DedupKind>;

/** How each URL kind's URL looks, for error messages. */
const URL_FORMS: Partial<Record<DedupKind, string>> = {
  redis: 'redis://<host>:<port>',
  postgres: 'postgres://<user>@<host>:<port>/<database>',
};

function isDedupKind(kind: string): kind is DedupKind {
  return Object.hasOwn(factories, kind);
}

function urlKind(scheme: string): DedupKind | undefined {
  const lower = scheme.toLowerCase();
  return Object.hasOwn(URL_SCHEMES, lower) ? URL_SCHEMES[lower as keyof typeof URL_SCHEMES] : undefined;
}

function validSpecs(): string {
  return DEDUP_KINDS.map((kind) => {
    if (KINDS_WITH_PATH.has(kind)) return `${kind}, ${kind}:<path>`;
    const form = URL_FORMS[kind];
    return form ? `${kind}, ${form}` : kind;
  }).join(', ');
}

/**
 * Parses 'memory' | 'none' | 'sqlite' | 'sqlite:<path>' | 'redis' | 'redis://…' | 'rediss://…' |
 * 'postgres' | 'postgres://…' | 'postgresql://…'; throws an Error naming the valid kinds.
 */
export function parseDedupSpec(spec: string): DedupSpec {
  const url = /^([A-Za-z][A-Za-z0-9+.-]*:)\/\//.exec(spec);
  const kindOfUrl = url ? urlKind(url[1]!) : undefined;
  if (kindOfUrl) return { kind: kindOfUrl, url: parseServerUrl(spec, kindOfUrl) };

  const separator = spec.indexOf(':');
  const kind = separator === -1 ? spec : spec.slice(0, separator);
  const path = separator === -1 ? undefined : spec.slice(separator + 1);
  if (!isDedupKind(kind)) {
    throw new Error(`unknown dedup store '${spec}': valid kinds are ${validSpecs()}`);
  }
  if (path !== undefined) {
    const form = URL_FORMS[kind];
    if (form) {
      throw new Error(`dedup store '${kind}' takes a URL like ${form} (got '${spec}'): valid kinds are ${validSpecs()}`);
    }
    if (!KINDS_WITH_PATH.has(kind)) {
      throw new Error(`dedup store '${kind}' takes no path (got '${spec}'): valid kinds are ${validSpecs()}`);
    }
    if (path === '') throw new Error(`dedup store '${spec}' has an empty path: use '${kind}' or '${kind}:<path>'`);
    return { kind, path };
  }
  return { kind };
}

/** Checks a server URL's shape (host present, parseable); returns it unchanged. */
function parseServerUrl(spec: string, kind: DedupKind): string {
  let parsed: URL;
  try {
    parsed = new URL(spec);
  } catch {
    throw new Error(`dedup store '${spec}' is not a valid URL: use ${URL_FORMS[kind]}`);
  }
  if (parsed.hostname === '') throw new Error(`dedup store '${spec}' names no host: use ${URL_FORMS[kind]}`);
  // A Redis URL's path is its database index: a number, or nothing (database 0).
  const database = kind === 'redis' ? redisDatabaseProblem(spec) : undefined;
  if (database) throw new Error(`dedup store '${spec}': ${database}`);
  return spec;
}

/**
 * Why a dedup store cannot go with a sink of this kind, or undefined: 'sqlite' without a path keeps
 * its claims inside the sink's SQLite database, which a PostgreSQL sink does not have. Worded in the
 * flags the aggregator and the bench share (--dedup, --sink): both refuse it with this message.
 */
export function dedupSinkConflict(dedup: DedupSpec, sink: { kind: string }): string | undefined {
  if (sink.kind !== 'postgres' || dedup.kind !== 'sqlite' || dedup.path !== undefined) return undefined;
  return "--dedup sqlite (the default) keeps its claims inside the sink's SQLite database, and --sink postgres has none: with --sink postgres give --dedup postgres (claims in the sink's own transaction), sqlite:PATH, memory, redis or none";
}

export function createDedupStore(spec: string | DedupSpec, options: CreateDedupStoreOptions = {}): DedupStore {
  const parsed = typeof spec === 'string' ? parseDedupSpec(spec) : spec;
  return factories[parsed.kind](parsed, options);
}
