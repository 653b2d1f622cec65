import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../engine/result.ts';
import { renderReport } from './markdown.ts';
import { CONTENT_SECURITY_POLICY, renderCompareHtml, renderGateHtml, renderHtmlReport } from './html.ts';
import { backlogSvg, timelineSvg } from './svg.ts';
import { parseXml } from '../test-support/xml-check.ts';
import { compareReportFixture, gateReportFixture } from '../test-support/campaign-fixtures.ts';

const FIXTURE = readFileSync(fileURLToPath(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url)), 'utf8');
const fixture = (): RunResult => JSON.parse(FIXTURE) as RunResult;

/** The fixture with a recovery after its storm phase (recovery_s null: not recovered within the run). */
function withRecovery(recovery_s: number | null): RunResult {
  const result = fixture();
  result.phases[1]!.recovery = { phase: 'storm', baseline_phase: 'warmup', baseline_p99_ms: 20, baseline_backlog: 11, recovery_s, backlog_peak: 17, p99_peak_ms: 60 };
  return result;
}

/** What the page may fetch or run: nothing. Returns the offending pieces. */
function externalReferences(html: string): string[] {
  return [
    ...html.matchAll(/\b(?:src|href|xlink:href|action|poster|srcset)\s*=\s*["']?\s*(?!data:)[^"'\s>]+/gi),
    ...html.matchAll(/<script\b[^>]*>/gi),
    ...html.matchAll(/<(?:iframe|object|embed|link(?![^>]*href="data:))\b[^>]*>/gi),
    ...html.matchAll(/@import|url\(/gi),
    ...html.matchAll(/https?:\/\/(?!www\.w3\.org\/2000\/svg")[^\s"'<>]*/gi),
  ].map((m) => m[0]);
}

describe('renderHtmlReport', () => {
  it('is one page: the verdict with its exit code, checks, the ledger, the self-reported counters labelled, charts and phases', () => {
    const html = renderHtmlReport(fixture());
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html).toContain('<section class="verdict pass" data-verdict="pass">\n<span class="status">PASS</span><span class="detail"> — all 3 checks passed; run valid</span>');
    expect(html).toContain('exit code <strong data-exit="0">0</strong>: ok: done, and everything judged passed');
    for (const id of ['checks', 'ledger', 'charts', 'phases']) expect(html).toContain(`<h2 id="${id}">`);
    expect(html).toContain('<tr><td>lost == 0</td><td class="num">0</td><td>pass</td></tr>');
    // The ledger's figures, from the harness's records.
    for (const [figure, count] of [
      ['published', 6000],
      ['unique committed', 6000],
      ['lost', 0],
      ['… of which dead-lettered', 0],
      ['never acked', 0],
      ['never sent', 0],
      ['duplicates in sink', 0],
      ['copies absorbed', 1433],
    ] as const) {
      expect(html).toMatch(new RegExp(`<tr><td>${figure}</td><td class="num">${count}</td>`));
    }
    expect(html).toContain('Self-reported by the aggregator (its own word: not used for any figure above, nor for a check):');
    expect(html).toContain('<table class="self-reported">');
    // Three inline charts, each well-formed SVG: latency spectrum, throughput + p99, backlog.
    const svgs = [...html.matchAll(/<svg\b[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    expect(svgs.map((svg) => /<title>([^<]*) — /.exec(svg)?.[1])).toEqual(['Latency by percentile', 'Throughput and p99 per second', 'Backlog over time']);
    for (const svg of svgs) expect(parseXml(svg).name).toBe('svg');
    // The storm phase has faults (duplicates): shaded in both charts over time.
    expect(svgs[1]).toContain('<rect data-phase="storm"');
    expect(svgs[2]).toContain('<rect data-phase="storm"');
    expect(html).toContain('<td>storm</td>');
    // What the run cost, as report.md gives it: a row per process and thread, from /proc.
    expect(html).toContain('<h2 id="cost">Cost</h2>');
    expect(html).toMatch(/<table class="cost">[\s\S]*<td>load worker 1<\/td><td class="num">[\d.]+<\/td>[\s\S]*<td>harness process, all threads \(includes the harness rows above\)<\/td>/);
  });

  it("says in its Cost section which harness thread was busiest while the load ran, as report.md does", () => {
    const result = fixture();
    result.cost = { ...result.cost!, load_wall_s: 12.5, harness_busiest: { role: 'load worker 1', cores: 0.5, wait_share: 0.33, busy_share: 0.83 } };
    const html = renderHtmlReport(result);
    expect(html).toMatch(/<p[^>]*>Was the harness the bound\? Its busiest thread while the load ran \(12\.5 s\) was the load worker 1: running 50% and waiting for a core 33% of the time, so it had work 83% of it\./);
    expect(renderReport(result)).toContain('Was the harness the bound? Its busiest thread while the load ran (12.5 s) was the load worker 1: running 50% and waiting for a core 33% of the time, so it had work 83% of it.');
  });

  it('escapes every string from the result: a <script> in a scenario name, a phase name, a finding, a reason, is text', () => {
    const result = fixture();
    result.scenario.name = '<script>alert("name")</script>';
    result.scenario.description = '<img src=x onerror=alert(1)>';
    result.scenario.phases[1]!.name = '<script>phase()</script>';
    result.phases[1]!.name = '<script>phase()</script>';
    result.findings = ['</li></ul><script>finding()</script>'];
    result.valid = false;
    result.invalid_reasons = ['<b onmouseover="x()">reason</b>'];
    const html = renderHtmlReport(result);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/<b /);
    expect(html).toContain('<h1>chaosbench: &lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;</h1>');
    expect(html).toContain('<li>&lt;/li&gt;&lt;/ul&gt;&lt;script&gt;finding()&lt;/script&gt;</li>');
    expect(html).toContain('<td>&lt;script&gt;phase()&lt;/script&gt;</td>');
    expect(html).toContain('<span class="status">INVALID RUN</span><span class="detail"> — &lt;b onmouseover=&quot;x()&quot;&gt;reason&lt;/b&gt;</span>');
    expect(html).toContain('data-verdict="invalid"');
    expect(html).toContain('data-exit="3"');
  });

  it('fetches nothing: no external URL, no script, and a policy that forbids loading anything', () => {
    for (const html of [renderHtmlReport(fixture()), renderCompareHtml(compareReportFixture()), renderGateHtml(gateReportFixture())]) {
      expect(externalReferences(html)).toEqual([]);
      expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY.replace(/'/g, '&apos;')}">`);
    }
    // The check itself finds what it looks for.
    expect(externalReferences('<img src="https://example.com/a.png"><script src="x.js"></script><link rel="stylesheet" href="//cdn/x.css">')).toHaveLength(6);
  });

  it('an invalid run that lost events: FAIL and exit 1, as bench says, with the invalidity after', () => {
    const result = fixture();
    result.passed = false;
    result.valid = false;
    result.invalid_reasons = ['the generator fell behind its schedule'];
    const lost = result.checks.findIndex((c) => c.metric === 'lost');
    expect(lost).toBeGreaterThanOrEqual(0);
    result.checks[lost] = { ...result.checks[lost]!, actual: 12, passed: false };
    const html = renderHtmlReport(result);
    expect(html).toContain('<span class="status">FAIL</span>');
    expect(html).toContain('the run is also invalid as a measurement');
    expect(html).not.toContain('<p>run valid</p>');
    expect(html).toContain('data-exit="1"');
  });

  it('a failed check: FAIL and exit 1', () => {
    const result = fixture();
    result.passed = false;
    result.checks[0] = { ...result.checks[0]!, actual: 3, passed: false };
    const html = renderHtmlReport(result);
    expect(html).toContain('<span class="status">FAIL</span>');
    expect(html).toContain('<p>run valid</p>');
    expect(html).toContain('data-exit="1"');
    expect(html).toContain('<td><strong>FAIL</strong></td>');
  });

  it('marks recovery after a fault phase on the charts over time, and in a recovery table; or that it did not recover', () => {
    const recovered = withRecovery(1.5);
    for (const svg of [timelineSvg(recovered), backlogSvg(recovered)]) {
      expect(svg).toContain('data-phase="storm" data-recovery-s="1.5"');
      expect(svg).toContain('recovered +1.5 s');
    }
    const html = renderHtmlReport(recovered);
    expect(html).toContain('<h2 id="recovery">Recovery</h2>');
    expect(html).toMatch(/<tr><td>storm<\/td><td>warmup<\/td><td class="num">20<\/td><td class="num">1\.5<\/td>/);
    const stuck = withRecovery(null);
    expect(backlogSvg(stuck)).toContain('data-recovery-s="none"');
    expect(backlogSvg(stuck)).toContain('not recovered');
    expect(renderHtmlReport(stuck)).toContain('<td><strong>not recovered</strong></td>');
    // Without a recovery, no mark and no table.
    expect(backlogSvg(fixture())).not.toContain('data-recovery-s');
    expect(renderHtmlReport(fixture())).not.toContain('id="recovery"');
  });

  it('the backlog chart draws one point per timeline sample, its peak on the axis', () => {
    const result = fixture();
    const svg = backlogSvg(result);
    const points = /<polyline data-series="backlog" points="([^"]+)"/.exec(svg)![1]!.split(' ');
    expect(points).toHaveLength(result.timeline.length);
    const yMax = Number(/data-y-max="([\d.]+)"/.exec(svg)![1]);
    expect(yMax).toBeGreaterThanOrEqual(Math.max(...result.timeline.map((s) => s.backlog)));
    result.timeline = [];
    expect(backlogSvg(result)).toContain('>no data<');
  });
});

describe('renderCompareHtml and renderGateHtml', () => {
  it('compare: committed ev/s and p99 per variant as bars (median) with min–max whiskers, then the tables', () => {
    const html = renderCompareHtml(compareReportFixture());
    const bars = [...html.matchAll(/<rect data-bar="([^"]+)" data-median="([\d.]+)"/g)].map((m) => [m[1], Number(m[2])]);
    expect(bars).toEqual([
      ['memory', 1050],
      ['sqlite', 700],
      ['memory', 10.5],
      ['sqlite', 16],
    ]);
    expect(html.match(/<line class="range"/g)).toHaveLength(4);
    expect(html).toContain('1050 [1000–1100] ev/s 1.00×');
    expect(html).toContain('700 [600–800] ev/s 0.67×');
    expect(html).toContain('<h2 id="variants">Variants</h2>');
    expect(html).toContain('<h2 id="runs">Runs</h2>');
    expect(html).toContain('data-exit="0"');
    // A variant's name is text wherever it appears.
    const hostile = renderCompareHtml(compareReportFixture('<script>x()</script>'));
    expect(hostile).not.toMatch(/<script/i);
    expect(hostile).toContain('&lt;script&gt;x()&lt;/script&gt;');
  });

  it('gate: each side of each metric as a bar with its range, the ratio with its interval, the verdict and exit code', () => {
    const report = gateReportFixture();
    const html = renderGateHtml(report);
    expect(html).toContain('data-verdict="fail"');
    expect(html).toContain('data-exit="1"');
    expect(html).toContain('<span class="status">gate FAILED: regression</span>');
    const bars = [...html.matchAll(/<rect data-bar="([^"]+)" data-median="([\d.]+)"/g)].map((m) => [m[1], Number(Number(m[2]).toFixed(2))]);
    expect(bars).toEqual([
      ['baselines/gate.json', 10],
      ['this checkout', 20.1],
      ['p99_ms', Number(report.decisions[0]!.estimate!.toFixed(2))],
    ]);
    expect(html).toContain('<h2 id="decisions">Decisions</h2>');
    // The ratio chart marks 1 (no change).
    expect(html.match(/<line class="reference"/g)).toHaveLength(1);
    // No emoji a browser may lack the font for: the box's colour says it.
    expect(html).not.toMatch(/[❌✅]/u);
    expect(html).toContain('<td><strong>regression</strong></td>');
    expect(renderGateHtml(gateReportFixture({ outcome: 'undecidable', exit: 3, message: '<i>noisy</i>' }))).toContain('data-verdict="invalid"');
    expect(renderGateHtml(gateReportFixture({ message: '<i>noisy</i>' }))).toContain('&lt;i&gt;noisy&lt;/i&gt;');
  });
});
