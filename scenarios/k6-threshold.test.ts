// Checks in k6's threshold syntax: read by the validator into the check the harness evaluates, bad
// expressions named by field (and bench exits 2 on them), and every check written back as k6 says it.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dupStorm } from './shipped/dup-storm.ts';
import { validateScenario } from './validate.ts';
import { k6ThresholdOf, parseThreshold } from './k6-threshold.ts';
import { evaluateChecks } from '../engine/result.ts';
import { runChaosbench } from '../test-support/run-command.ts';
import { tempDir } from '../test-support/temp-dirs.ts';
import { EXIT } from '../cli/exit.ts';
import type { Check } from './schema.ts';

const withChecks = (checks: unknown[]) => ({ ...structuredClone(dupStorm), checks });

describe('checks in k6 threshold syntax', () => {
  it('are read into metric, op and value, keeping the expression; op/value checks are unchanged', () => {
    const validation = validateScenario(
      withChecks([
        { metric: 'p99_ms', threshold: 'p(99)<50' },
        { metric: 'latency_ms', threshold: 'p(95)<=20' },
        { metric: 'latency_ms', threshold: 'avg < 12.5' },
        { metric: 'latency_ms', threshold: 'max<1e3' },
        { metric: 'latency_ms', threshold: 'med<8' },
        { metric: 'p50_ms', threshold: 'med<8' },
        { metric: 'lost', threshold: 'count==0' },
        { metric: 'sink_duplicates', threshold: 'count===0' },
        { metric: 'committed_ratio', threshold: 'rate>=0.999' },
        { metric: 'recovery_s', threshold: 'value<10' },
        { metric: 'never_sent', op: '==', value: 0 },
      ]),
    );
    if (!validation.ok) throw new Error(validation.errors.join('\n'));
    expect(validation.scenario.checks.map(({ metric, op, value }) => `${metric} ${op} ${value}`)).toEqual([
      'p99_ms < 50',
      'p95_ms <= 20',
      'mean_ms < 12.5',
      'max_ms < 1000',
      'p50_ms < 8',
      'p50_ms < 8',
      'lost == 0',
      'sink_duplicates == 0',
      'committed_ratio >= 0.999',
      'recovery_s < 10',
      'never_sent == 0',
    ]);
    expect(validation.scenario.checks[1]).toEqual({ metric: 'p95_ms', op: '<=', value: 20, threshold: 'p(95)<=20' });
    expect(validation.scenario.checks[10]).toEqual({ metric: 'never_sent', op: '==', value: 0 });
    // What the validator returns validates again to itself (result.json's scenario, a replay).
    const again = validateScenario(validation.scenario);
    expect(again.ok && again.scenario.checks).toEqual(validation.scenario.checks);
  });

  it('names the field of every bad expression', () => {
    const validation = validateScenario(
      withChecks([
        { metric: 'p99_ms', threshold: 'p(95)<50' },
        { metric: 'lost', threshold: 'rate<0.01' },
        { metric: 'lost', threshold: 'count!=0' },
        { metric: 'latency_ms', threshold: 'p99<50' },
        { metric: 'latency_ms', threshold: 'p(42)<50' },
        { metric: 'http_req_duration', threshold: 'p(99)<50' },
        { metric: 'lost', threshold: 7 },
        { metric: 'lost', threshold: 'count==0', op: '<', value: 1 },
      ]),
    );
    expect(validation.ok).toBe(false);
    if (validation.ok) return;
    expect(validation.errors).toEqual([
      "checks[0].threshold: p99_ms takes p(99), got 'p(95)' (metric latency_ms takes any latency aggregation)",
      "checks[1].threshold: lost takes count, got 'rate'",
      'checks[2].threshold: operator != is not one a check can use (< <= > >= == ===)',
      "checks[3].threshold: 'p99<50' is not a k6 threshold (AGGREGATION OPERATOR NUMBER, e.g. 'p(99)<50', 'rate>=0.999', 'count==0')",
      "checks[4].threshold: latency_ms takes min, avg, p(50), med, p(75), p(90), p(95), p(99), p(99.9), p(99.99), max, got 'p(42)'",
      expect.stringMatching(/^checks\[5\]\.metric must be one of lost, .*latency_ms, got "http_req_duration"$/),
      "checks[6].threshold must be a k6 threshold expression such as 'p(99)<50' or 'count==0', got 7",
      "checks[7]: give either threshold or op and value (threshold 'count==0' says == 0)",
    ]);
  });

  it('are judged on the run like any check: the latency statistic the aggregation names', () => {
    const latency = { count: 100, min_ms: 1, mean_ms: 6, stdev_ms: 2, p50_ms: 5, p75_ms: 7, p90_ms: 9, p95_ms: 11, p99_ms: 20, p99_9_ms: 30, p99_99_ms: 31, max_ms: 32, histogram: '' };
    const result = { totals: {} as never, latency: { end_to_end: latency, publish_ack: latency } };
    const read = (metric: string, threshold: string): Check => {
      const parsed = parseThreshold('checks[0]', metric, threshold);
      if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
      return parsed.check;
    };
    const checks = [read('latency_ms', `p(95)<=${latency.p95_ms}`), read('latency_ms', `max<${latency.max_ms}`), read('latency_ms', `avg<${latency.mean_ms + 1}`)];
    expect(evaluateChecks(checks, result).map((c) => [c.metric, c.actual, c.passed])).toEqual([
      ['p95_ms', latency.p95_ms, true],
      ['max_ms', latency.max_ms, false],
      ['mean_ms', latency.mean_ms, true],
    ]);
  });

  it('every check is written as a k6 metric and expression: its own when it was given as one', () => {
    expect(k6ThresholdOf({ metric: 'lost', op: '==', value: 0 })).toEqual({ metric: 'lost', type: 'counter', aggregation: 'count', expression: 'count==0' });
    expect(k6ThresholdOf({ metric: 'committed_ratio', op: '>=', value: 0.999 })).toEqual({ metric: 'committed_ratio', type: 'rate', aggregation: 'rate', expression: 'rate>=0.999' });
    expect(k6ThresholdOf({ metric: 'p99_ms', op: '<', value: 50 })).toEqual({ metric: 'latency_ms', type: 'trend', aggregation: 'p(99)', expression: 'p(99)<50' });
    expect(k6ThresholdOf({ metric: 'p50_ms', op: '<', value: 8, threshold: 'med<8' })).toEqual({ metric: 'latency_ms', type: 'trend', aggregation: 'med', expression: 'med<8' });
  });

  it('bench exits 2 naming the check field on bad syntax in a scenario file', async () => {
    const file = join(tempDir('k6-threshold'), 'bad.json');
    writeFileSync(file, JSON.stringify(withChecks([{ metric: 'p99_ms', threshold: 'p(99)<<50' }])));
    const outcome = await runChaosbench('bench', ['--scenario', file], { timeout_ms: 60_000 });
    expect(outcome.code).toBe(EXIT.bad_input);
    expect(outcome.stderr).toContain("checks[0].threshold: 'p(99)<<50' is not a k6 threshold");
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
  });
});
