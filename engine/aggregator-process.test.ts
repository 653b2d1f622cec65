// The aggregator child's configuration travels as one object over IPC: nothing of it in the
// child's argv (public in /proc/<pid>/cmdline), and a bad one is refused by the child's one
// validation (validateAggregatorConfig) with exit 2 naming the field.

import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_URL } from '../aggregator/postgres.ts';
import { DEFAULT_AGGREGATOR_CONFIG, NO_BROKER, type AggregatorConfig } from '../aggregator/service.ts';
import { AggregatorProcess } from './aggregator-process.ts';

const SECRET = `pw-${process.pid}-not-for-argv`;
const schema = `agg_process_test_${process.pid}`;
// The local PostgreSQL trusts its clients, so it ignores the password: the aggregator still connects.
const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
url.password = SECRET;

/** An HTTP-only aggregator (no broker needed) on a PostgreSQL sink and dedup whose URL has a password. */
const config: AggregatorConfig = {
  ...DEFAULT_AGGREGATOR_CONFIG,
  broker_url: NO_BROKER,
  http_port: 0,
  client_id: 'aggregator-process-test',
  sink: url.toString(),
  sink_schema: schema,
  dedup: url.toString(),
  dedup_schema: schema,
};

afterAll(async () => {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

describe('AggregatorProcess', () => {
  it('gives the child its configuration over IPC: a database password never appears in its argv', async () => {
    const agg = new AggregatorProcess(config);
    try {
      await agg.start();
      expect(agg.http_port).toBeGreaterThan(0);
      const cmdline = readFileSync(`/proc/${agg.pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline.join(' ')).toContain('aggregator/main.ts');
      expect(cmdline.join(' ')).not.toContain(SECRET);
      expect(cmdline.some((arg) => arg.startsWith('--sink') || arg.startsWith('--dedup'))).toBe(false);
    } finally {
      await agg.stop();
    }
    expect(agg.stderr).not.toContain(SECRET);
  }, 30_000);

  it('a bad configuration is refused by the child with exit 2, naming every bad field', async () => {
    const agg = new AggregatorProcess({ ...config, batch_size: 0, qos: 2 as 0 | 1, topic: '' });
    const refusal = await agg.start().then(
      () => undefined,
      (error: Error) => error.message,
    );
    await agg.stop();
    expect(refusal).toMatch(/exited with code 2 before it was ready/);
    expect(refusal).toContain('batch-size must be a positive integer, got 0');
    expect(refusal).toContain('topic must be a non-empty string');
  }, 30_000);
});
