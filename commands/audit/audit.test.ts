// npm run audit: the script npm run k6:export writes, run in Node as k6 would run it (its k6 modules
// replaced, test-support/k6-script.ts) but publishing through a real MQTT client to a real broker (the
// embedded one), consumed by the reference aggregator into a real SQLite sink (append mode); then the
// audit of that sink passes with nothing lost, and after rows are deleted, forged and doubled it
// counts exactly those and exits 1. A second aggregator fills a PostgreSQL sink from the same run,
// read the same way. No k6 binary runs here (docs/k6.md).

import Database from 'better-sqlite3';
import pg from 'pg';
import mqtt, { type MqttClient } from 'mqtt';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AGGREGATOR_CONFIG } from '../../aggregator/service.ts';
import { DEFAULT_DATABASE_URL } from '../../aggregator/postgres.ts';
import { countPostgresDurable } from '../../aggregator/sink/postgres.ts';
import { countDurable } from '../../aggregator/sink/sqlite.ts';
import { EXIT } from '../../cli/exit.ts';
import { AggregatorProcess } from '../../engine/aggregator-process.ts';
import { EmbeddedBroker } from '../../engine/broker/embedded.ts';
import { eventIdFor } from '../../engine/load/identity.ts';
import { Schedule } from '../../engine/load/schedule.ts';
import { SCENARIOS } from '../../scenarios/index.ts';
import { loadK6Script, type K6ClientFactory } from '../../test-support/k6-script.ts';
import { runChaosbench } from '../../test-support/run-command.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { expectValidApartFromGeneratorLag } from '../../test-support/run-expectations.ts';

const dirs = tempDirs('audit');
/** dup-storm made small: 50 warm-up events, then 200 storm events, 30 % of them copied. */
const LOAD = ['--scenario', 'dup-storm', '--rate', '100', '--duration', '2s', '--set', 'phases[0].rate=50', '--set', 'phases[0].duration_s=1'];
const EXPECTED = 250;
const DATABASE_URL = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const SCHEMA = `audit_test_${process.pid}`;

afterAll(async () => {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  } finally {
    await client.end();
  }
});

/** xk6-mqtt's Client over mqtt.js: connect, publishAsync at QoS 1 (resolved on the PUBACK), end. */
const realClient: K6ClientFactory = (track) =>
  class Client {
    private readonly handlers: Record<string, (...args: unknown[]) => unknown> = {};
    private client: MqttClient | undefined;
    on(event: string, listener: (...args: unknown[]) => unknown) {
      this.handlers[event] = listener;
    }
    connect(url: string) {
      track(
        new Promise((resolve) => {
          const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5_000 });
          this.client = client;
          client.once('connect', () => resolve(this.handlers.connect?.()));
          client.once('error', (error) => resolve(this.handlers.error?.({ name: 'MQTTError', message: error.message, method: 'connect' })));
        }),
      );
    }
    async publishAsync(topic: string, body: string, options?: { qos?: 0 | 1 }) {
      await this.client!.publishAsync(topic, body, { qos: options?.qos ?? 1 });
    }
    end() {
      track(this.client!.endAsync());
    }
  };

describe('npm run audit over a sink the exported script filled through a real broker and the reference aggregator', () => {
  const dir = dirs();
  const db = join(dir, 'sink.db');
  const summary = join(dir, 'k6-summary.json');
  let copies = 0;
  let t0 = 0;

  beforeAll(async () => {
    const exported = await runChaosbench('k6:export', [...LOAD, '--out', join(dir, 'script.ts')], { timeout_ms: 60_000 });
    expect(exported.code).toBe(EXIT.ok);
    const broker = await EmbeddedBroker.start();
    const common = { ...DEFAULT_AGGREGATOR_CONFIG, broker_url: broker.url, topic: 'events/k6-test/#' };
    const aggregator = new AggregatorProcess({ ...common, client_id: `audit-test-${process.pid}`, sink: `sqlite:${db}`, sink_mode: 'append' });
    const postgres = new AggregatorProcess({ ...common, client_id: `audit-test-pg-${process.pid}`, sink: DATABASE_URL, sink_schema: SCHEMA, dedup: 'memory' });
    try {
      await aggregator.start();
      await postgres.start();
      const script = loadK6Script(readFileSync(join(dir, 'script.ts'), 'utf8'), realClient, { TOPIC_ROOT: 'events/k6-test', MQTT_URL: broker.url });
      const scenario = SCENARIOS['dup-storm']!;
      const schedule = new Schedule([{ ...scenario.phases[0]!, rate: 50, duration_s: 1 }, { ...scenario.phases[1]!, rate: 100, duration_s: 2 }], 0, scenario.load.publishers);
      expect(schedule.total).toBe(EXPECTED);
      // Each k6 scenario starts when k6 gets to it: the storm 7 ms after its nominal offset.
      t0 = Math.floor(Date.now());
      const starts = [t0, t0 + 1_007];
      // Each iteration starts when due, as k6's arrival-rate executors start them (never ahead of the schedule).
      for (const [i, name] of ['p0-warmup', 'p1-storm'].entries()) {
        const phase = schedule.phases[i]!;
        for (let k = 0; k < phase.count; k++) {
          const due = starts[i]! + (schedule.intendedAt(phase.first + k, i) - phase.start_us) / 1000;
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
          await script.iterate(name, k, starts[i]!);
        }
      }
      copies = script.metrics.duplicate_copies!.length;
      expect(copies).toBeGreaterThan(30);
      expect(script.metrics.publishes_unacked).toEqual([]);
      writeFileSync(summary, JSON.stringify({ metrics: { publishes_unacked: { type: 'counter', contains: 'default', values: { count: 0, rate: 0 } } } }));
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (countDurable(db) < EXPECTED || (await countPostgresDurable({ url: DATABASE_URL, schema: SCHEMA })) < EXPECTED)) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await aggregator.stop();
      await postgres.stop();
      await broker.stop();
    }
  }, 120_000);

  const auditJson = (out: string) => JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8'));

  it('passes with nothing lost: every event committed once (its copies absorbed), none unexpected; the storm started 7 ms late is found', async () => {
    const out = join(dir, 'clean');
    const outcome = await runChaosbench('audit', [...LOAD, '--sink', `sqlite:${db}`, '--k6-summary', summary, '--out', out], { timeout_ms: 60_000 });
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(EXIT.ok);
    expect(outcome.stdout).toMatch(/^PASS: dup-storm audit/m);
    const audit = auditJson(out);
    expect(audit.totals).toMatchObject({ expected: EXPECTED, rows: EXPECTED, unique_committed: EXPECTED, not_in_sink: 0, sink_duplicates: 0, unexpected: 0, dlq: 0 });
    expect(audit.k6.lost).toEqual({ low: 0, high: 0 });
    expect(audit.phases.map((p: { start_us: number; start_from: string; rows_agreeing: number }) => [p.start_us, p.start_from, p.rows_agreeing])).toEqual([
      [t0 * 1000, 'rows', 50],
      [(t0 + 1_007) * 1000, 'rows', 200],
    ]);
    expect(audit.latency.count).toBe(200); // the storm only: the warm-up is not measured
    // One host, one clock: nothing committed before it was due.
    expect(audit.clock).toEqual({ committed_before_intended: 0, max_ahead_ms: 0 });
    expect(audit.checks.map((c: { metric: string; outcome: string }) => `${c.metric}:${c.outcome}`)).toEqual(['lost:pass', 'lost_unacked:pass', 'never_sent:pass', 'sink_duplicates:pass', 'unexpected:pass']);
    expect(readFileSync(join(out, 'audit.md'), 'utf8')).toContain('share a clock');
  }, 60_000);

  it('reads a PostgreSQL sink (--sink postgres, --sink-schema) the same way', async () => {
    const out = join(dir, 'postgres');
    const outcome = await runChaosbench('audit', [...LOAD, '--sink', 'postgres', '--sink-schema', SCHEMA, '--k6-summary', summary, '--out', out], { timeout_ms: 60_000, env: { DATABASE_URL } });
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(EXIT.ok);
    expect(outcome.stdout).toContain(`schema ${SCHEMA}`);
    expect(auditJson(out).totals).toMatchObject({ expected: EXPECTED, rows: EXPECTED, unique_committed: EXPECTED, not_in_sink: 0, sink_duplicates: 0, unexpected: 0 });
  }, 60_000);

  it('with another seed than the export, finds every row unexpected and says which flags to give', async () => {
    const outcome = await runChaosbench('audit', [...LOAD, '--seed', '43', '--sink', `sqlite:${db}`, '--out', join(dir, 'seed')], { timeout_ms: 60_000 });
    expect(outcome.code).toBe(EXIT.check_failed);
    expect(outcome.stdout).toContain(`expected ${EXPECTED} · committed 0 · not in the sink ${EXPECTED} (0 dead-lettered) · sink duplicates 0 · unexpected ${EXPECTED}`);
    expect(outcome.stdout).toContain('finding: no row of the sink is an event of dup-storm with seed 43: give --scenario, --seed');
  }, 60_000);

  it('after 3 rows are deleted, one forged and one doubled, counts exactly those and exits 1; k6 counts split the missing into bounds', async () => {
    const sink = new Database(db);
    const storm = sink.prepare<[number], { row_id: number; source: string; seq: number; intended_us: number }>('SELECT row_id, source, seq, intended_us FROM events WHERE intended_us >= ? ORDER BY row_id').all((t0 + 1_007) * 1000);
    expect(storm.length).toBe(200);
    for (const row of storm.slice(10, 13)) sink.prepare('DELETE FROM events WHERE row_id = ?').run(row.row_id);
    const copyRow = (rowId: number, eventId?: string) => {
      sink.exec(`CREATE TEMP TABLE copied AS SELECT * FROM events WHERE row_id = ${rowId}; UPDATE copied SET row_id = NULL`);
      if (eventId) sink.prepare('UPDATE copied SET event_id = ?').run(eventId);
      sink.exec('INSERT INTO events SELECT * FROM copied; DROP TABLE copied');
    };
    copyRow(storm[20]!.row_id); // a second row of one event: a sink duplicate
    // A forged row: an existing event's source and seq with an id of another seed.
    copyRow(storm[30]!.row_id, eventIdFor(999, storm[30]!.source, storm[30]!.seq, storm[30]!.intended_us));
    sink.close();

    const out = join(dir, 'tampered');
    const outcome = await runChaosbench('audit', [...LOAD, '--sink', `sqlite:${db}`, '--k6-summary', summary, '--out', out], { timeout_ms: 60_000 });
    expect(outcome.code).toBe(EXIT.check_failed);
    expect(outcome.stdout).toMatch(/^FAIL: dup-storm audit: lost == 0 \(was 3\), sink_duplicates == 0 \(was 1\), unexpected == 0 \(was 1\)/m);
    const audit = auditJson(out);
    expect(audit.totals).toMatchObject({ expected: EXPECTED, rows: EXPECTED - 3 + 2, unique_committed: EXPECTED - 3, not_in_sink: 3, sink_duplicates: 1, unexpected: 1 });
    expect(audit.k6).toMatchObject({ never_sent: { low: 0, high: 0 }, lost_unacked: { low: 0, high: 0 }, lost: { low: 3, high: 3 } });
    expect(audit.phases[1]).toMatchObject({ expected: 200, committed: 197, missing: 3 });

    // k6 said 1 iteration was dropped and 1 publish unacknowledged: 1 never sent, at most 1 unacked, 1–2 lost.
    writeFileSync(summary, JSON.stringify({ metrics: { dropped_iterations: { values: { count: 1 } }, publishes_unacked: { values: { count: 1 } } } }));
    const split = join(dir, 'split');
    const bounded = await runChaosbench('audit', [...LOAD, '--sink', `sqlite:${db}`, '--k6-summary', summary, '--out', split], { timeout_ms: 60_000 });
    expect(bounded.code).toBe(EXIT.check_failed);
    expect(bounded.stdout).toContain('of the missing: never sent 1 (k6 dropped_iterations) · unacknowledged 0–1 (at most k6 publishes_unacked) · lost 1–2');
    expect(auditJson(split).checks.map((c: { metric: string; outcome: string }) => `${c.metric}:${c.outcome}`)).toEqual([
      'lost:fail',
      'lost_unacked:undetermined',
      'never_sent:fail',
      'sink_duplicates:fail',
      'unexpected:fail',
    ]);
  }, 120_000);
});

describe("npm run audit over a bench run's sink", () => {
  it("agrees with bench's own ledger: the same events committed and the same latency (bench publishes the script's events)", async () => {
    const dir = dirs();
    const bench = await runChaosbench('bench', [...LOAD, '--out', join(dir, 'run')], { timeout_ms: 120_000 });
    // A generator held off the CPU on a loaded machine makes the run invalid (exit 3) for its lag
    // alone; its events are still all published, which is what the audit is compared on.
    expect([EXIT.ok, EXIT.invalid_run], bench.stderr).toContain(bench.code);
    const result = JSON.parse(readFileSync(join(dir, 'run', 'result.json'), 'utf8'));
    expectValidApartFromGeneratorLag(result);
    const outcome = await runChaosbench('audit', [...LOAD, '--sink', `sqlite:${join(dir, 'run', 'sink.db')}`, '--out', join(dir, 'audit')], { timeout_ms: 60_000 });
    expect(outcome.code).toBe(EXIT.ok);
    const audit = JSON.parse(readFileSync(join(dir, 'audit', 'audit.json'), 'utf8'));
    expect(audit.totals).toMatchObject({ expected: result.totals.published, unique_committed: result.totals.unique_committed, sink_duplicates: 0, unexpected: 0 });
    const latency = (l: Record<string, number>) => [l.count, l.p50_ms, l.p99_ms, l.max_ms];
    expect(latency(audit.latency)).toEqual(latency(result.latency.end_to_end));
  }, 180_000);
});

describe('npm run audit refuses', () => {
  it('bad input with exit 2 naming the flag, a sink it cannot read with exit 3; never a stack trace', async () => {
    const noSink = await runChaosbench('audit', ['--scenario', 'dup-storm']);
    expect(noSink.code).toBe(EXIT.bad_input);
    expect(noSink.stderr).toContain('--sink: required');
    const secret = await runChaosbench('audit', ['--scenario', 'dup-storm', '--sink', 'postgres://u:hunter2@127.0.0.1/test']);
    expect(secret.code).toBe(EXIT.bad_input);
    expect(secret.stderr).toContain('--sink: the URL postgres://u:***@127.0.0.1/test carries a password');
    expect(secret.stderr + secret.stdout).not.toContain('hunter2');
    const missing = await runChaosbench('audit', ['--scenario', 'dup-storm', '--sink', `sqlite:${join(dirs(), 'none.db')}`]);
    expect(missing.code).toBe(EXIT.invalid_run);
    expect(missing.stderr).toMatch(/cannot read the sink: no SQLite file/);
    for (const outcome of [noSink, secret, missing]) expect(outcome.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
