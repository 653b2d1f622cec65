import { describe, expect, it } from 'vitest';
import { decide, METRICS } from '../commands/gate/stats.ts';
import { decisionTable, GATE_SCHEMA, renderGate, type GateReport } from './gate.ts';

const stat = { floor: 0.1, confidence: 0.9, cvLimit: 0.3 };
const regression = decide({ ...stat, metric: METRICS.p99_ms, baseline: [10.1, 9.8, 10.3, 9.9, 10.0], candidate: [20.4, 19.6, 20.1, 20.8, 19.9] });
const flat = decide({ ...stat, metric: METRICS.committed_per_s, baseline: [1000, 1001, 999, 1000, 1002], candidate: [1000, 998, 1001, 1000, 999] });

function report(overrides: Partial<GateReport> = {}): GateReport {
  return {
    schema: GATE_SCHEMA,
    command: 'npm run gate -- --scenario smoke --baseline-set aggregator.batch_size=1',
    mode: 'interleaved',
    scenario: 'smoke',
    load: 'faults 400/s for 4 s',
    replicates: 5,
    baseline_label: 'candidate with --set aggregator.batch_size=1',
    candidate_label: 'this checkout',
    machine: { node: 'v20', platform: 'linux', arch: 'x64', cpus: 2, cpu_model: 'CPU', total_memory_gb: 4 },
    baseline_machine: null,
    git_sha: 'abcdef0123456789',
    baseline_git_sha: null,
    machine_load: { baseline: null, candidate: null },
    started_at: '2026-01-01T00:00:00.000Z',
    finished_at: '2026-01-01T00:01:00.000Z',
    runs: [],
    correctness: { promised: ['lost', 'sink_duplicates'], failures: [] },
    decisions: [regression, flat],
    aa: null,
    outcome: 'regression',
    exit: 1,
    message: 'p99_ms: regression',
    notes: [],
    ...overrides,
  };
}

describe('renderGate', () => {
  it('renders one row per metric with the estimate, interval, p-value, floor and verdict, then the rule', () => {
    const md = renderGate(report());
    expect(md.split('\n')[0]).toBe('❌ **gate FAILED: regression** — p99\\_ms: regression (exit 1)');
    expect(md).toContain('| metric | baseline median [range] | candidate median [range] | ratio (cand/base) | 90% CI | p-value (Mann-Whitney) | floor | CV base / cand | verdict |');
    expect(md).toMatch(/^\| p99\\_ms \| 10\.0 \[9\.80–10\.3\] \(n=5\) \| 20\.1 \[19\.6–20\.8\] \(n=5\) \| 2\.010× \| [\d.]+–[\d.]+ \| 0\.008 \| ±10% \| [\d.]+% \/ [\d.]+% \| \*\*❌ regression\*\* \|$/m);
    expect(md).toMatch(/^\| committed\\_per\\_s \| .* \*\*✅ no change\*\* \|$/m);
    expect(md).toContain("- Rule for p99\\_ms: regression when the candidate's median p99\\_ms is higher");
    expect(md).toContain("- Rule for committed\\_per\\_s: regression when the candidate's median committed\\_per\\_s is lower");
    expect(renderGate(report({ decisions: [regression] }))).toContain("- Rule: regression when the candidate's median p99\\_ms is higher");
    expect(md).toContain('Correctness: lost = 0, sink_duplicates = 0 in every run ✅');
  });

  it('lists correctness failures, invalid runs and a foreign baseline machine', () => {
    const md = renderGate(
      report({
        outcome: 'correctness-failure',
        correctness: { promised: ['lost'], failures: [{ side: 'candidate', pair: 0, replicate: 2, metric: 'lost', actual: 7 }] },
        runs: [{ order: 1, side: 'baseline', pair: 0, replicate: 1, out_dir: '/x', run_id: null, valid: false, invalid_reasons: [], error: 'broker down', figures: null, load_avg_1m: 1.5 }],
        baseline_machine: { node: 'v22', platform: 'linux', arch: 'arm64', cpus: 8, cpu_model: 'Other', total_memory_gb: 16 },
        notes: ['the baseline file was measured with other flags'],
      }),
    );
    expect(md).toContain('- ⚠️ the baseline file was measured with other flags');
    expect(md).toContain('gate FAILED: correctness');
    expect(md).toContain('  - candidate r2: lost = 7');
    expect(md).toContain('  - baseline r1: broker down');
    expect(md).toContain('measured on another machine (Other × 8');
  });

  it('renders the A/A summary', () => {
    const md = renderGate(
      report({
        mode: 'aa',
        outcome: 'aa-measured',
        exit: 0,
        aa: { pairs: 2, decided: 2, regressions: 1, improvements: 0, undecidable: 0, false_positive_rate: 0.5, any_difference_rate: 0.5, decisions: [regression, flat] },
      }),
    );
    expect(md).toContain('**A/A: 1 false regression in 2 pairs = false-positive rate 50%**');
    expect(md).toContain('| metric | A median [range] | B median [range] |');
  });

  it('shows — for an undecidable row without figures', () => {
    const d = decide({ ...stat, metric: METRICS.p99_ms, baseline: [10], candidate: [] });
    expect(decisionTable([d])).toMatch(/\| p99\\_ms \| 10\.0 \[10\.0–10\.0\] \(n=1\) \| — \(n=0\) \| — \| — \| — \| ±10% \| 0% \/ — \| \*\*⚠️ undecidable\*\* \|/);
  });
});
