// The aggregator's --sink flag: sqlite:PATH (the default) or a PostgreSQL server, and the checks that
// refuse combinations the service could not start with; its broker flags (mqtts, TLS files, MQTT 5,
// the password from the environment only).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { makeBrokerSecrets } from '../test-support/broker-secrets.ts';
import { TYPESCRIPT_EXEC_ARGV } from '../engine/typescript-child.ts';
import { parseAggregatorArgs } from './main.ts';
import { DEFAULT_DATABASE_URL } from './postgres.ts';
import { UsageError } from '../cli/exit.ts';
import { DEFAULT_AGGREGATOR_CONFIG, parseSinkSpec, sinkPath } from './service.ts';

describe('parseSinkSpec', () => {
  it('reads sqlite:PATH, postgres and postgres URLs', () => {
    expect(parseSinkSpec('sqlite:./data/events.db')).toEqual({ kind: 'sqlite', path: './data/events.db' });
    expect(parseSinkSpec('postgres')).toEqual({ kind: 'postgres' });
    expect(parseSinkSpec('postgres://postgres@127.0.0.1:5432/test')).toEqual({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test' });
    expect(parseSinkSpec('postgresql://u@db/x')).toEqual({ kind: 'postgres', url: 'postgresql://u@db/x' });
  });

  it('refuses anything else, naming the valid forms', () => {
    expect(() => parseSinkSpec('sqlite:')).toThrow(/empty path/);
    expect(() => parseSinkSpec('postgres://')).toThrow(/names no host|not a valid URL/);
    expect(() => parseSinkSpec('postgres:foo')).toThrow(/sink must be sqlite:PATH, got 'postgres:foo' \(or postgres, postgres:\/\/USER@HOST:PORT\/DB\)/);
    expect(() => parseSinkSpec('mysql://x')).toThrow(/sink must be sqlite:PATH, got 'mysql:\/\/x'/);
  });

  it('sinkPath answers only for a SQLite sink', () => {
    expect(sinkPath('sqlite:a.db')).toBe('a.db');
    expect(() => sinkPath('postgres')).toThrow(/sqlite:PATH/);
  });
});

describe('--sink', () => {
  it('keeps sqlite as the default', async () => {
    const config = await parseAggregatorArgs([]);
    expect(config.sink).toBe(DEFAULT_AGGREGATOR_CONFIG.sink);
    expect(parseSinkSpec(config.sink).kind).toBe('sqlite');
  });

  it('takes a postgres sink with a dedup store that does not need the SQLite sink database', async () => {
    const config = await parseAggregatorArgs(['--sink', 'postgres://postgres@127.0.0.1:5432/test', '--dedup', 'postgres']);
    expect(config.sink).toBe('postgres://postgres@127.0.0.1:5432/test');
    for (const dedup of ['memory', 'none', 'sqlite:/tmp/dedup.db', 'redis']) {
      await expect(parseAggregatorArgs(['--sink', 'postgres', '--dedup', dedup])).resolves.toMatchObject({ sink: 'postgres', dedup });
    }
  });

  it("refuses dedup 'sqlite' (the sink's SQLite database) with a postgres sink, and a bad sink", async () => {
    await expect(parseAggregatorArgs(['--sink', 'postgres'])).rejects.toThrow(UsageError);
    await expect(parseAggregatorArgs(['--sink', 'postgres'])).rejects.toThrow(/--dedup sqlite .*--sink postgres .*--dedup postgres/);
    await expect(parseAggregatorArgs(['--sink', 'kafka:x'])).rejects.toThrow(/sink must be sqlite:PATH, got 'kafka:x'/);
  });
});

describe('the broker flags', () => {
  const secrets = makeBrokerSecrets();
  afterAll(() => secrets.remove());
  afterEach(() => vi.unstubAllEnvs());

  it('mqtts with a CA, MQTT 5, user from the URL and the password from CHAOSBENCH_BROKER_PASSWORD', async () => {
    vi.stubEnv('CHAOSBENCH_BROKER_PASSWORD', 'hunter2');
    const config = await parseAggregatorArgs(['--broker', 'mqtts://agg@broker.example:8883', '--broker-ca', secrets.ca, '--mqtt-version', '5']);
    expect(config.broker_url).toBe('mqtts://broker.example:8883');
    expect(config.broker_access).toMatchObject({ mqtt_version: 5, username: 'agg', password: 'hunter2' });
    expect(config.broker_access?.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('refuses a password in --broker, an unknown version and TLS files with plain mqtt://, naming each flag and never the password', async () => {
    const refusal = await parseAggregatorArgs(['--broker', 'mqtt://agg:hunter2@broker.example:1883', '--mqtt-version', '6', '--broker-ca', secrets.ca]).then(
      () => 'accepted',
      (error: Error) => `${error.name}: ${error.message}`,
    );
    expect(refusal).toMatch(/^UsageError: /);
    expect(refusal).toMatch(/--broker: the URL mqtt:\/\/agg:\*\*\*@broker.example:1883 carries a password/);
    expect(refusal).toMatch(/--mqtt-version: must be 3.1.1 \(or 4\) or 5, got '6'/);
    expect(refusal).toMatch(/--broker-ca: TLS files need an mqtts:\/\/ broker/);
    expect(refusal).not.toContain('hunter2');
  });
});

describe('the standalone command', () => {
  it('refuses a password in --sink or --dedup (argv is public), naming each flag and never the password', async () => {
    const refusal = await parseAggregatorArgs(['--broker', 'none', '--http-port', '0', '--sink', 'postgres://agg:hunter2@db.example/bench', '--dedup', 'redis://:hunter2@cache.example:6379']).then(
      () => 'accepted',
      (error: Error) => `${error.name}: ${error.message}`,
    );
    expect(refusal).toMatch(/^UsageError: /);
    expect(refusal).toContain('--dedup: the URL redis://:***@cache.example:6379 carries a password, which would be readable in the process list (ps); put the URL in REDIS_URL');
    expect(refusal).toContain('--sink: the URL postgres://agg:***@db.example/bench carries a password, which would be readable in the process list (ps); give it in PGPASSWORD');
    expect(refusal).not.toContain('hunter2');
  });

  it("refuses REDIS_URL with a database index that is not a number for a bare --dedup redis, naming the variable and the path (ioredis read /1e999 as database 1)", async () => {
    const saved = process.env.REDIS_URL;
    process.env.REDIS_URL = 'redis://:hunter2@127.0.0.1:6379/1e999';
    try {
      const refusal = await parseAggregatorArgs(['--broker', 'none', '--http-port', '0', '--dedup', 'redis', '--sink', 'sqlite:/tmp/never-opened.db']).then(
        () => 'accepted',
        (error: Error) => `${error.name}: ${error.message}`,
      );
      expect(refusal).toBe("UsageError: REDIS_URL (read for --dedup redis): the path of a Redis URL is its database index, a number like /5, got '/1e999'");
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
    }
  });

  it('takes a sink and dedup password from DATABASE_URL and does not print it in its start line', async () => {
    const secret = `pw-${process.pid}-not-for-logs`;
    const schema = `agg_main_test_${process.pid}`;
    const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
    url.password = secret; // the local server trusts its clients and ignores it
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(process.execPath, [...TYPESCRIPT_EXEC_ARGV, main, '--broker', 'none', '--http-port', '0', '--sink', 'postgres', '--dedup', 'postgres', '--sink-schema', schema, '--dedup-schema', schema], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DATABASE_URL: url.toString() },
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line within 20 s:\n${stderr}`)), 20_000);
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
          if (stderr.includes('listening for POST')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', () => reject(new Error(`exited before its start line:\n${stderr}`)));
      });
      child.kill('SIGTERM');
      await exited;
      expect(stderr).toContain('sink postgres');
      expect(stderr).not.toContain(secret);
    } finally {
      child.kill('SIGKILL');
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    }
  }, 30_000);
});
