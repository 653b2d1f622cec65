// k6's threshold syntax for scenario checks, both ways: `{ metric: 'p99_ms', threshold: 'p(99)<50' }`
// is read into the check the harness evaluates (metric p99_ms, op <, value 50), and any check is
// written as the k6 metric and expression that say the same (for `npm run k6:export`'s thresholds
// and bench's --summary-export). One table says which k6 aggregation each check metric is. Pure.
//
// k6 writes a threshold as `AGGREGATION OPERATOR VALUE`: count (Counter), rate (Rate), value (Gauge),
// avg/min/med/max/p(N) (Trend); operators < <= > >= == === (and !=, which a check cannot say).

import type { Check, CheckMetric, CheckOp } from './schema.ts';

/** The k6 metric a check's metric belongs to, and the k6 metric type it is. */
export type K6MetricType = 'counter' | 'rate' | 'gauge' | 'trend';

/** The end-to-end latency as one k6 Trend (ms): every latency check metric is an aggregation of it. */
export const LATENCY_TREND = 'latency_ms';

/**
 * Every check metric as k6 sees it: its k6 metric name and type and the aggregations that mean it
 * (the first is the one written out). Counts are Counters, committed_ratio a Rate, recovery_s a
 * Gauge, the latency statistics aggregations of the one Trend `latency_ms`.
 */
export const K6_CHECK_METRICS: { [M in CheckMetric]: { k6: string; type: K6MetricType; aggregations: readonly string[] } } = {
  lost: { k6: 'lost', type: 'counter', aggregations: ['count'] },
  lost_unacked: { k6: 'lost_unacked', type: 'counter', aggregations: ['count'] },
  never_sent: { k6: 'never_sent', type: 'counter', aggregations: ['count'] },
  sink_duplicates: { k6: 'sink_duplicates', type: 'counter', aggregations: ['count'] },
  unexpected: { k6: 'unexpected', type: 'counter', aggregations: ['count'] },
  dlq: { k6: 'dlq', type: 'counter', aggregations: ['count'] },
  duplicates_absorbed: { k6: 'duplicates_absorbed', type: 'counter', aggregations: ['count'] },
  reordered: { k6: 'reordered', type: 'counter', aggregations: ['count'] },
  dead_lettered: { k6: 'dead_lettered', type: 'counter', aggregations: ['count'] },
  committed_ratio: { k6: 'committed_ratio', type: 'rate', aggregations: ['rate'] },
  recovery_s: { k6: 'recovery_s', type: 'gauge', aggregations: ['value', 'max'] },
  min_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['min'] },
  mean_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['avg'] },
  p50_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['p(50)', 'med'] },
  p75_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['p(75)'] },
  p90_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['p(90)'] },
  p95_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['p(95)'] },
  p99_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['p(99)'] },
  p99_9_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['p(99.9)'] },
  p99_99_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['p(99.99)'] },
  max_ms: { k6: LATENCY_TREND, type: 'trend', aggregations: ['max'] },
};

const K6_OPS: Record<string, CheckOp> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '==': '==', '===': '==' };
const EXPRESSION = /^\s*([a-z]+(?:\(\s*[0-9.]+\s*\))?)\s*(===|==|!=|<=|>=|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*$/i;

/** Names a check may give with a threshold: every check metric, and the latency Trend itself. */
export const THRESHOLD_METRICS: readonly string[] = [...Object.keys(K6_CHECK_METRICS), LATENCY_TREND];

/**
 * A check written as `{ metric, threshold }` → the check it means, or the problems (each naming
 * `path`'s field). `metric` is a check metric, whose aggregation must be one of its own
 * (p99_ms takes p(99)), or `latency_ms`, which takes any latency aggregation.
 */
export function parseThreshold(path: string, metric: unknown, threshold: unknown): { ok: true; check: Check } | { ok: false; problems: string[] } {
  const fail = (problem: string) => ({ ok: false as const, problems: [problem] });
  if (typeof threshold !== 'string') return fail(`${path}.threshold must be a k6 threshold expression such as 'p(99)<50' or 'count==0', got ${JSON.stringify(threshold)}`);
  if (typeof metric !== 'string' || !THRESHOLD_METRICS.includes(metric)) {
    return fail(`${path}.metric must be one of ${THRESHOLD_METRICS.join(', ')}, got ${JSON.stringify(metric)}`);
  }
  const match = EXPRESSION.exec(threshold);
  if (!match) return fail(`${path}.threshold: '${threshold}' is not a k6 threshold (AGGREGATION OPERATOR NUMBER, e.g. 'p(99)<50', 'rate>=0.999', 'count==0')`);
  const aggregation = match[1]!.replace(/\s+/g, '').toLowerCase();
  const op = K6_OPS[match[2]!];
  if (op === undefined) return fail(`${path}.threshold: operator ${match[2]} is not one a check can use (${Object.keys(K6_OPS).join(' ')})`);
  const candidates = (metric === LATENCY_TREND ? Object.keys(K6_CHECK_METRICS).filter((m) => K6_CHECK_METRICS[m as CheckMetric].k6 === LATENCY_TREND) : [metric]) as CheckMetric[];
  const resolved = candidates.find((m) => K6_CHECK_METRICS[m].aggregations.includes(aggregation));
  if (resolved === undefined) {
    const allowed = candidates.flatMap((m) => K6_CHECK_METRICS[m].aggregations);
    return fail(`${path}.threshold: ${metric} takes ${allowed.join(', ')}, got '${aggregation}'${metric !== LATENCY_TREND && K6_CHECK_METRICS[metric as CheckMetric].type === 'trend' ? ` (metric ${LATENCY_TREND} takes any latency aggregation)` : ''}`);
  }
  return { ok: true, check: { metric: resolved, op, value: Number(match[3]), threshold: threshold.trim() } };
}

/** The k6 metric and threshold expression a check is: its own expression when it was written as one. */
export function k6ThresholdOf(check: Check): { metric: string; type: K6MetricType; aggregation: string; expression: string } {
  const entry = K6_CHECK_METRICS[check.metric];
  const given = check.threshold === undefined ? undefined : EXPRESSION.exec(check.threshold)?.[1]?.replace(/\s+/g, '').toLowerCase();
  const aggregation = given !== undefined && entry.aggregations.includes(given) ? given : entry.aggregations[0]!;
  return { metric: entry.k6, type: entry.type, aggregation, expression: check.threshold ?? `${aggregation}${check.op}${check.value}` };
}
