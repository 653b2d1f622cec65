// Summary statistics of a campaign's handful of replicates (median, range, quartiles, ratios):
// pure; compare's per-variant summary, the gate's statistics and machine load, and the tables
// their renderers show are made with them. With 3 to 10 replicates per variant the median and the full range say more
// than a mean and a standard deviation, which one outlier run would drag.

import { max, median, min, quantileSorted } from 'simple-statistics';

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  /** First and third quartiles (linear interpolation between order statistics: R's type 7, numpy's default). */
  q1: number;
  q3: number;
  iqr: number;
}

/** Median, min, max and quartiles of the finite values; null when there are none. */
export function summarize(values: readonly (number | null | undefined)[]): Summary | null {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  return { n: sorted.length, median: median(sorted), min: min(sorted), max: max(sorted), q1, q3, iqr: q3 - q1 };
}

/** a / b, or null when either is missing or b is 0 (a ratio to nothing is not a figure). */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/** Do the closed ranges [a.min, a.max] and [b.min, b.max] share a point? */
export function rangesOverlap(a: Pick<Summary, 'min' | 'max'>, b: Pick<Summary, 'min' | 'max'>): boolean {
  return a.min <= b.max && b.min <= a.max;
}
