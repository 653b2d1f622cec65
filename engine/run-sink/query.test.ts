// The target's own query as the run's sink (query.ts), against a real SQLite file and the real
// PostgreSQL: rows named by the locator, unknown ids left for the ledger to call unexpected, the
// drain's count of distinct ids, commit times in every form a database gives them, and none at all.

import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_URL } from '../../aggregator/postgres.ts';
import type { SinkRow } from '../../aggregator/sink/index.ts';
import { withPostgresClient } from '../../aggregator/sink/test-postgres.ts';
import { runSchemaName } from '../dedup-isolation.ts';
import type { EventLocator } from './interface.ts';
import { commitTimeMicros, createRunSchema, QueryRunSink } from './query.ts';

const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const EVENTS: Record<string, { source: string; seq: number; intended_us: number }> = {
  A: { source: 'pub-0', seq: 0, intended_us: 1_000_000 },
  B: { source: 'pub-0', seq: 1, intended_us: 2_000_000 },
};
const locate: EventLocator = (id) => EVENTS[id];

async function read(rows: AsyncIterable<SinkRow> | Iterable<SinkRow>): Promise<SinkRow[]> {
  const out: SinkRow[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

describe('commitTimeMicros', () => {
  it('reads numbers in the unit given, numeric text (PostgreSQL bigint), Dates and timestamp text (zoneless = UTC, microseconds kept)', () => {
    expect(commitTimeMicros(1_767_225_600_123, 'ms')).toBe(1_767_225_600_123_000);
    expect(commitTimeMicros(1_767_225_600, 's')).toBe(1_767_225_600_000_000);
    expect(commitTimeMicros('1767225600123456', 'us')).toBe(1_767_225_600_123_456);
    expect(commitTimeMicros(new Date('2026-01-01T00:00:00.123Z'), 'ms')).toBe(1_767_225_600_123_000);
    expect(commitTimeMicros('2026-01-01 00:00:00', 'ms')).toBe(1_767_225_600_000_000);
    expect(commitTimeMicros('2026-01-01 00:00:00.123456', 'ms')).toBe(1_767_225_600_123_456);
    expect(commitTimeMicros('2026-01-01T01:00:00+01:00', 'ms')).toBe(1_767_225_600_000_000);
    expect(commitTimeMicros('yesterday', 'ms')).toBeUndefined();
    expect(commitTimeMicros(null, 'ms')).toBeUndefined();
  });
});

describe('QueryRunSink (sqlite)', () => {
  function place() {
    const dir = mkdtempSync(join(tmpdir(), 'chaosbench-query-sink-'));
    dirs.push(dir);
    return { kind: 'sqlite' as const, out_dir: dir };
  }

  it('tells the target a fresh file, reads every row in the query\'s order named by the locator, counts distinct ids for the drain', async () => {
    const sink = new QueryRunSink(place(), { query: 'SELECT id AS eid, at_ms FROM t ORDER BY n;', event_id_column: 'eid', commit_time_column: 'at_ms' });
    expect(sink.aggregator.sink).toMatch(/^sqlite:\/.*\/sink\.db$/);
    expect(sink.measures_latency).toBe(true);
    expect(sink.description.query).toBe('SELECT id AS eid, at_ms FROM t ORDER BY n');
    // Before the target has written anything: nothing, not an error.
    expect(await sink.countDurable()).toBe(0);
    expect(await read(sink.rows(locate))).toEqual([]);
    const db = new Database(sink.aggregator.sink.slice('sqlite:'.length));
    db.exec("CREATE TABLE t (n INTEGER PRIMARY KEY, id TEXT, at_ms INTEGER); INSERT INTO t (id, at_ms) VALUES ('B', 3000), ('A', 3001), ('B', 3002), ('Z', 3003)");
    db.close();
    expect(await sink.countDurable()).toBe(3);
    expect(await read(sink.rows(locate))).toEqual([
      { event_id: 'B', source: 'pub-0', seq: 1, committed_us: 3_000_000, intended_us: 2_000_000, deliveries: 1 },
      { event_id: 'A', source: 'pub-0', seq: 0, committed_us: 3_001_000, intended_us: 1_000_000, deliveries: 1 },
      { event_id: 'B', source: 'pub-0', seq: 1, committed_us: 3_002_000, intended_us: 2_000_000, deliveries: 1 },
      // Never published: no source, so the ledger counts it unexpected.
      { event_id: 'Z', source: '', seq: -1, committed_us: 3_003_000, intended_us: null, deliveries: 1 },
    ]);
    expect(await sink.deadLetters()).toEqual([]);
  });

  it('without a commit time column measures no latency; a missing id column and a bad commit time are named', async () => {
    const where = place();
    // Each sink removes the file it will tell the target about: all three first, then the writes.
    const plain = new QueryRunSink(where, { query: 'SELECT event_id FROM t' });
    const noId = new QueryRunSink(where, { query: 'SELECT other FROM t' });
    const badTime = new QueryRunSink(where, { query: 'SELECT event_id, at FROM t', commit_time_column: 'at' });
    expect(plain.measures_latency).toBe(false);
    const db = new Database(plain.aggregator.sink.slice('sqlite:'.length));
    db.exec("CREATE TABLE t (event_id TEXT, other TEXT, at TEXT); INSERT INTO t VALUES ('A', 'x', 'soon')");
    db.close();
    expect((await read(plain.rows(locate)))[0]!.committed_us).toBeNaN();
    await expect(read(noId.rows(locate))).rejects.toThrow("the target's query returns no column 'event_id' (target.sink.event_id_column); it returns other");
    await expect(read(badTime.rows(locate))).rejects.toThrow(
      `the target's query returned "soon" in commit time column 'at': it must be a number of ms since the epoch (target.sink.commit_time_unit) or a timestamp`,
    );
  });
});

describe('QueryRunSink (postgres)', () => {
  it("reads the run's own schema (search_path) with the query, timestamps as commit times, and drops the schema", async () => {
    const schema = runSchemaName(`test-${randomBytes(4).toString('hex')}`);
    const sink = new QueryRunSink({ kind: 'postgres', url: databaseUrl, schema }, { query: 'SELECT event_id, committed_at FROM writes ORDER BY n', commit_time_column: 'committed_at' });
    expect(sink.aggregator).toEqual({ sink: databaseUrl, sink_schema: schema });
    await createRunSchema(databaseUrl, schema);
    await withPostgresClient(databaseUrl, async (client: pg.Client) => {
      await client.query(`CREATE TABLE "${schema}".writes (n serial PRIMARY KEY, event_id text, committed_at timestamptz)`);
      await client.query(`INSERT INTO "${schema}".writes (event_id, committed_at) VALUES ('A', '2026-01-01T00:00:00.000250Z'), ('A', '2026-01-01T00:00:01Z')`);
    });
    expect(await sink.countDurable()).toBe(1);
    const rows = await read(sink.rows(locate));
    expect(rows.map((r) => [r.event_id, r.seq, r.committed_us])).toEqual([
      ['A', 0, 1_767_225_600_000_000],
      ['A', 0, 1_767_225_601_000_000],
    ]);
    expect(await sink.remove()).toBe(`dropped sink schema ${schema}`);
    const left = await withPostgresClient(databaseUrl, async (client: pg.Client) => (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount);
    expect(left).toBe(0);
  });
});
