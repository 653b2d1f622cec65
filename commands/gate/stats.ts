// The statistics of `npm run gate`: pure, deterministic (all randomness from a seeded generator),
// for a handful of replicates per side. Two tests agree before a difference is called real — the
// Mann-Whitney U test (ranks: no assumption about the shape of the distribution) and a bootstrap
// confidence interval of the ratio of medians — and the difference must also be larger than an
// effect-size floor, so that a significant but trivial shift never fails a build.

import { seededRandom, type Random } from '../../aggregator/random.ts';
import { summarize, type Summary } from '../campaign/summary.ts';

/** Above this many arrangements (C(m+n, m)) the exact U distribution gives way to the normal approximation. */
const EXACT_LIMIT = 1_000_000;

export interface MannWhitney {
  /** U of the second sample (candidate): how many (a, b) pairs have b > a, ties counting one half. */
  u: number;
  /** Two-sided p-value. */
  p_value: number;
  /** exact: the permutation distribution of U (no ties, small samples); normal: the approximation with tie and continuity corrections. */
  method: 'exact' | 'normal';
}

/** Midranks (1-based) of the values; ties share the mean of their ranks. Also the tie-group sizes. */
export function ranks(values: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(values.length);
  const ties: number[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) out[order[k]![1]] = rank;
    if (j > i) ties.push(j - i + 1);
    i = j + 1;
  }
  return { ranks: out, ties };
}

/** Binomial coefficient as a float (exact for the sizes used here). */
function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

/** Counts of every U value 0 … m·n over all arrangements of m and n untied values. */
function exactUCounts(m: number, n: number): number[] {
  // f[i][j][u] = f[i-1][j][u-j] + f[i][j-1][u]: the largest value belongs to the first sample (it beats j) or to the second.
  let prev: number[][] = [];
  for (let i = 0; i <= m; i++) {
    const row: number[][] = [];
    for (let j = 0; j <= n; j++) {
      const counts = new Array<number>(i * j + 1).fill(0);
      if (i === 0 || j === 0) counts[0] = 1;
      else {
        const a = prev[j]!;
        const b = row[j - 1]!;
        for (let u = 0; u < counts.length; u++) counts[u] = (u - j >= 0 && u - j < a.length ? a[u - j]! : 0) + (u < b.length ? b[u]! : 0);
      }
      row.push(counts);
    }
    prev = row;
  }
  return prev[n]!;
}

/** erfc with fractional error below 1.2e-7 (Numerical Recipes' Chebyshev fit). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(Z > z) for a standard normal Z. */
export function normalUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Two-sided Mann-Whitney U test of a (baseline) against b (candidate). */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitney {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) throw new Error('mannWhitneyU: both samples need at least one value');
  const { ranks: r, ties } = ranks([...a, ...b]);
  const rankSumB = r.slice(m).reduce((s, x) => s + x, 0);
  const u = rankSumB - (n * (n + 1)) / 2;
  if (ties.length === 0 && choose(m + n, m) <= EXACT_LIMIT) {
    const counts = exactUCounts(m, n);
    const total = counts.reduce((s, c) => s + c, 0);
    let below = 0;
    let above = 0;
    for (let k = 0; k < counts.length; k++) {
      if (k <= u) below += counts[k]!;
      if (k >= u) above += counts[k]!;
    }
    return { u, p_value: Math.min(1, (2 * Math.min(below, above)) / total), method: 'exact' };
  }
  const N = m + n;
  const tieTerm = ties.reduce((s, t) => s + t ** 3 - t, 0);
  const variance = ((m * n) / 12) * (N + 1 - tieTerm / (N * (N - 1)));
  if (variance <= 0) return { u, p_value: 1, method: 'normal' };
  const mean = (m * n) / 2;
  const diff = Math.max(0, Math.abs(u - mean) - 0.5);
  return { u, p_value: Math.min(1, 2 * normalUpperTail(diff / Math.sqrt(variance))), method: 'normal' };
}

/** Median of a sorted array (mean of the middle two for an even length). */
function sortedMedian(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  return sortedMedian([...values].sort((x, y) => x - y));
}

/** Sample standard deviation over the mean (n − 1 in the denominator); 0 for fewer than 2 values, Infinity for a zero mean with spread. */
export function coefficientOfVariation(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  if (variance === 0) return 0;
  return mean === 0 ? Infinity : Math.sqrt(variance) / Math.abs(mean);
}

/** Linear-interpolated quantile of sorted values (type 7). */
function quantile(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export interface BootstrapOptions {
  confidence: number;
  resamples?: number;
  seed?: number;
}

export const DEFAULT_RESAMPLES = 2_000;
export const DEFAULT_BOOTSTRAP_SEED = 0x6a7e;

/**
 * Percentile bootstrap interval of median(candidate) / median(baseline): both samples resampled
 * with replacement, independently, `resamples` times, from a seeded generator. The estimate is the
 * ratio of the observed medians. Null when a baseline median is 0 (no ratio).
 */
export function bootstrapRatioOfMedians(
  baseline: readonly number[],
  candidate: readonly number[],
  options: BootstrapOptions,
): { estimate: number; interval: [number, number] } | null {
  if (baseline.length === 0 || candidate.length === 0) return null;
  const b0 = median(baseline);
  if (b0 === 0) return null;
  const estimate = median(candidate) / b0;
  const random: Random = seededRandom(options.seed ?? DEFAULT_BOOTSTRAP_SEED);
  const resamples = options.resamples ?? DEFAULT_RESAMPLES;
  const draw = (values: readonly number[], into: number[]) => {
    for (let i = 0; i < values.length; i++) into[i] = values[Math.floor(random() * values.length)]!;
    into.sort((x, y) => x - y);
    return sortedMedian(into);
  };
  const bufB = new Array<number>(baseline.length);
  const bufC = new Array<number>(candidate.length);
  const ratios: number[] = [];
  for (let k = 0; k < resamples; k++) {
    const mb = draw(baseline, bufB);
    const mc = draw(candidate, bufC);
    if (mb !== 0) ratios.push(mc / mb);
  }
  if (ratios.length === 0) return null;
  ratios.sort((x, y) => x - y);
  const tail = (1 - options.confidence) / 2;
  return { estimate, interval: [quantile(ratios, tail), quantile(ratios, 1 - tail)] };
}

export type Verdict = 'regression' | 'improvement' | 'no-change' | 'undecidable';

export interface GateMetric {
  /** As in result.json terms: p99_ms, p50_ms, committed_per_s. */
  name: string;
  /** Latency: lower is better (a ratio above 1 is worse); throughput: higher is better. */
  better: 'lower' | 'higher';
}

export const METRICS = {
  p99_ms: { name: 'p99_ms', better: 'lower' },
  p50_ms: { name: 'p50_ms', better: 'lower' },
  committed_per_s: { name: 'committed_per_s', better: 'higher' },
} as const satisfies Record<string, GateMetric>;

export interface DecideInput {
  baseline: readonly number[];
  candidate: readonly number[];
  metric: GateMetric;
  /** Effect-size floor as a fraction: 0.1 = a change of 10 % of the baseline median. */
  floor: number;
  /** 0.9: p ≤ 0.10 and a 90 % interval. */
  confidence: number;
  /** Largest coefficient of variation either side may have for a decision. */
  cvLimit: number;
  resamples?: number;
  seed?: number;
}

export interface Decision {
  metric: string;
  verdict: Verdict;
  /** median(candidate) / median(baseline); null when there is none. */
  estimate: number | null;
  interval: [number, number] | null;
  p_value: number | null;
  test: MannWhitney['method'] | null;
  baseline: Summary | null;
  candidate: Summary | null;
  cv: { baseline: number | null; candidate: number | null };
  floor: number;
  confidence: number;
  cv_limit: number;
  /** Why this verdict, in one sentence. */
  reason: string;
  /** The decision rule in words (the same for every verdict). */
  rule: string;
}

const pctText = (x: number) => `${+(x * 100).toFixed(2)}%`;

export function ruleText(metric: GateMetric, floor: number, confidence: number, cvLimit: number): string {
  const worse = metric.better === 'lower' ? 'higher' : 'lower';
  return (
    `regression when the candidate's median ${metric.name} is ${worse} than the baseline's by more than ${pctText(floor)} ` +
    `AND the difference is significant at ${pctText(confidence)} confidence by both a two-sided Mann-Whitney U test (p ≤ ${+(1 - confidence).toFixed(4)}) ` +
    `and a bootstrap ${pctText(confidence)} interval of the ratio of medians that excludes 1; ` +
    `undecidable (never a pass) when either side has fewer than 2 runs, or when there is no such regression but either side's coefficient of variation exceeds ${pctText(cvLimit)} (too noisy to rule one out)`
  );
}

/** The gate's decision for one metric. */
export function decide(input: DecideInput): Decision {
  const { metric, floor, confidence, cvLimit } = input;
  const baseline = input.baseline.filter(Number.isFinite);
  const candidate = input.candidate.filter(Number.isFinite);
  const rule = ruleText(metric, floor, confidence, cvLimit);
  const cvB = baseline.length > 0 ? coefficientOfVariation(baseline) : null;
  const cvC = candidate.length > 0 ? coefficientOfVariation(candidate) : null;
  const base = {
    metric: metric.name,
    baseline: summarize(baseline),
    candidate: summarize(candidate),
    cv: { baseline: cvB, candidate: cvC },
    floor,
    confidence,
    cv_limit: cvLimit,
    rule,
  };
  const undecidable = (reason: string, extra: Partial<Decision> = {}): Decision => ({
    ...base,
    verdict: 'undecidable',
    estimate: null,
    interval: null,
    p_value: null,
    test: null,
    reason,
    ...extra,
  });
  if (baseline.length < 2 || candidate.length < 2) return undecidable(`too few runs with a ${metric.name}: baseline ${baseline.length}, candidate ${candidate.length} (at least 2 each)`);

  const boot = bootstrapRatioOfMedians(baseline, candidate, { confidence, resamples: input.resamples ?? DEFAULT_RESAMPLES, seed: input.seed ?? DEFAULT_BOOTSTRAP_SEED });
  const mw = mannWhitneyU(baseline, candidate);
  const stats = { estimate: boot?.estimate ?? null, interval: boot?.interval ?? null, p_value: mw.p_value, test: mw.method };
  if (!boot) return undecidable(`the baseline median ${metric.name} is 0: no ratio`, stats);
  // Noise makes a significant difference harder to reach, not easier (the tests control false
  // positives), so a clear regression stands whatever the spread; but a noisy "no change" may be a
  // regression the runs were too few or too spread to see: that is undecidable, never a pass.
  const noisy = [cvB! > cvLimit ? `baseline CV ${pctText(cvB!)}` : '', cvC! > cvLimit ? `candidate CV ${pctText(cvC!)}` : ''].filter(Boolean);
  const tooNoisy = (verdictText: string) =>
    undecidable(`too noisy to decide: ${noisy.join(' and ')} above the limit of ${pctText(cvLimit)} (without the noise: ${verdictText})`, stats);

  const alpha = 1 - confidence;
  const [lo, hi] = boot.interval;
  const significant = mw.p_value <= alpha + 1e-12 && (lo > 1 || hi < 1);
  // Signed relative change towards worse: +0.25 = 25 % worse, whatever the metric's direction.
  const worse = metric.better === 'lower' ? boot.estimate - 1 : 1 - boot.estimate;
  const change = `ratio ${boot.estimate.toFixed(3)} (${pctText(confidence)} CI ${lo.toFixed(3)}–${hi.toFixed(3)}, p = ${mw.p_value.toPrecision(3)})`;
  if (!significant) {
    const why = mw.p_value > alpha ? `p = ${mw.p_value.toPrecision(3)} > ${+alpha.toFixed(4)}` : `the interval ${lo.toFixed(3)}–${hi.toFixed(3)} contains 1`;
    const reason = `not significant: ${why}; ${change}`;
    return noisy.length > 0 ? tooNoisy(`no change, ${reason}`) : { ...base, ...stats, verdict: 'no-change', reason };
  }
  if (Math.abs(worse) <= floor) {
    const reason = `significant but within the ${pctText(floor)} floor: ${change}`;
    return noisy.length > 0 ? tooNoisy(`no change, ${reason}`) : { ...base, ...stats, verdict: 'no-change', reason };
  }
  const verdict: Verdict = worse > 0 ? 'regression' : 'improvement';
  const reason = `${metric.name} ${pctText(Math.abs(worse))} ${worse > 0 ? 'worse' : 'better'}, beyond the ${pctText(floor)} floor and significant: ${change}`;
  if (verdict === 'improvement' && noisy.length > 0) return tooNoisy(`improvement, ${reason}`);
  return { ...base, ...stats, verdict, reason: noisy.length > 0 ? `${reason} (despite ${noisy.join(' and ')})` : reason };
}
