// The aggregator's table of settings (config.ts) as its users see it: the standalone command's
// defaults are the table's, and the one check of a configuration names every bad setting by its
// flag, types included (over IPC nothing has typed the object).

import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli/exit.ts';
import { checkAggregatorConfig, DEFAULT_AGGREGATOR_CONFIG, SCENARIO_SETTING_NAMES, SETTING_FLAGS } from './config.ts';
import { parseAggregatorArgs, validateAggregatorConfig } from './main.ts';

const problemsOf = (changes: Record<string, unknown>) => {
  const checked = checkAggregatorConfig({ ...DEFAULT_AGGREGATOR_CONFIG, ...changes });
  return checked.ok ? [] : checked.problems;
};

describe('the aggregator configuration', () => {
  it('the standalone command with no flags is the default configuration', async () => {
    expect(await parseAggregatorArgs([])).toEqual(DEFAULT_AGGREGATOR_CONFIG);
    // Every flag sets its setting: the table's flags are the command's.
    expect(SETTING_FLAGS.map((f) => f.flag)).toContain('sink-delay-ms');
    expect((await parseAggregatorArgs(['--sink-delay-ms', '7', '--qos', '0'])).sink_delay_ms).toBe(7);
  });

  it('the default configuration passes its own check, with the dedup store and sink parsed', () => {
    expect(checkAggregatorConfig(DEFAULT_AGGREGATOR_CONFIG)).toEqual({
      ok: true,
      config: DEFAULT_AGGREGATOR_CONFIG,
      dedup: { kind: 'sqlite' },
      sink: { kind: 'sqlite', path: './data/events.db' },
    });
  });

  it('names every bad setting by its flag, at once, in the order --help lists them', () => {
    expect(problemsOf({ batch_size: 0, qos: 2, topic: '', sink_mode: 'upsert', seed: 1.5, http_port: 70_000, sink_delay_ms: Number.POSITIVE_INFINITY })).toEqual([
      'http-port must be an integer in [0, 65535] (0 = a free port), got 70000',
      'topic must be a non-empty string, got ""',
      'qos must be 0 or 1, got 2',
      "sink-mode must be 'idempotent' or 'append', got \"upsert\"",
      'sink-delay-ms must be a finite number, got Infinity',
      'batch-size must be a positive integer, got 0',
      'seed must be an integer, got 1.5',
    ]);
  });

  it('refuses a mistyped value with a message naming it, not a crash (the IPC configuration is untyped JSON)', () => {
    const bad = { ...DEFAULT_AGGREGATOR_CONFIG, dedup_namespace: 5, dedup_schema: 'Not A Schema', batch_wait_ms: '5', retry: { base_ms: -1, cap_ms: 10, max_attempts: 0 } };
    expect(() => validateAggregatorConfig(bad)).toThrow(UsageError);
    expect(() => validateAggregatorConfig(bad)).toThrow(
      [
        'dedup-namespace must be a non-empty string, got 5',
        "dedup-schema: schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63), got 'Not A Schema'",
        'batch-wait-ms must be a number, got "5"',
        'retry.base_ms must be >= 0, got -1',
        'retry.max_attempts must be a positive integer, got 0',
      ].join('\n'),
    );
  });

  it('refuses a planted break (mutation) unless told mutations are allowed, and never from a flag or a scenario', async () => {
    expect(problemsOf({ mutation: 'ack-on-receipt' })).toEqual(['mutation is a planted break for tests only: refused unless CHAOSBENCH_ALLOW_MUTATIONS=1']);
    expect(checkAggregatorConfig({ ...DEFAULT_AGGREGATOR_CONFIG, mutation: 'ack-on-receipt' }, { allow_mutations: true }).ok).toBe(true);
    expect(checkAggregatorConfig({ ...DEFAULT_AGGREGATOR_CONFIG, mutation: 'nope' }, { allow_mutations: true })).toMatchObject({ ok: false, problems: [expect.stringContaining('mutation must be')] });
    expect(SETTING_FLAGS.map((f) => f.name)).not.toContain('mutation');
    expect(SCENARIO_SETTING_NAMES).not.toContain('mutation');
    await expect(parseAggregatorArgs(['--mutation', 'ack-on-receipt'])).rejects.toThrow();
  });

  it('checks the relations between settings: HTTP-only needs a port, bare takes none, the sqlite dedup store needs a SQLite sink', () => {
    expect(problemsOf({ broker_url: 'none' })).toEqual(["broker 'none' leaves nothing to take events from: give --http-port too"]);
    expect(problemsOf({ http_port: 0, bare: true })).toEqual(['http-port cannot be combined with bare (the bare baseline acks MQTT deliveries only)']);
    expect(problemsOf({ sink: 'postgres' })).toEqual([expect.stringMatching(/^--dedup sqlite .*--sink postgres/)]);
    expect(checkAggregatorConfig(null)).toEqual({ ok: false, problems: ["the aggregator's configuration must be an object, got null"] });
  });
});
