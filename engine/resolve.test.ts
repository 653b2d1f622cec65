// resolveRun as the commands call it, with typed requests (no command line): what a run becomes, what
// it records for its replay line, and every problem at once, each naming its flag or field. The
// command-line side of the same messages is in commands/bench/bench.test.ts and cli/flags.test.ts.

import { describe, expect, it } from 'vitest';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import { resolveRun, type RunRequest } from './resolve.ts';

const request = (changes: Partial<RunRequest> = {}): RunRequest => ({ scenario: 'dup-storm', flags: {}, changes: [], broker: 'embedded', aggregator: 'reference', ...changes });

describe('resolveRun', () => {
  it('applies the named flags, then the changes in order, and records both for the replay line', () => {
    const given = request({ flags: { rate: '700', 'batch-size': 20 }, changes: [{ path: 'aggregator.batch_size', value: 5 }, { path: 'phases[0].rate', value: 300, flag: 'vary' }], sink: 'postgres://bench@db.example:5432/bench', aggregator: 'none' });
    const copy = structuredClone(given);
    const resolution = resolveRun(given);
    expect(resolution.ok).toBe(true);
    const run = resolution.ok ? resolution.run : undefined;
    expect(run!.scenario.phases.map((p) => p.rate)).toEqual([300, 700]);
    expect(run!.scenario.aggregator.batch_size).toBe(5); // the change after the flag wins
    expect(run!.overrides).toEqual({ rate: '700', 'batch-size': 20, aggregator: 'none', sink: 'postgres://bench@db.example:5432/bench', set: ['aggregator.batch_size=5', 'phases[0].rate=300'] });
    expect([run!.broker, run!.sink, run!.aggregator, run!.shard]).toEqual(['embedded', 'postgres://bench@db.example:5432/bench', 'none', undefined]);
    expect(given).toEqual(copy); // the request is left alone, and so is the shipped scenario
    expect(dupStorm.aggregator.batch_size).not.toBe(5);
  });

  it('refuses a password in any command-line value (--dedup, --sink, --set, --vary, --target-command), naming the flag and where it goes instead, never echoing it', () => {
    const secret = 'hunter2-not-in-argv';
    const resolution = resolveRun(
      request({
        flags: { dedup: `redis://:${secret}@127.0.0.1:6379` },
        sink: `postgres://bench:${secret}@db.example:5432/bench`,
        changes: [
          { path: 'aggregator.dedup', value: `postgresql://bench:${secret}@db.example/bench` },
          { path: 'aggregator.dedup', value: `rediss://u:${secret}@cache.example:6380`, flag: 'vary' },
        ],
        target: { command: `node consumer.js --db postgres://bench:${secret}@db.example/bench` },
      }),
    );
    expect(resolution.ok).toBe(false);
    const problems = resolution.ok ? [] : resolution.problems;
    expect(problems).toEqual([
      "--dedup: the URL redis://:***@127.0.0.1:6379 carries a password, which would be readable in the process list (ps); put the URL in REDIS_URL and give the bare name (redis)",
      '--sink: the URL postgres://bench:***@db.example:5432/bench carries a password, which would be readable in the process list (ps); give it in PGPASSWORD (the URL without it), or put the URL in DATABASE_URL and give the bare name (postgres)',
      expect.stringMatching(/^--set: the URL postgresql:\/\/bench:\*\*\*@db\.example\/bench carries a password.*PGPASSWORD/),
      expect.stringMatching(/^--vary: the URL rediss:\/\/u:\*\*\*@cache\.example:6380 carries a password.*REDIS_URL/),
      expect.stringMatching(/^--target-command: the URL postgres:\/\/bench:\*\*\*@db\.example\/bench carries a password/),
    ]);
    expect(problems.join('\n')).not.toContain(secret);
  });

  it('a problem that quotes a value shows its password as ***', () => {
    // A URL that does not parse as a sink (no host) is named with its text: the password is still hidden.
    const resolution = resolveRun(request({ sink: 'postgres://bench:hunter2@/bench' }));
    expect(resolution.ok).toBe(false);
    const problems = resolution.ok ? '' : resolution.problems.join('\n');
    expect(problems).toContain('--sink');
    expect(problems).not.toContain('hunter2');
  });

  it('defaults the sink to sqlite and records nothing that was not changed', () => {
    const resolution = resolveRun(request());
    expect(resolution).toMatchObject({ ok: true, run: { sink: 'sqlite', overrides: {} } });
    expect(resolution.ok && resolution.run.scenario).toEqual(dupStorm);
  });

  it('names every problem at once: a change by its own flag, a named flag beside its field', () => {
    const resolution = resolveRun(request({ flags: { 'sink-delay-ms': -1 }, changes: [{ path: 'phases[5].rate', value: 1, flag: 'vary' }], broker: 'http://x', shard: '1/8' }));
    expect(resolution.ok).toBe(false);
    expect(!resolution.ok && resolution.problems).toEqual([
      expect.stringMatching(/^--broker: invalid broker spec "http:\/\/x"/),
      '--vary: phases[5]: index out of range (the list has 2 items)',
      "scenario 'dup-storm' is invalid after overrides:\n  --sink-delay-ms: aggregator.sink_delay_ms must be >= 0, got -1",
    ]);
  });

  it('without a scenario still checks the named flags, in a stand-in', () => {
    const resolution = resolveRun(request({ scenario: undefined, flags: { 'batch-size': 0, duration: 'x' } }));
    expect(!resolution.ok && resolution.problems).toEqual([
      expect.stringMatching(/^--scenario is required \(one of: dup-storm, /),
      expect.stringMatching(/^--duration must look like 30s/),
      '--batch-size: aggregator.batch_size must be a positive integer, got 0',
    ]);
  });

  it('--metrics-port and --metrics-linger: off by default, a linger of 5 s with a port, each bad value named by its flag', () => {
    const off = resolveRun(request());
    expect(off.ok && off.run.prometheus).toBeUndefined();
    const on = resolveRun(request({ metrics_port: 0 }));
    expect(on.ok && on.run.prometheus).toEqual({ port: 0, linger_s: 5 });
    const bad = resolveRun(request({ metrics_port: 70_000, metrics_linger_s: -1 }));
    expect(bad.ok ? [] : bad.problems).toEqual([
      '--metrics-port must be an integer in [0, 65535] (0 = a free port), got 70000',
      '--metrics-linger must be a number of seconds >= 0, got -1',
    ]);
    const alone = resolveRun(request({ metrics_linger_s: 2 }));
    expect(alone.ok ? [] : alone.problems).toEqual(['--metrics-linger: needs --metrics-port']);
  });

  it("REDIS_URL whose database index is not a number (/abc, /-1, /1e999, /5abc, ?db=x) is refused when the run reads it, naming the variable and the bad part; ioredis read them as databases 0, NaN, 1, 5", () => {
    const withRedisUrl = (url: string, changes: Partial<RunRequest>) => resolveRun(request({ env: { REDIS_URL: url }, ...changes }));
    const broker = { scenario: 'broker-kill-redis' };
    for (const path of ['abc', '-1', '1e999', '5abc']) {
      const resolution = withRedisUrl(`redis://:hunter2@127.0.0.1:6379/${path}`, broker);
      expect(resolution.ok ? [] : resolution.problems).toEqual([`REDIS_URL (read for broker.persistence redis): the path of a Redis URL is its database index, a number like /5, got '/${path}'`]);
    }
    const both = withRedisUrl('redis://127.0.0.1:6379?db=x', { ...broker, flags: { dedup: 'redis' } });
    expect(both.ok ? [] : both.problems).toEqual(["REDIS_URL (read for broker.persistence redis and --dedup redis): the db parameter of a Redis URL is its database index, a number like 5, got 'x'"]);
    const dedup = withRedisUrl('rediss://cache.example:6380/abc', { flags: { dedup: 'redis' } });
    expect(dedup.ok ? [] : dedup.problems).toEqual(["REDIS_URL (read for --dedup redis): the path of a Redis URL is its database index, a number like /5, got '/abc'"]);
    // A number is the server's to accept or refuse (exit 3 once it answers), and a run that does not read REDIS_URL is not refused for it.
    expect(withRedisUrl('redis://127.0.0.1:6379/16', broker).ok).toBe(true);
    expect(withRedisUrl('redis://127.0.0.1:6379/abc', {}).ok).toBe(true);
    expect(withRedisUrl('redis://127.0.0.1:6379/abc', { flags: { dedup: 'redis://127.0.0.1:6379/5' } }).ok).toBe(true);
    expect(withRedisUrl('redis://127.0.0.1:6379/abc', { ...broker, broker: 'mqtt://127.0.0.1:1883', changes: [{ path: 'phases', value: [{ name: 'steady', duration_s: 1, rate: 10, faults: [] }] }] }).ok).toBe(true);
  });

  it('broker.max_publish_bytes is a setting of the embedded broker: refused with an external one, naming the field', () => {
    const limited = { changes: [{ path: 'broker', value: { max_publish_bytes: 1_048_576 } }] };
    expect(resolveRun(request(limited)).ok).toBe(true);
    const external = resolveRun(request({ ...limited, broker: 'mqtt://127.0.0.1:1883' }));
    expect(external.ok ? [] : external.problems).toEqual(["broker.max_publish_bytes: a setting of the embedded broker (mqtt://127.0.0.1:1883 has its own configuration, e.g. Mosquitto's max_packet_size)"]);
  });
});
