// Your own consumer, end to end (docs/bring-your-own-consumer.md): the example targets started from
// their own target files on the embedded broker, judged by the ledger alone. The naive consumer
// (mqtt.js defaults, an INSERT in the message handler) lets duplicates into its append-only table
// under dup-storm and loses what it had received but not yet written when consumer-crash SIGKILLs
// it; the reference aggregator reached through the same mechanism passes both. Small numbers: a few
// seconds at a few hundred events per second.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_URL } from '../../aggregator/postgres.ts';
import { withPostgresClient } from '../../aggregator/sink/test-postgres.ts';
import { startMosquitto } from '../broker/mosquitto.ts';
import { runScenario } from '../run.ts';
import { consumerCrash } from '../../scenarios/shipped/consumer-crash.ts';
import { dupStorm } from '../../scenarios/shipped/dup-storm.ts';
import { loadScenarioFile } from '../../scenarios/load.ts';
import type { Scenario, ScenarioTarget } from '../../scenarios/schema.ts';
import { validateScenario } from '../../scenarios/validate.ts';
import { renderSummary } from '../../reports/markdown.ts';
import { expectEveryEventOnce, expectValidApartFromGeneratorLag } from '../../test-support/run-expectations.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function outDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-target-'));
  dirs.push(dir);
  return dir;
}

/** An example's own target file, as `bench --target` loads it. */
function exampleTarget(name: 'naive-consumer' | 'reference-consumer', change: (t: ScenarioTarget) => void = () => {}): ScenarioTarget {
  const target = loadScenarioFile(join('examples', name, 'target.yaml'), 'target file') as ScenarioTarget;
  change(target);
  return target;
}

/** A shipped scenario with small numbers and the target; validated as the bench validates it. */
function withTarget(base: Scenario, target: ScenarioTarget, change: (s: Scenario) => void): Scenario {
  const scenario: Scenario = { ...structuredClone(base), target };
  change(scenario);
  const validation = validateScenario(scenario);
  expect(validation.ok ? [] : validation.errors).toEqual([]);
  return scenario;
}

/** dup-storm: 0.5 s warm-up at 200 ev/s, 3 s storm at 300 ev/s with its 30% republished ids. */
const smallDupStorm = (target: ScenarioTarget) =>
  withTarget(dupStorm, target, (s) => {
    s.phases[0]!.duration_s = 0.5;
    s.phases[0]!.rate = 200;
    s.phases[1]!.duration_s = 3;
    s.phases[1]!.rate = 300;
  });

/** consumer-crash: 2 s before (a 1 s phase missed 95% of its rate under load), one SIGKILL 1 s into a 3 s phase (0.5 s down), 2 s to recover, 300 ev/s; a 10 s drain. */
const smallConsumerCrash = (target: ScenarioTarget) =>
  withTarget(consumerCrash, target, (s) => {
    s.phases = [
      { name: 'warmup', duration_s: 0.5, rate: 200, faults: [] },
      { name: 'before', duration_s: 2, rate: 300, faults: [] },
      { name: 'crashes', duration_s: 3, rate: 300, faults: [{ kind: 'consumer-crash', at_s: 1, every_s: 0, downtime_ms: 500 }] },
      { name: 'recover', duration_s: 2, rate: 300, faults: [] },
    ];
    // The naive consumer's lost events never come: the drain waits this long for them.
    s.drain_timeout_s = 10;
  });

describe('the naive example consumer, caught by the ledger', () => {
  it('dup-storm: every republished id becomes a second row of its append-only table; the run FAILs on sink duplicates', async () => {
    const result = await runScenario({ scenario: smallDupStorm(exampleTarget('naive-consumer')), overrides: {}, broker: 'embedded', out_dir: outDir() });
    expectValidApartFromGeneratorLag(result);
    expect(result.aggregator.kind).toBe('external');
    expect(result.aggregator.target).toMatchObject({ command: ['node', 'examples/naive-consumer/consumer.mjs'], sink: 'query', commit_time: true, restarts: 0, unexpected_exits: [] });
    const t = result.totals;
    expect(t.copies_acked).toBeGreaterThan(0);
    // No dedup and an append-only table: every copy the broker delivered is a row. The drain waits
    // for every event, not for every copy: a copy sent last (the fault's delayed copies) may still be
    // on its way at the final read (CI saw 279 of 280 once).
    expect(t.sink_duplicates).toBeLessThanOrEqual(t.copies_acked);
    expect(t.sink_duplicates).toBeGreaterThanOrEqual(t.copies_acked - 5);
    // Such a copy, acked by the broker with its event in the sink once so far, reads as absorbed
    // (CI saw 1): only those, never more than the copies missing from the duplicates.
    expect(t.copies_absorbed).toBeLessThanOrEqual(t.copies_acked - t.sink_duplicates);
    expect(t.unexpected).toBe(0);
    expect(t.lost).toBe(0);
    expect(result.passed).toBe(false);
    expect(result.checks.filter((c) => !c.passed).map((c) => c.metric)).toEqual(['sink_duplicates']);
    // Latency from its own commit time (inserted_at_ms): measured.
    expect(result.latency.end_to_end.count).toBe(t.published - result.phases[0]!.published);
    // A run that did not pass keeps the target's stderr tail.
    expect(result.aggregator.target?.stderr_tail).toContain('naive consumer: subscribed');
  }, 120_000);

  it('consumer-crash: what it had received and acknowledged but not yet written is lost when it is SIGKILLed; the run FAILs on loss, and without a commit time its latency is not measured', async () => {
    // A write 300 ms after receipt (a database round trip): at 300 ev/s about 90 messages are acked but unwritten at any moment.
    const target = exampleTarget('naive-consumer', (t) => {
      t.env = { NAIVE_WRITE_DELAY_MS: '300' };
      t.sink = { kind: 'query', query: 'SELECT event_id FROM messages ORDER BY id' };
    });
    const scenario = smallConsumerCrash(target);
    scenario.checks = [...scenario.checks, { metric: 'p99_ms', op: '<', value: 10_000 }];
    const result = await runScenario({ scenario, overrides: {}, broker: 'embedded', out_dir: outDir() });
    expectValidApartFromGeneratorLag(result);
    // The kill happened, once, and the harness restarted it.
    const crash = result.faults.find((f) => f.kind === 'consumer-crash');
    expect(crash?.injected.crashes).toBe(1);
    expect(result.aggregator.target?.restarts).toBe(1);
    expect(result.aggregator.target?.unexpected_exits).toEqual([]);
    expect(result.totals.lost).toBeGreaterThan(0);
    // Lost in the phase of the kill, not elsewhere.
    expect(result.phases.find((p) => p.name === 'crashes')!.lost).toBe(result.totals.lost);
    expect(result.totals.unexpected).toBe(0);
    expect(result.passed).toBe(false);
    const failed = result.checks.filter((c) => !c.passed);
    expect(failed.map((c) => c.metric)).toContain('lost');
    expect(failed.find((c) => c.metric === 'p99_ms')?.actual).toBeNull();
    expect(result.latency.end_to_end.count).toBe(0);
    expect(result.latency_end).toBeUndefined();
    expect(renderSummary(result)).toContain('latency not measured (the target gives no commit time)');
    expect(result.findings.join('\n')).toContain('latency was not measured');
  }, 120_000);
});

describe('the reference aggregator as an external target (the mechanism, not the built-in path)', () => {
  it('dup-storm: PASS, every copy absorbed, read as the reference schema', async () => {
    const result = await runScenario({ scenario: smallDupStorm(exampleTarget('reference-consumer')), overrides: {}, broker: 'embedded', out_dir: outDir() });
    expectValidApartFromGeneratorLag(result);
    expect(result.aggregator.kind).toBe('external');
    expect(result.aggregator.target).toMatchObject({ sink: 'reference-schema', commit_time: true, unexpected_exits: [] });
    expectEveryEventOnce(result.totals, 100 + 900);
    expect(result.totals.copies_absorbed).toBe(result.totals.copies_acked);
    expect(result.totals.copies_acked).toBeGreaterThan(0);
    expect(result.passed).toBe(true);
    expect(result.latency.end_to_end.count).toBeGreaterThan(0);
    // Passed: no stderr kept.
    expect(result.aggregator.target?.stderr_tail).toBeUndefined();
  }, 120_000);

  it('on a PostgreSQL sink: told the URL and a schema of the run\'s own in its environment, read back from there, the schema dropped after', async () => {
    const target = exampleTarget('reference-consumer', (t) => {
      t.env = { REFERENCE_DEDUP: 'memory' };
    });
    const result = await runScenario({ scenario: smallDupStorm(target), overrides: {}, broker: 'embedded', sink: 'postgres', out_dir: outDir() });
    expectValidApartFromGeneratorLag(result);
    expectEveryEventOnce(result.totals, 100 + 900);
    expect(result.passed).toBe(true);
    expect(result.sink).toMatchObject({ kind: 'postgres', schema: expect.stringMatching(/^chaosbench_run_/) });
    expect(result.aggregator.target?.env_names).toEqual(['REFERENCE_DEDUP']);
    const left = await withPostgresClient(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, async (client) => (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [result.sink!.schema])).rowCount);
    expect(left).toBe(0);
  }, 120_000);

  it('consumer-crash: SIGKILLed and restarted through the target mechanism, nothing lost, nothing doubled', async () => {
    const result = await runScenario({ scenario: smallConsumerCrash(exampleTarget('reference-consumer')), overrides: {}, broker: 'embedded', out_dir: outDir() });
    expectValidApartFromGeneratorLag(result);
    expect(result.faults.find((f) => f.kind === 'consumer-crash')?.injected.crashes).toBe(1);
    expect(result.aggregator.target?.restarts).toBe(1);
    expectEveryEventOnce(result.totals, 100 + 600 + 900 + 600);
    expect(result.passed).toBe(true);
  }, 120_000);
});

describe('the target mechanism at its edges', () => {
  it('a target that exits before it is ready: the run cannot complete, and says why with the tail of its stderr', async () => {
    const target: ScenarioTarget = {
      command: [process.execPath, '-e', "console.error('cannot open database: permission denied'); process.exit(1)"],
      ready: { log_line: 'subscribed' },
      sink: { kind: 'query', query: 'SELECT event_id FROM messages' },
    };
    await expect(runScenario({ scenario: smallDupStorm(target), overrides: {}, broker: 'embedded', out_dir: outDir() })).rejects.toThrow(
      /^the target exited \(code 1\) before it was ready; its stderr ended with:\ncannot open database: permission denied$/,
    );
  }, 60_000);

  it('on an external broker (a private Mosquitto) nothing counts the target\'s PUBACKs: no overload verdict rests on a consumed rate of 0', async () => {
    const mosquitto = await startMosquitto({ maxQueuedMessages: 0, maxInflightMessages: 20 });
    try {
      // A storm of 6 s: long enough for an overload verdict (3 samples after the first second).
      const scenario = smallDupStorm(exampleTarget('reference-consumer'));
      scenario.phases[1]!.duration_s = 6;
      scenario.phases[1]!.rate = 200;
      const result = await runScenario({ scenario, overrides: {}, broker: mosquitto.url, out_dir: outDir() });
      expectValidApartFromGeneratorLag(result);
      expectEveryEventOnce(result.totals, 100 + 1200);
      expect(result.phases[1]!.load).toBeNull();
      expect(result.passed).toBe(true);
      expect(result.backlog_source).toBe('subscriber (self-reported)');
      expect(result.phases.some((p) => p.overloaded)).toBe(false);
      expect(result.findings.join('\n')).toContain("the target's consumed rate and backlog were not measured");
    } finally {
      await mosquitto.stop();
    }
  }, 120_000);
});
