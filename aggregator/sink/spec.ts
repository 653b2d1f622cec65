// Where the aggregator's sink lives, as its `sink` setting names it: 'sqlite:PATH' or a PostgreSQL
// server. Parsing only: no side effects, no environment read (a bare 'postgres' takes DATABASE_URL
// when the sink opens), so a bad value is reported before anything starts.

/** Where the sink lives: a SQLite file, or a PostgreSQL server (url undefined = DATABASE_URL or the local default). */
export type SinkSpec = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url?: string };

const SINK_FORMS = "sqlite:PATH, postgres or postgres://USER@HOST:PORT/DB";

/** Parses 'sqlite:PATH' | 'postgres' | 'postgres://…' | 'postgresql://…'; no side effects (reads no environment). */
export function parseSinkSpec(spec: string): SinkSpec {
  if (spec.startsWith('sqlite:')) {
    if (spec.length <= 'sqlite:'.length) throw new Error(`sink '${spec}' has an empty path: use ${SINK_FORMS}`);
    return { kind: 'sqlite', path: spec.slice('sqlite:'.length) };
  }
  if (spec === 'postgres') return { kind: 'postgres' };
  if (/^postgres(ql)?:\/\//i.test(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new Error(`sink '${spec}' is not a valid URL: use postgres://USER@HOST:PORT/DB`);
    }
    if (url.hostname === '') throw new Error(`sink '${spec}' names no host: use postgres://USER@HOST:PORT/DB`);
    return { kind: 'postgres', url: spec };
  }
  // Worded so that the SQLite form comes first (the CLI tests match on it).
  throw new Error(`sink must be sqlite:PATH, got '${spec}' (or postgres, postgres://USER@HOST:PORT/DB)`);
}

/** The file of a 'sqlite:PATH' sink; throws for any other sink. */
export function sinkPath(spec: string): string {
  const parsed = parseSinkSpec(spec);
  if (parsed.kind !== 'sqlite') throw new Error(`sink must be sqlite:PATH, got '${spec}'`);
  return parsed.path;
}
