// Dedup store registry: turns a spec string from config or the CLI ('memory', 'none', 'sqlite',
// 'sqlite:./data/dedup.db') into a store. A new store is a new file plus one line in `factories`;
// the `satisfies` clause makes the compiler list any DedupKind without a factory.
// Parsing has no side effects, so a bad spec is reported before anything is opened.

import type { SqliteSink } from '../sink/sqlite.ts';
import type { DedupKind, DedupStore } from './index.ts';
import { MemoryDedupStore } from './memory.ts';
import { NoDedupStore } from './none.ts';
import { SqliteDedupStore } from './sqlite.ts';

export interface DedupSpec {
  kind: DedupKind;
  /** sqlite only: a database file of its own. Undefined = share the sink's database. */
  path?: string;
}

export interface CreateDedupStoreOptions {
  /** The sink, required by 'sqlite' without a path (the store shares `sink.db`). */
  sink?: SqliteSink;
  /** Clock in ms for TTLs (tests). Default Date.now. */
  now?: () => number;
  /** memory only: bound on live claims. */
  maxEntries?: number;
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
} satisfies Record<DedupKind, Factory>;

export const DEDUP_KINDS = Object.keys(factories) as DedupKind[];

/** Kinds that accept ':<path>' after the name. */
const KINDS_WITH_PATH: ReadonlySet<DedupKind> = new Set<DedupKind>(['sqlite']);

function isDedupKind(kind: string): kind is DedupKind {
  return Object.hasOwn(factories, kind);
}

function validSpecs(): string {
  return DEDUP_KINDS.map((kind) => (KINDS_WITH_PATH.has(kind) ? `${kind}, ${kind}:<path>` : kind)).join(', ');
}

/** Parses 'memory' | 'none' | 'sqlite' | 'sqlite:<path>'; throws an Error naming the valid kinds. */
export function parseDedupSpec(spec: string): DedupSpec {
  const separator = spec.indexOf(':');
  const kind = separator === -1 ? spec : spec.slice(0, separator);
  const path = separator === -1 ? undefined : spec.slice(separator + 1);
  if (!isDedupKind(kind)) {
    throw new Error(`unknown dedup store '${spec}': valid kinds are ${validSpecs()}`);
  }
  if (path !== undefined) {
    if (!KINDS_WITH_PATH.has(kind)) {
      throw new Error(`dedup store '${kind}' takes no path (got '${spec}'): valid kinds are ${validSpecs()}`);
    }
    if (path === '') throw new Error(`dedup store '${spec}' has an empty path: use '${kind}' or '${kind}:<path>'`);
    return { kind, path };
  }
  return { kind };
}

export function createDedupStore(spec: string | DedupSpec, options: CreateDedupStoreOptions = {}): DedupStore {
  const parsed = typeof spec === 'string' ? parseDedupSpec(spec) : spec;
  return factories[parsed.kind](parsed, options);
}
