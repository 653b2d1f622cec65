// One suite, every run sink (docs/testing.md): the aggregator's own sink, opened at the settings a RunSink
// gives the aggregator, writes; the RunSink reads back what the ledger, the drain and the progress
// line need. Against the real PostgreSQL (DATABASE_URL or the local default); never skipped. The
// PostgreSQL cases use schemas named like a run's and drop them at the end.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { nowMicros, sleep } from '../../aggregator/clock.ts';
import { parseSinkSpec } from '../../aggregator/service.ts';
import { parseAggregatorArgs } from '../../aggregator/main.ts';
import { parseDedupSpec } from '../../aggregator/dedup/registry.ts';
import type { DeadLetter, Sink, SinkKind, SinkMode, SinkRow } from '../../aggregator/sink/index.ts';
import { DEFAULT_DATABASE_URL } from '../../aggregator/postgres.ts';
import { PostgresSink } from '../../aggregator/sink/postgres.ts';
import { SqliteSink } from '../../aggregator/sink/sqlite.ts';
import { event } from '../../aggregator/sink/test-events.ts';
import { runSchemaName } from '../dedup-isolation.ts';
import type { LiveLatencySample } from '../metrics/live-latency.ts';
import { describeSinkChoice, parseSinkChoice, runSinkFor, sinkDedupProblems, type RunSink } from './index.ts';
import { redactPassword } from '../../aggregator/redact.ts';
import { withPostgresClient } from '../../aggregator/sink/test-postgres.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const newDir = tempDirs('run-sink');
const schemas: string[] = [];

function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withPostgresClient(databaseUrl, work);
}

async function schemaExists(schema: string): Promise<boolean> {
  return admin(async (client) => (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1);
}

afterAll(async () => {
  await admin(async (client) => {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
});

/** A run sink of this kind for a fresh run (its own directory and tag). */
function freshRunSink(kind: SinkKind): RunSink {
  const dir = newDir();
  const tag = `test-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  if (kind === 'postgres') schemas.push(runSchemaName(tag));
  return runSinkFor(kind === 'sqlite' ? { kind } : { kind, url: databaseUrl }, { out_dir: dir, tag });
}

/** The aggregator's sink, opened exactly as the aggregator opens it from these settings. */
async function aggregatorSink(settings: RunSink['aggregator'], mode: SinkMode): Promise<Sink> {
  const spec = parseSinkSpec(settings.sink);
  if (spec.kind === 'sqlite') return new SqliteSink({ path: spec.path, mode });
  const sink = new PostgresSink({ url: spec.url, schema: settings.sink_schema, mode });
  await sink.open();
  return sink;
}

async function allRows(rows: Iterable<SinkRow> | AsyncIterable<SinkRow>): Promise<SinkRow[]> {
  const read: SinkRow[] = [];
  for await (const row of rows) read.push(row);
  return read;
}

/** Samples once every 50 ms until `found` accepts one (a PostgreSQL sample is one look behind). */
async function sampleUntil(sample: () => LiveLatencySample | undefined, found: (s: LiveLatencySample) => boolean, seen: LiveLatencySample[]): Promise<LiveLatencySample> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const s = sample();
    if (s) seen.push(s);
    if (s && found(s)) return s;
    await sleep(50);
  }
  throw new Error(`no matching live sample within 10 s; saw ${JSON.stringify(seen.slice(-5))}`);
}

const POISON: DeadLetter = { raw: '{"source":"pub-0","seq":7', topic: 'events/pub-0', reason: 'invalid JSON', event_id: null, at_us: 1_767_225_600_000_123 };

describe.each<SinkKind>(['sqlite', 'postgres'])('RunSink (%s)', (kind) => {
  it('reads back, in commit order, what the aggregator wrote at the settings it was given: rows, deliveries, dead letters, the durable count', async () => {
    const runSink = freshRunSink(kind);
    expect(runSink.kind).toBe(kind);
    const sink = await aggregatorSink(runSink.aggregator, 'idempotent');
    await sink.commit([event(2), event(0), event(1)]);
    await sink.commit([event(0), event(3)]);
    await sink.deadLetter([POISON]);
    await sink.close();

    const rows = await allRows(runSink.rows());
    expect(rows.map((row) => [row.event_id, row.seq, row.deliveries])).toEqual([
      [event(2).event_id, 2, 1],
      [event(0).event_id, 0, 2],
      [event(1).event_id, 1, 1],
      [event(3).event_id, 3, 1],
    ]);
    expect(rows[0]!.intended_us).toBe(event(2).bench!.intended_us);
    expect(typeof rows[0]!.committed_us).toBe('number');
    expect(await runSink.deadLetters()).toEqual([POISON]);
    expect(await runSink.countDurable()).toBe(4 + 1);
  });

  it('append mode: every write is a row, so a duplicate reads back as a second row of its event', async () => {
    const runSink = freshRunSink(kind);
    const sink = await aggregatorSink(runSink.aggregator, 'append');
    await sink.commit([event(0), event(1)]);
    await sink.commit([event(0)]);
    await sink.close();
    expect((await allRows(runSink.rows())).map((row) => row.seq)).toEqual([0, 1, 0]);
    expect(await runSink.countDurable()).toBe(2);
  });

  it('live latency: the rows committed since the previous look, each counted once, nothing before the sink exists', async () => {
    const runSink = freshRunSink(kind);
    const live = runSink.liveLatency();
    try {
      expect(live.sample()).toBeUndefined();
      await sleep(200);
      expect(live.sample()?.count ?? 0).toBe(0);
      const sink = await aggregatorSink(runSink.aggregator, 'idempotent');
      try {
        const seen: LiveLatencySample[] = [];
        // Intended 5 ms before the commit: each row's latency is at least 5 ms.
        const stamped = (seq: number) => event(seq, { bench: { intended_us: nowMicros() - 5_000 } });
        const stampedAt = nowMicros();
        await sink.commit([stamped(0), stamped(1), stamped(2)]);
        const first = await sampleUntil(() => live.sample(), (s) => s.count > 0, seen);
        // At most the 5 ms plus the time since the stamp (0.1 % for the histogram's rounding): a p99
        // in µs read as ms would be ≥ 5,000.
        const sinceStampMs = (nowMicros() - stampedAt) / 1000;
        expect(first.count).toBe(3);
        expect(first.p99_ms).toBeGreaterThanOrEqual(5);
        expect(first.p99_ms).toBeLessThanOrEqual((5 + sinceStampMs) * 1.001);
        await sink.commit([stamped(3), stamped(4)]);
        const second = await sampleUntil(() => live.sample(), (s) => s !== first && s.count > 0, seen);
        expect(second.count).toBe(2);
        // Never a look that counted a row again.
        expect(Math.max(...seen.map((s) => s.count))).toBe(3);
      } finally {
        await sink.close();
      }
    } finally {
      await live.close();
    }
  });
});

describe('RunSink.remove', () => {
  it("drops a PostgreSQL run's schema (and is harmless when it is already gone)", async () => {
    const runSink = freshRunSink('postgres');
    const schema = runSink.aggregator.sink_schema!;
    expect(schema).toMatch(/^chaosbench_run_test_/);
    const sink = await aggregatorSink(runSink.aggregator, 'idempotent');
    await sink.commit([event(0)]);
    await sink.close();
    expect(await schemaExists(schema)).toBe(true);
    expect(await runSink.remove()).toBe(`dropped sink schema ${schema}`);
    expect(await schemaExists(schema)).toBe(false);
    await runSink.remove();
  });

  it('keeps a SQLite sink file for inspection', async () => {
    const runSink = freshRunSink('sqlite');
    const sink = await aggregatorSink(runSink.aggregator, 'idempotent');
    await sink.commit([event(0)]);
    await sink.close();
    const path = parseSinkSpec(runSink.aggregator.sink);
    expect(path.kind === 'sqlite' && path.path.endsWith('/sink.db')).toBe(true);
    expect(await runSink.remove()).toBeUndefined();
    expect(existsSync((path as { path: string }).path)).toBe(true);
  });
});

describe('a reused output directory', () => {
  it("starts a SQLite run sink empty: an earlier run's sink.db (and its WAL) is removed, not counted", async () => {
    const first = freshRunSink('sqlite');
    const sink = await aggregatorSink(first.aggregator, 'idempotent');
    await sink.commit([event(0), event(1)]);
    await sink.close();
    const path = (parseSinkSpec(first.aggregator.sink) as { path: string }).path;
    const outDir = path.slice(0, -'/sink.db'.length);
    const again = runSinkFor({ kind: 'sqlite' }, { out_dir: outDir, tag: 'again' });
    expect(existsSync(path)).toBe(false);
    const next = await aggregatorSink(again.aggregator, 'idempotent');
    await next.commit([event(2)]);
    await next.close();
    const rows: SinkRow[] = [];
    for await (const row of again.rows()) rows.push(row);
    expect(rows.map((r) => r.event_id)).toEqual([event(2).event_id]);
  });
});

describe('runSinkFor', () => {
  it("gives a PostgreSQL sink the run's schema (the one its PostgreSQL dedup claims get) and records the server without its password", () => {
    const runSink = runSinkFor({ kind: 'postgres', url: 'postgres://bench:secret@db.example:5432/bench' }, { out_dir: '/tmp/x', tag: '20260101T000000-dup-storm-42' });
    expect(runSink.aggregator).toEqual({ sink: 'postgres://bench:secret@db.example:5432/bench', sink_schema: 'chaosbench_run_20260101t000000_dup_storm_42' });
    expect(runSink.aggregator.sink_schema).toBe(runSchemaName('20260101T000000-dup-storm-42'));
    expect(runSink.description).toEqual({ kind: 'postgres', url: 'postgres://bench:***@db.example:5432/bench', schema: 'chaosbench_run_20260101t000000_dup_storm_42' });
  });

  it('takes DATABASE_URL (or the local default) for a bare postgres, and <out>/sink.db for sqlite', () => {
    const runSink = runSinkFor({ kind: 'postgres' }, { out_dir: '/tmp/x', tag: 't' });
    expect(runSink.aggregator.sink).toBe(databaseUrl);
    const sqlite = runSinkFor({ kind: 'sqlite' }, { out_dir: '/tmp/x', tag: 't' });
    expect(sqlite.aggregator).toEqual({ sink: 'sqlite:/tmp/x/sink.db' });
    expect(sqlite.description).toEqual({ kind: 'sqlite', url: 'sqlite:/tmp/x/sink.db' });
  });
});

describe('parseSinkChoice', () => {
  it.each([
    ['sqlite', { kind: 'sqlite' }],
    ['postgres', { kind: 'postgres' }],
    ['postgres://u@h:5432/db', { kind: 'postgres', url: 'postgres://u@h:5432/db' }],
    ['postgresql://u@h/db', { kind: 'postgres', url: 'postgresql://u@h/db' }],
  ])('%s', (text, choice) => {
    expect(parseSinkChoice(text)).toEqual(choice);
  });

  it.each([
    ['foo', /must be sqlite \(the file <out>\/sink.db\), postgres or postgres:\/\/USER@HOST:PORT\/DB, got 'foo'/],
    ['', /got ''/],
    ['sqlite:/tmp/x.db', /got 'sqlite:\/tmp\/x.db': a run's SQLite sink is always a fresh <out>\/sink.db/],
    ['postgres://', /names no host/],
    ['mysql://u@h/db', /got 'mysql:\/\/u@h\/db'/],
  ])('refuses %j', (text, message) => {
    expect(() => parseSinkChoice(text)).toThrow(message);
  });
});

describe('sinkDedupProblems', () => {
  it("refuses the sink's own SQLite dedup store with a PostgreSQL sink, naming --dedup and --sink", () => {
    const [problem, ...more] = sinkDedupProblems({ kind: 'postgres' }, parseDedupSpec('sqlite'));
    expect(more).toEqual([]);
    expect(problem).toMatch(/--dedup sqlite.*--sink postgres.*--dedup postgres/);
  });

  it.each(['postgres', 'postgres://u@h/db', 'sqlite:/tmp/dedup.db', 'memory', 'none', 'redis'])('accepts --dedup %s beside a PostgreSQL sink', (dedup) => {
    expect(sinkDedupProblems({ kind: 'postgres' }, parseDedupSpec(dedup))).toEqual([]);
  });

  it('accepts anything beside a SQLite sink', () => {
    expect(sinkDedupProblems({ kind: 'sqlite' }, parseDedupSpec('sqlite'))).toEqual([]);
  });

  it('says what the aggregator says when it refuses the pair: one rule, one message', async () => {
    const refusal = await parseAggregatorArgs(['--sink', 'postgres', '--dedup', 'sqlite']).then(
      () => undefined,
      (error: unknown) => (error as Error).message,
    );
    expect(refusal).toBe(sinkDedupProblems({ kind: 'postgres' }, parseDedupSpec('sqlite'))[0]);
  });
});

describe('describeSinkChoice / redactPassword', () => {
  it('hides a password and leaves everything else as given', () => {
    expect(describeSinkChoice('sqlite')).toBe('sqlite');
    expect(describeSinkChoice('postgres')).toBe('postgres');
    expect(describeSinkChoice('postgres://u@h:5432/db')).toBe('postgres://u@h:5432/db');
    expect(describeSinkChoice('postgres://u:pa%40ss@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactPassword('not a url://u:p@x')).not.toContain(':p@');
  });
});
