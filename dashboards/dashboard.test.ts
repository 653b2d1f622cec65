// The Grafana dashboard (dashboards/chaosbench.grafana.json) against the metrics the code registers:
// every PromQL expression parses (promtool, from Debian's prometheus package, checks them as
// recording rules), every metric it names is one the registries hold (read from them, not a hand
// list: a histogram's series are its _bucket, _sum and _count), and every registered metric is on
// some panel.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aggregatorMetrics } from '../aggregator/metrics/registry.ts';
import { RunMetrics } from '../engine/metrics/run-metrics.ts';
import { tempDir } from '../test-support/temp-dirs.ts';

const DASHBOARD = new URL('./chaosbench.grafana.json', import.meta.url);

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

/** Every panel's expressions, rows' panels included. */
function expressions(panels: readonly Panel[]): { panel: string; expr: string }[] {
  return panels.flatMap((panel) => [...(panel.targets ?? []).map(({ expr }) => ({ panel: panel.title, expr })), ...expressions(panel.panels ?? [])]);
}

/** Grafana's variables in an expression, as PromQL durations, so that promtool can parse it. */
const withoutVariables = (expr: string) => expr.replace(/\$__(rate_interval|interval|range)/g, '1m');

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan']);

/**
 * The metric names an expression selects: identifiers left once strings, label matchers ({…}),
 * ranges ([…]), grouping clauses (by/without/on/ignoring (…)), function calls and keywords are out.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w:.])[A-Za-z_:][\w:]*(?=\s*(\()?)/g)) {
    if (match[1] !== undefined || KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

/** The series names each registered metric exports, by metric. */
async function registered(): Promise<Map<string, string[]>> {
  const registries = [aggregatorMetrics(() => ({ counters: undefined, in_flight: 0, lag_s: 0 })).registry, new RunMetrics().registry];
  const series = new Map<string, string[]>();
  for (const registry of registries) {
    for (const { name, type } of await registry.getMetricsAsJSON()) {
      series.set(name, String(type) === 'histogram' ? ['bucket', 'sum', 'count'].map((suffix) => `${name}_${suffix}`) : [name]);
    }
  }
  return series;
}

describe('dashboards/chaosbench.grafana.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const exprs = expressions(dashboard.panels);
  const dir = tempDir('dashboard');

  it('names metrics in the expressions as PromQL does', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="x"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('rate(a_sum[1m]) / rate(a_count[1m]) and on (role) b == 1')).toEqual(['a_sum', 'a_count', 'b']);
  });

  it('every expression parses (promtool check rules)', () => {
    expect(exprs.length).toBeGreaterThan(0);
    const rules = join(dir, 'dashboard-rules.yml');
    const lines = ['groups:', '  - name: dashboard', '    rules:'];
    exprs.forEach(({ expr }, i) => lines.push(`      - record: dashboard:expr_${i}`, `        expr: ${JSON.stringify(withoutVariables(expr))}`));
    writeFileSync(rules, `${lines.join('\n')}\n`);
    const check = spawnSync(process.env.PROMTOOL ?? 'promtool', ['check', 'rules', rules], { encoding: 'utf8' });
    if (check.error) throw new Error(`promtool is missing: install Debian's prometheus package (apt-get install prometheus; .ci/run does) or set PROMTOOL (${check.error.message})`);
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });

  it('every metric a panel names is one the code registers', async () => {
    const known = new Set([...(await registered()).values()].flat());
    const unknown = exprs.flatMap(({ panel, expr }) => metricNames(expr).filter((name) => !known.has(name)).map((name) => `${name} (panel "${panel}")`));
    expect(unknown).toEqual([]);
  });

  it('every metric the code registers is on some panel', async () => {
    const used = new Set(exprs.flatMap(({ expr }) => metricNames(expr)));
    const missing = [...(await registered())].filter(([, series]) => !series.some((name) => used.has(name))).map(([name]) => name);
    expect(missing).toEqual([]);
    expect((await registered()).size).toBeGreaterThan(20);
  });
});
