// The run's sink as the harness sees it: where the aggregator commits (its `sink` settings), how the
// harness reads it back (the ledger's final read, the dead letters, the drain's durable count, the
// progress line's live latency) and what is removed after the run. One implementation per sink
// kind (sqlite.ts, postgres.ts), chosen once here, so that run.ts never asks which sink it has.
// It must never read a sink before the aggregator has stopped and call it final, nor remove a sink
// before the final read.

import { dedupSinkConflict, type DedupSpec } from '../../aggregator/dedup/registry.ts';
import { parseSinkSpec } from '../../aggregator/service.ts';
import type { SinkKind } from '../../aggregator/sink/index.ts';
import { DEFAULT_DATABASE_URL } from '../../aggregator/postgres.ts';
import { runSchemaName } from '../dedup-isolation.ts';
import { PostgresRunSink } from './postgres.ts';
import { redactPassword } from '../../aggregator/redact.ts';
import { SqliteRunSink } from './sqlite.ts';
import { QueryRunSink, type QueryPlace, type QuerySpec } from './query.ts';
import type { RunSink } from './interface.ts';

export type { RunSink } from './interface.ts';

/** What `--sink` names: the SQLite file in the run's directory, or a PostgreSQL server. */
export type SinkChoice = { kind: 'sqlite' } | { kind: 'postgres'; url?: string };

export const SINK_FORMS = 'sqlite (the file <out>/sink.db), postgres or postgres://USER@HOST:PORT/DB';

/** Parses a `--sink` value (no side effects, reads no environment); throws an Error saying what is accepted. */
export function parseSinkChoice(text: string): SinkChoice {
  if (text === 'sqlite') return { kind: 'sqlite' };
  // A PostgreSQL URL is checked by the aggregator's own parser, so both refuse the same URLs.
  if (text === 'postgres' || /^postgres(ql)?:\/\//i.test(text)) {
    const spec = parseSinkSpec(text);
    if (spec.kind === 'postgres') return spec.url === undefined ? { kind: 'postgres' } : { kind: 'postgres', url: spec.url };
  }
  if (text.startsWith('sqlite:')) {
    throw new Error(`must be ${SINK_FORMS}, got '${text}': a run's SQLite sink is always a fresh <out>/sink.db (rows an earlier run left in a file would be counted)`);
  }
  throw new Error(`must be ${SINK_FORMS}, got '${text}'`);
}

/** The `--sink` value as result.json may keep it: a password in a URL is replaced by ***. */
export function describeSinkChoice(text: string): string {
  return text === 'sqlite' || text === 'postgres' ? text : redactPassword(text);
}

/**
 * What makes a sink and a dedup store (as the scenario's validation parsed it) unusable together, as
 * CLI messages (empty when they fit): the aggregator's own rule (it refuses the pair at start-up),
 * checked before anything starts.
 */
export function sinkDedupProblems(choice: SinkChoice, dedup: DedupSpec): string[] {
  const conflict = dedupSinkConflict(dedup, choice);
  return conflict ? [conflict] : [];
}

/**
 * Where this run's sink lives: the run's directory for SQLite, a schema of the run's own (from its
 * tag) for PostgreSQL. Read with the reference schema's readers, or, for a target that gives its
 * own query (scenario target.sink), with that query at the same place (query.ts).
 */
export function runSinkFor(choice: SinkChoice, run: RunPlace, query?: QuerySpec): RunSink {
  if (query) {
    const place: QueryPlace =
      choice.kind === 'sqlite'
        ? { kind: 'sqlite', out_dir: run.out_dir }
        : { kind: 'postgres', url: choice.url ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, schema: runSchemaName(run.tag) };
    return new QueryRunSink(place, query);
  }
  return (RUN_SINKS[choice.kind] as (choice: SinkChoice, run: RunPlace) => RunSink)(choice, run);
}

/** The run's directory and its tag (unique per run and shard). */
export interface RunPlace {
  out_dir: string;
  tag: string;
}

const RUN_SINKS = {
  sqlite: (_choice, run) => new SqliteRunSink(run.out_dir),
  // Environment defaults as in the aggregator (DATABASE_URL), resolved here and passed to it, so that
  // the harness cannot read another server than the one the aggregator wrote to. The schema is the
  // one the run's PostgreSQL dedup claims get (dedup-isolation.ts): one schema holds the run.
  postgres: (choice, run) => new PostgresRunSink({ url: choice.url ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, schema: runSchemaName(run.tag) }),
} satisfies { [K in SinkKind]: (choice: Extract<SinkChoice, { kind: K }>, run: RunPlace) => RunSink };
