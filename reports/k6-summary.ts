// A run's result as k6's end-of-test summary: the `data` object k6 hands to handleSummary() (the
// shape of k6 v0.30, when it came), as `JSON.stringify(data)` writes it — what k6 summary consumers
// such as k6-junit and k6-html-reporter read (docs/k6.md). Each check becomes a threshold of the k6
// metric it is (scenarios/k6-threshold.ts), with the run's own verdict as its `ok`; the metrics are
// the ledger's counts (Counters), committed_ratio (a Rate), recovery_s (a Gauge) and end-to-end and
// publish→PUBACK latency (Trends, ms). Pure: result in, object out.

import type { LatencySummary } from '../engine/metrics/histogram.ts';
import { metricValue, type RunResult } from '../engine/result.ts';
import { K6_CHECK_METRICS, k6ThresholdOf } from '../scenarios/k6-threshold.ts';
import type { CheckMetric } from '../scenarios/schema.ts';

/** The trend statistics written for each Trend (k6's summaryTrendStats), and the latency summary field of each. */
const TREND_STATS: [string, keyof LatencySummary][] = [
  ['avg', 'mean_ms'],
  ['min', 'min_ms'],
  ['med', 'p50_ms'],
  ['max', 'max_ms'],
  ['p(75)', 'p75_ms'],
  ['p(90)', 'p90_ms'],
  ['p(95)', 'p95_ms'],
  ['p(99)', 'p99_ms'],
  ['p(99.9)', 'p99_9_ms'],
  ['p(99.99)', 'p99_99_ms'],
];

/** The publish→PUBACK latency's name as a k6 Trend. */
export const PUBLISH_ACK_TREND = 'publish_ack_ms';

export interface K6SummaryMetric {
  type: 'counter' | 'rate' | 'gauge' | 'trend';
  contains: 'default' | 'time';
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

export interface K6Summary {
  root_group: { name: string; path: string; id: string; groups: unknown[]; checks: unknown[] };
  options: { summaryTrendStats: string[]; summaryTimeUnit: string; noColor: boolean };
  state: { isStdOutTTY: boolean; isStdErrTTY: boolean; testRunDurationMs: number };
  metrics: Record<string, K6SummaryMetric>;
}

function trend(latency: LatencySummary): K6SummaryMetric {
  return { type: 'trend', contains: 'time', values: Object.fromEntries(TREND_STATS.map(([stat, field]) => [stat, latency[field]])) };
}

export function k6Summary(result: RunResult): K6Summary {
  const seconds = result.duration_s > 0 ? result.duration_s : 1;
  const metrics: Record<string, K6SummaryMetric> = {};
  for (const metric of Object.keys(K6_CHECK_METRICS) as CheckMetric[]) {
    const { k6, type } = K6_CHECK_METRICS[metric];
    if (metrics[k6] !== undefined) continue;
    if (type === 'trend') metrics[k6] = trend(result.latency.end_to_end);
    else if (type === 'counter') {
      const count = metricValue(result, metric) ?? 0;
      metrics[k6] = { type, contains: 'default', values: { count, rate: count / seconds } };
    } else if (type === 'rate') {
      const { published, unique_committed } = result.totals;
      metrics[k6] = { type, contains: 'default', values: { rate: metricValue(result, metric) ?? 0, passes: unique_committed, fails: Math.max(0, published - unique_committed) } };
    } else {
      const value = metricValue(result, metric) ?? 0;
      metrics[k6] = { type, contains: 'default', values: { value, min: value, max: value } };
    }
  }
  metrics[PUBLISH_ACK_TREND] = trend(result.latency.publish_ack);
  metrics.published = { type: 'counter', contains: 'default', values: { count: result.totals.published, rate: result.totals.published / seconds } };
  metrics.unique_committed = { type: 'counter', contains: 'default', values: { count: result.totals.unique_committed, rate: result.totals.unique_committed / seconds } };
  // The run's own verdict on each check, as the threshold k6 would have written for it.
  for (const check of result.checks) {
    const { metric, expression } = k6ThresholdOf(check);
    const target = metrics[metric]!;
    const thresholds = (target.thresholds ??= {});
    thresholds[expression] = { ok: (thresholds[expression]?.ok ?? true) && check.passed };
  }
  return {
    root_group: { name: '', path: '', id: 'd41d8cd98f00b204e9800998ecf8427e', groups: [], checks: [] },
    options: { summaryTrendStats: TREND_STATS.map(([stat]) => stat), summaryTimeUnit: 'ms', noColor: true },
    state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs: Math.round(result.duration_s * 1000) },
    metrics,
  };
}

/** The summary as the file --summary-export writes. */
export function k6SummaryText(result: RunResult): string {
  return `${JSON.stringify(k6Summary(result), null, 2)}\n`;
}
