// No password of the dedup store or the sink shows anywhere (issue 18), end to end: a private
// redis-server the test starts on a free port with a password (requirepass, given on its stdin,
// not its command line) holds the dedup claims, and the run's PostgreSQL sink is reached by a
// DATABASE_URL that carries a password too (the machine's PostgreSQL trusts 127.0.0.1 and ignores
// it; the Redis one cannot be ignored: without it every claim fails with NOAUTH). The bench runs as
// a user runs it, the password coming from where docs/own-broker.md says it may: a scenario file's
// aggregator.dedup, or REDIS_URL with the bare `--dedup redis`. Each run must PASS with its copies
// absorbed by that Redis (its command statistics count the claims), and neither password may show
// in any output file, on stdout or stderr, or in the command line of any process on the machine
// while the run goes on; the same for a comparison of such runs. The same password in a flag is
// refused with exit 2 naming the flag.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickFreePort } from './broker/mosquitto.ts';
import { killed, startRedis } from '../test-support/redis-server.ts';
import { startPostgres, type PrivatePostgres } from '../test-support/postgres-server.ts';
import { filesUnder, KILL_AFTER_MS, watchedBench, watchedCommand } from '../test-support/watched-bench.ts';
import { DEFAULT_DATABASE_URL } from '../aggregator/postgres.ts';
import { SCENARIOS } from '../scenarios/index.ts';
import { EXIT } from '../cli/exit.ts';
import type { RunResult } from './result.ts';

const REDIS_SECRET = `redis-pw-${process.pid}-never-shown`;
const PG_SECRET = `pg-pw-${process.pid}-never-shown`;
const PRIVATE_PG_SECRET = `private-pg-pw-${process.pid}-never-shown`;
const SECRETS = [REDIS_SECRET, PG_SECRET, PRIVATE_PG_SECRET];

let port: number;
let redis: ChildProcess;
let postgres: PrivatePostgres;
let outRoot: string;

/** The sink's server as DATABASE_URL names it, with a password the (trusting) local server ignores. */
function databaseUrlWithPassword(): string {
  const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  url.password = PG_SECRET;
  return url.toString();
}

const redisUrl = () => `redis://:${REDIS_SECRET}@127.0.0.1:${port}`;

/** How many SET commands the private Redis ran (the claim script's SET NX): the claims reached it. */
async function claimsSeen(): Promise<number> {
  const client = new Redis({ port, host: '127.0.0.1', password: REDIS_SECRET, lazyConnect: true, maxRetriesPerRequest: 0 });
  await client.connect();
  try {
    const stats = await client.info('commandstats');
    return Number(/cmdstat_set:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  } finally {
    client.disconnect();
  }
}

/** A short duplicate storm: 1 s of warm-up at 50 ev/s, 3 s at 100 ev/s with 30% copies. */
function shortStorm(dedup: string) {
  const scenario = structuredClone(SCENARIOS['dup-storm']!);
  scenario.name = 'store-secrets';
  scenario.phases[0] = { ...scenario.phases[0]!, duration_s: 1, rate: 50 };
  scenario.phases[1] = { ...scenario.phases[1]!, duration_s: 3, rate: 100 };
  scenario.drain_timeout_s = 15;
  scenario.aggregator = { ...scenario.aggregator, dedup };
  return scenario;
}

beforeAll(async () => {
  port = await pickFreePort();
  redis = await startRedis(port, { password: REDIS_SECRET });
  postgres = await startPostgres(await pickFreePort(), PRIVATE_PG_SECRET);
  outRoot = mkdtempSync(join(tmpdir(), 'chaosbench-store-secrets-'));
}, 60_000);

afterAll(async () => {
  if (redis) await killed(redis);
  await postgres?.stop();
  if (outRoot) rmSync(outRoot, { recursive: true, force: true });
});

describe('a dedup store and a sink whose URLs carry passwords', () => {
  it.each([
    ['the scenario file (aggregator.dedup)', 'file'],
    ['REDIS_URL with --dedup redis', 'env'],
  ])('from %s: the run passes on the private Redis, and neither password shows anywhere', async (_name, from) => {
    const out = join(outRoot, from);
    const before = await claimsSeen();
    const file = join(outRoot, `${from}.json`);
    writeFileSync(file, JSON.stringify(shortStorm(from === 'file' ? redisUrl() : 'memory')));
    const args = ['--scenario', file, '--sink', 'postgres', ...(from === 'env' ? ['--dedup', 'redis'] : []), '--out', out];
    const env = { DATABASE_URL: databaseUrlWithPassword(), ...(from === 'env' ? { REDIS_URL: redisUrl() } : {}) };
    const outcome = await watchedBench(args, env, SECRETS);
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    expect(outcome.stdout).toMatch(/^PASS/);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as RunResult;
    expect(result.totals.lost).toBe(0);
    expect(result.totals.sink_duplicates).toBe(0);
    expect(result.totals.copies_absorbed).toBeGreaterThan(0);
    // Every event was claimed in the private Redis, which takes no command without its password.
    expect((await claimsSeen()) - before).toBeGreaterThanOrEqual(result.totals.unique_committed);
    // What result.json keeps instead: the store's URL with *** (a scenario file's), or the bare name.
    expect(result.scenario.aggregator.dedup).toBe(from === 'file' ? `redis://:***@127.0.0.1:${port}` : 'redis');
    const files = filesUnder(out);
    expect(files.map(([path]) => path)).toEqual(expect.arrayContaining([join(out, 'result.json'), join(out, 'report.md'), join(out, 'report.html')]));
    for (const [path, text] of files) for (const secret of SECRETS) expect(text.includes(secret), path).toBe(false);
    for (const secret of SECRETS) expect(outcome.stdout.includes(secret) || outcome.stderr.includes(secret), secret).toBe(false);
    // The process table, read several times while the run went on.
    expect(outcome.scans).toBeGreaterThan(8);
    expect(outcome.saw_aggregator).toBe(true);
    expect(outcome.leaks).toEqual([]);
  }, KILL_AFTER_MS);

  it.each([
    ['PGPASSWORD', 'pgpassword'],
    ['DATABASE_URL', 'url'],
  ])('a PostgreSQL sink and dedup store that require a password, given in %s: the run passes, the password shows nowhere', async (_name, from) => {
    const out = join(outRoot, `private-pg-${from}`);
    const file = join(outRoot, `private-pg-${from}.json`);
    writeFileSync(file, JSON.stringify(shortStorm('postgres')));
    const withPassword = new URL(postgres.url);
    withPassword.password = PRIVATE_PG_SECRET;
    // This server refuses a connection without the password (scram-sha-256): a pass means it got it.
    const env: Record<string, string> = from === 'pgpassword' ? { DATABASE_URL: postgres.url, PGPASSWORD: PRIVATE_PG_SECRET } : { DATABASE_URL: withPassword.toString() };
    const outcome = await watchedBench(['--scenario', file, '--sink', 'postgres', '--out', out], env, SECRETS);
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as RunResult;
    expect(result.totals.lost).toBe(0);
    expect(result.totals.unique_committed).toBeGreaterThan(100);
    expect(result.totals.copies_absorbed).toBeGreaterThan(0);
    expect(result.sink).toMatchObject({ kind: 'postgres', url: from === 'pgpassword' ? postgres.url : withPassword.toString().replace(PRIVATE_PG_SECRET, '***') });
    for (const [path, text] of filesUnder(out)) for (const secret of SECRETS) expect(text.includes(secret), path).toBe(false);
    for (const secret of SECRETS) expect(outcome.stdout.includes(secret) || outcome.stderr.includes(secret), secret).toBe(false);
    expect(outcome.saw_aggregator).toBe(true);
    expect(outcome.leaks).toEqual([]);
  }, KILL_AFTER_MS);

  it('compare over a scenario file with the password: compare.json, compare.md, every run directory and the progress lines show none', async () => {
    const out = join(outRoot, 'compare');
    const file = join(outRoot, 'compare.json');
    writeFileSync(file, JSON.stringify(shortStorm(redisUrl())));
    const outcome = await watchedCommand('compare', ['--scenario', file, '--vary', 'aggregator.batch_size=100,200', '--replicates', '1', '--sink', 'postgres', '--out', out], { DATABASE_URL: databaseUrlWithPassword() }, SECRETS);
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    const files = filesUnder(out);
    expect(files.map(([path]) => path)).toEqual(expect.arrayContaining([join(out, 'compare.json'), join(out, 'compare.md'), join(out, 'compare.html'), join(out, 'batch_size_100-r1', 'result.json'), join(out, 'batch_size_100-r1', 'report.html')]));
    for (const [path, text] of files) for (const secret of SECRETS) expect(text.includes(secret), path).toBe(false);
    for (const secret of SECRETS) expect(outcome.stdout.includes(secret) || outcome.stderr.includes(secret), secret).toBe(false);
    expect(outcome.saw_aggregator).toBe(true);
    expect(outcome.leaks).toEqual([]);
  }, KILL_AFTER_MS);

  it('the same passwords in --dedup and --sink: exit 2 at once, naming both flags, neither password echoed', async () => {
    const outcome = await watchedBench(
      ['--scenario', 'dup-storm', '--dedup', redisUrl(), '--sink', databaseUrlWithPassword(), '--out', join(outRoot, 'refused')],
      {},
      [],
    );
    expect(outcome.code, outcome.stderr).toBe(EXIT.bad_input);
    expect(outcome.stderr).toContain(`--dedup: the URL redis://:***@127.0.0.1:${port} carries a password, which would be readable in the process list (ps); put the URL in REDIS_URL and give the bare name (redis)`);
    expect(outcome.stderr).toMatch(/--sink: the URL postgres:\/\/[^ ]*:\*\*\*@[^ ]+ carries a password, .*PGPASSWORD/);
    for (const secret of SECRETS) expect(outcome.stderr.includes(secret) || outcome.stdout.includes(secret), secret).toBe(false);
  }, KILL_AFTER_MS);
});
