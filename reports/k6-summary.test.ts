// --summary-export: a run's result as k6's end-of-test summary, read by a k6 summary consumer from
// npm (k6-junit, the library k6 scripts call in handleSummary): its JUnit XML names our metrics'
// thresholds and fails the testcase of a failed check. Through `npm run report` on a stored result,
// and through one real bench run on the embedded broker.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jUnit } from 'k6-junit';
import { describe, expect, it } from 'vitest';
import { evaluateChecks, type RunResult } from '../engine/result.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { k6Summary, type K6Summary } from './k6-summary.ts';
import { allElements, parseXml, type XmlElement } from '../test-support/xml-check.ts';
import { runChaosbench } from '../test-support/run-command.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';
import { EXIT } from '../cli/exit.ts';

const FIXTURE_TEXT = readFileSync(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url), 'utf8');
const dirs = tempDirs('k6-summary');

/** k6-junit's XML for a summary, parsed: each testcase by its name, with its failure message if it failed. */
function junitCases(summary: unknown): Map<string, string | null> {
  const xml = jUnit(summary) as string;
  const root: XmlElement = parseXml(xml.replace(/^<\?xml[^>]*\?>\s*/, ''));
  expect(root.name).toBe('testsuites');
  const cases = allElements(root).filter((element) => element.name === 'testcase');
  return new Map(cases.map((testcase) => [testcase.attrs.name!, testcase.children.find((child) => child.name === 'failure')?.attrs.message ?? null]));
}

/** The fixture run judged by other checks: `lost == 0` (passes) and, in k6's syntax, a p99 bound it misses. */
function judged(): RunResult {
  const result = JSON.parse(FIXTURE_TEXT) as RunResult;
  const validation = validateScenario({
    ...result.scenario,
    checks: [
      { metric: 'lost', op: '==', value: 0 },
      { metric: 'p99_ms', threshold: 'p(99)<1' },
      { metric: 'latency_ms', threshold: `p(95)<=${Math.ceil(result.latency.end_to_end.p95_ms)}` },
      { metric: 'committed_ratio', threshold: 'rate>=0.999' },
    ],
  });
  if (!validation.ok) throw new Error(validation.errors.join('\n'));
  const checks = evaluateChecks(validation.scenario.checks, result);
  return { ...result, scenario: validation.scenario, checks, passed: checks.every((check) => check.passed) };
}

describe("k6's end-of-test summary of a run", () => {
  it('has each metric in k6 shape and each check as a threshold with the run verdict', () => {
    const result = judged();
    const summary = k6Summary(result);
    expect(result.latency.end_to_end.p99_ms).toBeGreaterThan(1);
    expect(summary.metrics.latency_ms).toMatchObject({ type: 'trend', contains: 'time', thresholds: { 'p(99)<1': { ok: false } } });
    expect(summary.metrics.latency_ms!.values['p(99)']).toBe(result.latency.end_to_end.p99_ms);
    expect(summary.metrics.latency_ms!.values.avg).toBe(result.latency.end_to_end.mean_ms);
    expect(summary.metrics.publish_ack_ms!.values.med).toBe(result.latency.publish_ack.p50_ms);
    expect(summary.metrics.lost).toEqual({ type: 'counter', contains: 'default', values: { count: 0, rate: 0 }, thresholds: { 'count==0': { ok: true } } });
    expect(summary.metrics.committed_ratio).toMatchObject({ type: 'rate', values: { rate: result.totals.unique_committed / result.totals.published }, thresholds: { 'rate>=0.999': { ok: true } } });
    expect(summary.metrics.published!.values.count).toBe(result.totals.published);
  });

  it('npm run report --summary-export writes it, and k6-junit fails the testcase of the failed check only', async () => {
    const dir = dirs();
    writeFileSync(join(dir, 'result.json'), JSON.stringify(judged()));
    const file = join(dir, 'k6', 'summary.json');
    const outcome = await runChaosbench('report', [dir, '--summary-export', file], { timeout_ms: 60_000 });
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(EXIT.ok);
    expect(outcome.stdout).toContain(file);
    const cases = junitCases(JSON.parse(readFileSync(file, 'utf8')) as K6Summary);
    const p95 = [...cases.keys()].find((name) => name.startsWith('latency_ms: p(95)'));
    expect(Object.fromEntries(cases)).toEqual({
      'lost: count==0': null,
      'latency_ms: p(99)<1': 'threshold exceeded',
      [p95!]: null,
      'committed_ratio: rate>=0.999': null,
    });
  });

  it('npm run report --summary-export without a file exits 2 naming the flag', async () => {
    const outcome = await runChaosbench('report', ['test-support/fixtures', '--summary-export'], { timeout_ms: 60_000 });
    expect(outcome.code).toBe(EXIT.bad_input);
    expect(outcome.stderr).toContain('--summary-export: needs the file to write');
  });

  it('npm run bench --summary-export writes the summary of the run, its k6-syntax checks as thresholds, which k6-junit reads', async () => {
    const dir = dirs();
    const file = join(dir, 'summary.json');
    // Checks in k6's syntax from the command line: a generous p99 bound that passes, a max no run meets.
    const checks = [
      { metric: 'lost', threshold: 'count==0' },
      { metric: 'latency_ms', threshold: 'p(99)<60000' },
      { metric: 'latency_ms', threshold: 'max<0.001' },
    ];
    const outcome = await runChaosbench(
      'bench',
      ['--scenario', 'dup-storm', '--rate', '200', '--duration', '2s', '--set', 'phases[0].duration_s=1', '--set', `checks=${JSON.stringify(checks)}`, '--dedup', 'memory', '--quiet', '--out', join(dir, 'run'), '--summary-export', file],
      { timeout_ms: 120_000 },
    );
    expect(outcome.code, outcome.stderr).toBe(EXIT.check_failed);
    expect(outcome.stdout).toMatch(/FAIL — 1 of 3 checks failed: max_ms < 0\.001/);
    const result = JSON.parse(readFileSync(join(dir, 'run', 'result.json'), 'utf8')) as RunResult;
    expect(result.checks.map(({ metric, op, value, threshold, passed }) => ({ metric, op, value, threshold, passed }))).toEqual([
      { metric: 'lost', op: '==', value: 0, threshold: 'count==0', passed: true },
      { metric: 'p99_ms', op: '<', value: 60000, threshold: 'p(99)<60000', passed: true },
      { metric: 'max_ms', op: '<', value: 0.001, threshold: 'max<0.001', passed: false },
    ]);
    const summary = JSON.parse(readFileSync(file, 'utf8')) as K6Summary;
    expect(summary.metrics.published!.values.count).toBe(result.totals.published);
    expect(summary.metrics.latency_ms!.values['p(99)']).toBe(result.latency.end_to_end.p99_ms);
    expect(Object.fromEntries(junitCases(summary))).toEqual({
      'lost: count==0': null,
      'latency_ms: p(99)<60000': null,
      'latency_ms: max<0.001': 'threshold exceeded',
    });
  }, 150_000);
});
