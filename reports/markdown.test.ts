import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../engine/metrics/histogram.ts';
import { evaluateChecks, metricValue, RESULT_SCHEMA, type LatencyResult, type RunResult } from '../engine/result.ts';
import type { Check, CheckMetric, CheckOp } from '../scenarios/schema.ts';
import { CHECK_METRICS } from '../scenarios/schema.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { renderReport, renderSummary, verdictLine } from './markdown.ts';
import { figuresOf } from '../engine/figures.ts';
import { NOTHING_LOST_NOTHING_DOUBLED } from '../scenarios/defaults.ts';
import { exitCodeOf } from '../commands/bench/bench.ts';
import { EXIT } from '../cli/exit.ts';
import { LATENCY_END } from '../engine/result-assembly.ts';

/** A passing dup-storm run (5 s storm, dedup memory): the result.json of a real run, kept as written. */
const FIXTURE_TEXT = readFileSync(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url), 'utf8');

/** A fresh copy each time, so a test can change it without touching the others. */
function fixture(): RunResult {
  return JSON.parse(FIXTURE_TEXT) as RunResult;
}

/** The fixture with its totals changed and its checks re-evaluated, as the run would have. */
function withTotals(changes: Partial<RunResult['totals']>): RunResult {
  const result = fixture();
  Object.assign(result.totals, changes);
  result.checks = evaluateChecks(result.scenario.checks, result);
  result.passed = result.checks.every((c) => c.passed);
  return result;
}

function firstLine(text: string): string {
  return text.split('\n')[0]!;
}

describe('the dup-storm fixture', () => {
  it('is a coherent result: valid scenario, checks as evaluated, summaries matching their histograms', () => {
    const result = fixture();
    expect(result.schema).toBe(RESULT_SCHEMA);
    expect(validateScenario(result.scenario).ok).toBe(true);
    expect(evaluateChecks(result.scenario.checks, result)).toEqual(result.checks);
    const latencies: [string, LatencyResult][] = [
      ['end_to_end', result.latency.end_to_end],
      ['publish_ack', result.latency.publish_ack],
      ...result.phases.map((p): [string, LatencyResult] => [`phase ${p.name}`, p.latency]),
    ];
    for (const [name, { histogram, ...summary }] of latencies) {
      expect(LatencyRecorder.decode(histogram).summary(), name).toEqual(summary);
    }
    expect(result.latency.end_to_end.count).toBe(result.phases.filter((p) => !p.excluded_from_totals).reduce((n, p) => n + p.unique_committed, 0));
  });
});

describe('renderReport', () => {
  it('says where end-to-end latency ends and on which clock, and how many events end at their transaction start', () => {
    const result = fixture();
    result.latency_end = { ...LATENCY_END, commit_time_unrecorded: 0 };
    const report = renderReport(result);
    expect(report).toContain(`Latency ends at ${LATENCY_END.ends_at}; both ends are read from ${LATENCY_END.clock}.\n`);
    expect(report).not.toContain('lower bound');
    result.latency_end.commit_time_unrecorded = 3;
    expect(renderReport(result)).toContain('For 3 events the COMMIT\'s return time was never recorded (the aggregator died between the COMMIT and the record): their latency ends at the start of that transaction, a lower bound.');
  });

  it('says what the drain counted, where the result says', () => {
    const result = fixture();
    delete result.drain.counted;
    expect(renderReport(result)).toMatch(/\| drain \| [\d.]+ s \|/);
    result.drain.counted = 'broker';
    expect(renderReport(result)).toMatch(/\| drain \| [\d.]+ s, counting the PUBACKs the broker received from the subscriber \|/);
    result.drain.counted = 'subscriber (self-reported)';
    expect(renderReport(result)).toMatch(/\| drain \| [\d.]+ s, counting the subscriber's acks \(self-reported: the harness cannot read this broker's counts\) \|/);
  });

  it('names what a drain cut short by its timeout left uncommitted, and why', () => {
    const result = fixture();
    result.drain = { drain_s: 90.02, complete: false, stopped: 'timeout', outstanding: 281, last_progress_s: 10.1, not_committed: 92, reason: 'stopped at its timeout (drain_timeout_s 90 s) with 281 broker-acknowledged messages not accounted for by the sink, the last progress 79.9 s before it ended' };
    expect(renderReport(result)).toContain('| drain | 90.0 s (incomplete: 92 events not committed by the end of the drain; it stopped at its timeout (drain_timeout_s 90 s) with 281 broker-acknowledged messages not accounted for by the sink, the last progress 79.9 s before it ended) |');
  });

  it('renders the dup-storm fixture as committed', async () => {
    await expect(renderReport(fixture())).toMatchFileSnapshot('./__snapshots__/dup-storm.report.md');
  });

  it('an interrupted run reads INTERRUPTED first, exits 130/143 by its signal, and its unjudged lost events do not make it FAIL', async () => {
    const { markInterrupted } = await import('../engine/result-assembly.ts');
    const { renderHtmlReport } = await import('./html.ts');
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      // Events not committed by the interruption count as lost, and the lost check fails...
      const result = withTotals({ lost: 1200, unique_committed: 4800 });
      expect(exitCodeOf(result)).toBe(EXIT.check_failed);
      markInterrupted(result, { signal, at_s: 4.2 });
      // ...but the run is INTERRUPTED, nothing judged.
      expect(verdictLine(result)).toBe(`**INTERRUPTED** — interrupted by ${signal} at 4.2 s: partial; checks not judged`);
      expect(firstLine(renderSummary(result))).toBe(`INTERRUPTED — interrupted by ${signal} at 4.2 s: partial; checks not judged`);
      expect(firstLine(renderReport(result))).toMatch(/^\*\*INTERRUPTED\*\*/);
      expect(exitCodeOf(result)).toBe(code);
      expect(result.valid).toBe(false);
      const html = renderHtmlReport(result);
      expect(html).toContain('data-verdict="interrupted"');
      expect(html).toContain(`data-exit="${code}"`);
    }
  });

  it('starts with the verdict: PASS for a valid run whose checks all passed', () => {
    expect(firstLine(renderReport(fixture()))).toBe('**PASS** — all 3 checks passed; run valid');
  });

  it('is a pure function of the result: same output twice, input unchanged', () => {
    const result = fixture();
    const first = renderReport(result);
    expect(renderReport(result)).toBe(first);
    expect(JSON.stringify(result, null, 2)).toBe(FIXTURE_TEXT.trimEnd());
  });

  it('carries the ledger, phases, faults and a replay command from the result', () => {
    const md = renderReport(fixture());
    expect(md).toContain('| unique committed | 6000 |');
    expect(md).toContain('| reordered | 0 | committed after a later seq of the same source (max displacement 0) |');
    expect(md).toContain('| phase warmup (excluded) | 1000 |');
    expect(md).toContain('| phase storm | 5000 |');
    expect(md).toContain('duplicate (copies 1433, immediate 725, delayed 708, same_connection 714, other_connection 719)');
    expect(md).toContain('| 19.28% | 0.00% | 0.00% | 0.00% | 1000 | 1000 | 998 |');
    expect(md).toContain('## Timeline');
    expect(md).toContain('| load model | open (schedule of intended send times) |');
    expect(md).toContain('Replay: `npm run bench -- --scenario dup-storm --seed 42 --duration 5s --dedup memory`');
    expect(md).not.toContain('## Findings');
  });

  it('names a PostgreSQL sink in the run line and replays --sink; a result without `sink` renders as before', () => {
    const result = fixture();
    expect(result.sink).toBeUndefined();
    expect(renderReport(result)).toContain(' · sink mode `idempotent` · ');
    result.sink = { kind: 'postgres', url: 'postgres://bench:***@db.example:5432/test', schema: 'chaosbench_run_x' };
    result.overrides = { ...result.overrides, dedup: 'postgres', sink: 'postgres://bench:***@db.example:5432/test' };
    const md = renderReport(result);
    expect(md).toContain(
      ' · sink `postgres` (postgres://bench:***@db.example:5432/test, schema chaosbench_run_x, dropped after the run) · sink mode `idempotent` · ',
    );
    expect(md).toContain("--dedup postgres --sink 'postgres://bench:***@db.example:5432/test'`");
  });

  it('starts an invalid run with **INVALID RUN** and every reason, even when a check it does not judge (latency) failed', () => {
    const result = withTotals({});
    result.checks = [...result.checks, { metric: 'p99_ms', op: '<', value: 1, actual: 20, passed: false }];
    result.passed = false;
    result.valid = false;
    result.invalid_reasons = [
      'the generator offered 612 ev/s against a target of 1000 ev/s (below 95%): the harness, not the system, was the limit',
      'the generator fell behind its schedule: lag p99 312.0 ms > 100 ms',
    ];
    const md = renderReport(result);
    const verdict = firstLine(md);
    expect(verdict.startsWith('**INVALID RUN**')).toBe(true);
    for (const reason of result.invalid_reasons) expect(verdict).toContain(reason);
    expect(md).toContain(`| valid | no: ${result.invalid_reasons.join('; ')} |`);
    expect(firstLine(renderSummary(result))).toBe(`INVALID RUN — ${result.invalid_reasons.join('; ')}`);
  });

  it('shows the events the generator dropped per phase, in the run table and beside the offered rate in the summary', () => {
    const result = fixture();
    result.generator = { ...result.generator, max_lag_ms: 5000, dropped: 1234, dropped_window_full: 34 };
    result.phases = result.phases.map((p) => ({ ...p, dropped: p.name === 'storm' ? 1234 : 0, dropped_window_full: p.name === 'storm' ? 34 : 0, lag_p99_ms: p.name === 'storm' ? 4870.5 : 1.2, lag_max_ms: 5000 }));
    const md = renderReport(result);
    expect(md).toMatch(/\| storm \| 5 \| 1000 \| 1000 \| 1234 \| 4870\.500 \| 5000 \|/);
    expect(md).toMatch(/\| warmup \| 2 \| 500 \| 500 \| 0 \| 1\.200 \| 1000 \|/);
    expect(md).toContain('| events dropped (never sent) | 1234 (more than load.max_lag_ms 5000 ms behind schedule at hand-off; 34 of them behind a full window) |');
    expect(renderSummary(result)).toContain('· generator dropped 1234 events (more than 5000 ms behind schedule, never sent)');
    // A run without drops says nothing about them in the summary.
    expect(renderSummary(fixture())).not.toContain('dropped');
  });

  it('gives **FAIL** naming the failed check, its threshold and the actual value', () => {
    const result = withTotals({ lost: 3 });
    const md = renderReport(result);
    expect(firstLine(md)).toBe('**FAIL** — 1 of 3 checks failed: lost == 0 (was 3)');
    expect(md).toContain('| lost == 0 | 3 | **FAIL** |');
    expect(md).toContain('| sink_duplicates == 0 | 0 | pass |');
  });

  it('names every failed check, with an actual that cannot round onto its threshold', () => {
    const result = fixture();
    result.scenario.checks = [
      { metric: 'sink_duplicates', op: '==', value: 0 },
      { metric: 'p99_ms', op: '<', value: 5 },
      { metric: 'committed_ratio', op: '>=', value: 1 },
    ];
    Object.assign(result.totals, { sink_duplicates: 17, unique_committed: 5990 });
    result.checks = evaluateChecks(result.scenario.checks, result);
    const md = renderReport(result);
    expect(firstLine(md)).toBe(
      `**FAIL** — 3 of 3 checks failed: sink_duplicates == 0 (was 17), p99_ms < 5 (was ${result.latency.end_to_end.p99_ms}), committed_ratio >= 1 (was 0.998333)`,
    );
    // 5990 / 6000 once read "was 1.00" against ">= 1".
    expect(md).toContain('| committed_ratio >= 1 | 0.998333 | **FAIL** |');
  });

  it('renders the findings as a list before the checks', () => {
    const result = withTotals({ lost: 3 });
    result.findings = [
      '3 events were acknowledged by the broker but never committed to the sink.',
      'the drain did not complete within 20 s; events still queued at the end count as lost.',
    ];
    const md = renderReport(result);
    const findings = md.indexOf('## Findings');
    expect(findings).toBeGreaterThan(0);
    expect(findings).toBeLessThan(md.indexOf('## Checks'));
    for (const finding of result.findings) expect(md).toContain(`\n- ${finding}\n`);
  });
});

describe('renderSummary', () => {
  it('gives the verdict without markdown, then the key figures', () => {
    const result = fixture();
    const lines = renderSummary(result).split('\n');
    expect(lines[0]).toBe('PASS — all 3 checks passed; run valid');
    expect(lines[1]).toBe(
      'published 6000 (+1433 duplicate copies) · committed 6000 · lost 0 (0 dead-lettered) · never acked 0 · never sent 0 · sink duplicates 0 · copies absorbed 1433 · dlq 0',
    );
    const l = result.latency.end_to_end;
    expect(lines[2]).toBe(
      `throughput offered 1000 ev/s, committed 998 ev/s · latency p50 ${l.p50_ms.toFixed(3)} ms, p99 ${l.p99_ms.toFixed(3)} ms, p99.9 ${l.p99_9_ms.toFixed(3)} ms, max ${l.max_ms.toFixed(3)} ms`,
    );
    expect(lines).toHaveLength(3);
  });

  it('puts an overloaded phase on the verdict line after PASS (overload is a result, not an invalid run)', () => {
    const result = fixture();
    const storm = result.phases.find((p) => p.name === 'storm')!;
    storm.overloaded = true;
    storm.load = { phase: 'storm', overloaded: true, backlog_growth_per_s: 886.3, backlog_at_end: 9082, accepted_per_s: 1290.1, consumed_per_s: 410.4, sustained_share: 0.318 };
    expect(firstLine(renderReport(result))).toBe(
      "**PASS** — all 3 checks passed; run valid; overloaded in 'storm' at 1000 ev/s (sustained 410 of 1290 msg/s)",
    );
    expect(renderReport(result)).toMatch(/\| storm \| 5 \| 1000 \| 1000 \| — \| — \| 5000 \| 5000 \| 0 \| 886 \| \*\*yes\*\* \|/);
  });

  it("names your own consumer in the run line, and says it reports no counters instead of showing the reference's table", () => {
    const result = fixture();
    result.aggregator.kind = 'external';
    result.aggregator.target = { command: ['node', 'consumer.mjs'], env_names: [], sink: 'query', commit_time: false, restarts: 2, unexpected_exits: [] };
    result.sink = { kind: 'sqlite', url: 'sqlite:/tmp/run/sink.db', query: 'SELECT event_id FROM messages' };
    const report = renderReport(result);
    expect(report).toContain('· target `node consumer.mjs` (restarted 2×) · sink `sqlite`, read by its query (no commit time: latency not measured) ·');
    expect(report).toContain("The target reports no counters of its own: every figure above is the harness's.");
    expect(report).not.toContain('Self-reported by the aggregator');
  });

  it('summarises a bare-subscriber run without claiming loss or latency it did not measure', () => {
    const result = fixture();
    result.aggregator.kind = 'none';
    result.checks = [];
    const lines = renderSummary(result).split('\n');
    expect(lines[0]).toBe('PASS — no checks (bare subscriber: nothing is committed); run valid');
    expect(lines[1]).toMatch(/acked by the bare subscriber \d+ \(self-reported\)$/);
    expect(lines[1]).not.toMatch(/lost/);
    expect(lines[2]).toMatch(/^throughput offered 1000 ev\/s, consumed 998 ev\/s · publish→PUBACK p99 /);
  });

  it("labels the backlog and a bare subscriber's consumed rate self-reported when the subscriber counted them, or when a result does not say who did", () => {
    const selfReported = fixture();
    selfReported.backlog_source = 'subscriber (self-reported)';
    const older = fixture();
    delete older.backlog_source;
    for (const result of [selfReported, older]) {
      result.phases[1]!.recovery = { phase: 'storm', baseline_phase: 'warmup', baseline_p99_ms: 10, baseline_backlog: 5, recovery_s: 1, backlog_peak: 40, p99_peak_ms: 90 };
      const report = renderReport(result);
      expect(report).toContain("messages the subscriber says it acknowledged (self-reported: the harness cannot read this broker's counts)");
      expect(report).toContain('| lost | backlog growth msg/s (self-reported) |');
      expect(report).toContain('| recovery s | backlog peak (self-reported) |');
      expect(renderSummary(result)).toContain('backlog peak 40 (self-reported)');
      result.aggregator.kind = 'none';
      expect(renderSummary(result).split('\n')[2]).toMatch(/^throughput offered 1000 ev\/s, consumed 998 ev\/s \(self-reported\) · /);
    }
    const counted = renderReport(fixture());
    expect(counted).toContain('counted by the broker (the PUBACKs it received from the subscriber)');
    expect(counted).not.toMatch(/backlog[^\n]*self-reported/);
  });

  it('adds one line per finding and a FAIL verdict', () => {
    const result = withTotals({ lost: 3 });
    result.findings = ['3 events were acknowledged by the broker but never committed to the sink.'];
    const lines = renderSummary(result).split('\n');
    expect(lines[0]).toBe('FAIL — 1 of 3 checks failed: lost == 0 (was 3)');
    expect(lines.at(-1)).toBe(`finding: ${result.findings[0]}`);
    expect(verdictLine(result)).toBe('**FAIL** — 1 of 3 checks failed: lost == 0 (was 3)');
  });
});

describe('the default checks (NOTHING_LOST_NOTHING_DOUBLED)', () => {
  it.each<[string, Partial<RunResult['totals']>, RegExp]>([
    // A valid event the aggregator dead-lettered is lost: the DLQ is not the sink.
    ['lost', { lost: 2, dead_lettered: 2 }, / · lost 2 \(2 dead-lettered\) · never acked 0 · never sent 0 · /],
    ['lost_unacked', { lost_unacked: 2 }, / · lost 0 \(0 dead-lettered\) · never acked 2 · never sent 0 · /],
    ['never_sent', { never_sent: 2 }, / · lost 0 \(0 dead-lettered\) · never acked 0 · never sent 2 · /],
  ])('fail a run with %s 2 (exit 1), and the summary line shows the figure apart from the others', (metric, changes, figures) => {
    const result = fixture();
    result.scenario.checks = [...NOTHING_LOST_NOTHING_DOUBLED];
    Object.assign(result.totals, { ...changes, unique_committed: result.totals.published - 2 });
    result.checks = evaluateChecks(result.scenario.checks, result);
    result.passed = result.checks.every((c) => c.passed);
    const lines = renderSummary(result).split('\n');
    expect(lines[0]).toBe(`FAIL — 1 of ${NOTHING_LOST_NOTHING_DOUBLED.length} checks failed: ${metric} == 0 (was 2)`);
    expect(lines[1]).toMatch(figures);
    expect(exitCodeOf(result)).toBe(EXIT.check_failed);
  });

  // A run can be invalid as a measurement (the generator fell behind) and still have lost events:
  // those are gone however late they were sent. The verdict and exit code say FAIL, not INVALID.
  const invalidRun = (changes: Partial<RunResult['totals']>, extraChecks: RunResult['scenario']['checks'] = []) => {
    const result = fixture();
    result.scenario.checks = [...NOTHING_LOST_NOTHING_DOUBLED, ...extraChecks];
    Object.assign(result.totals, changes);
    result.checks = evaluateChecks(result.scenario.checks, result);
    result.passed = result.checks.every((c) => c.passed);
    result.valid = false;
    result.invalid_reasons = ['the generator fell behind its schedule in phase \'storm\': lag p99 947.7 ms > 100 ms'];
    return result;
  };

  it('fail an invalid run that lost events (exit 1, not 3), naming the loss first and the invalidity after', () => {
    const result = invalidRun({ lost: 3948, unique_committed: 0 });
    const first = renderSummary(result).split('\n')[0];
    expect(first).toBe(
      `FAIL — 1 of ${NOTHING_LOST_NOTHING_DOUBLED.length} checks failed: lost == 0 (was 3948); the run is also invalid as a measurement, so its other checks are not judged: the generator fell behind its schedule in phase 'storm': lag p99 947.7 ms > 100 ms`,
    );
    expect(exitCodeOf(result)).toBe(EXIT.check_failed);
  });

  it('call an invalid run INVALID (exit 3) when only a latency check failed: its latency is not judged', () => {
    const result = invalidRun({}, [{ metric: 'p99_ms', op: '<', value: 0.001 }]);
    expect(result.checks.find((c) => c.metric === 'p99_ms')!.passed).toBe(false);
    expect(renderSummary(result).split('\n')[0]).toMatch(/^INVALID RUN — the generator fell behind/);
    expect(exitCodeOf(result)).toBe(EXIT.invalid_run);
  });

  it('pass the fixture run, whose every event is in the sink once (exit 0)', () => {
    const result = fixture();
    result.scenario.checks = [...NOTHING_LOST_NOTHING_DOUBLED];
    result.checks = evaluateChecks(result.scenario.checks, result);
    result.passed = result.checks.every((c) => c.passed);
    expect(result.checks.map((c) => [c.metric, c.passed])).toEqual(NOTHING_LOST_NOTHING_DOUBLED.map((c) => [c.metric, true]));
    expect(exitCodeOf(result)).toBe(EXIT.ok);
  });
});

describe('metricValue', () => {
  const result = fixture();
  Object.assign(result.totals, { lost: 1, lost_unacked: 2, sink_duplicates: 3, unexpected: 4, dlq: 5, copies_absorbed: 6, unique_committed: 4500, never_sent: 7, dead_lettered: 8 });
  // The aggregator's own count must never be what a check reads.
  result.aggregator.self_reported.duplicates_absorbed = 66;

  it.each<[CheckMetric, number]>([
    ['lost', 1],
    ['lost_unacked', 2],
    ['sink_duplicates', 3],
    ['unexpected', 4],
    ['dlq', 5],
    ['duplicates_absorbed', 6],
    ['never_sent', 7],
    ['dead_lettered', 8],
    ['committed_ratio', 0.75],
    ['p50_ms', result.latency.end_to_end.p50_ms],
    ['p99_ms', result.latency.end_to_end.p99_ms],
  ])('%s', (metric, expected) => {
    expect(metricValue(result, metric)).toBe(expected);
  });

  it('covers every check metric', () => {
    for (const metric of CHECK_METRICS) expect(Number.isFinite(metricValue(result, metric)), metric).toBe(true);
  });

  it('gives no latency for a run that committed nothing, so a latency bound fails instead of passing on 0 ms', () => {
    const nothing = fixture();
    nothing.latency.end_to_end = { ...nothing.latency.end_to_end, count: 0, p50_ms: 0, p99_ms: 0 };
    expect(metricValue(nothing, 'p50_ms')).toBeNull();
    expect(metricValue(nothing, 'p99_ms')).toBeNull();
    const checks: Check[] = [{ metric: 'p99_ms', op: '<', value: 50 }];
    expect(evaluateChecks(checks, nothing)).toEqual([{ ...checks[0], actual: null, passed: false }]);
    nothing.checks = evaluateChecks(checks, nothing);
    nothing.passed = false;
    expect(verdictLine(nothing)).toContain('p99_ms < 50 (was not measured)');
    expect(renderSummary(nothing)).toContain('latency not measured (no event committed)');
    expect(figuresOf(nothing).p99_ms).toBeNull();
  });

  it('gives a committed_ratio of 0, not NaN, when nothing was published', () => {
    const empty = fixture();
    Object.assign(empty.totals, { published: 0, unique_committed: 0 });
    expect(metricValue(empty, 'committed_ratio')).toBe(0);
  });
});

describe('evaluateChecks', () => {
  const result = fixture();
  result.totals.lost = 5;

  it.each<[CheckOp, number, boolean]>([
    ['==', 5, true],
    ['==', 4, false],
    ['<', 6, true],
    ['<', 5, false],
    ['<=', 5, true],
    ['<=', 4, false],
    ['>', 4, true],
    ['>', 5, false],
    ['>=', 5, true],
    ['>=', 6, false],
  ])('lost (5) %s %d → %s', (op, value, passed) => {
    const check: Check = { metric: 'lost', op, value };
    expect(evaluateChecks([check], result)).toEqual([{ ...check, actual: 5, passed }]);
  });

  it('keeps the order of the checks and evaluates each on its own', () => {
    const checks: Check[] = [
      { metric: 'lost', op: '==', value: 0 },
      { metric: 'p99_ms', op: '<', value: 1_000 },
      { metric: 'dlq', op: '==', value: 0 },
    ];
    expect(evaluateChecks(checks, result).map((c) => [c.metric, c.actual, c.passed])).toEqual([
      ['lost', 5, false],
      ['p99_ms', result.latency.end_to_end.p99_ms, true],
      ['dlq', 0, true],
    ]);
    expect(evaluateChecks([], result)).toEqual([]);
  });
});

describe("the run line's broker", () => {
  it('names the MQTT version and whether a client certificate and a password were used; says nothing of them for a result written before they were recorded', () => {
    const old = fixture();
    expect(old.broker.mqtt_version).toBeUndefined();
    expect(renderReport(old)).not.toMatch(/· MQTT /);
    const own = fixture();
    own.broker = { kind: 'external', url: 'mqtts://broker.example:8883', software: 'mosquitto version 2.0.11', mqtt_version: '5', client_certificate: true, password: true };
    expect(renderReport(own)).toContain('broker: external (mqtts://broker.example:8883) — mosquitto version 2.0.11 · MQTT 5 (client certificate, password) · ');
    own.broker = { ...own.broker, mqtt_version: '3.1.1', client_certificate: false, password: false };
    expect(renderReport(own)).toContain('mosquitto version 2.0.11 · MQTT 3.1.1 · ');
  });
});
