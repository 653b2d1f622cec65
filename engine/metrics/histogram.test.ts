import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HIGHEST_TRACKABLE_US, LatencyRecorder } from './histogram.ts';

function recorderOf(values: readonly number[]): LatencyRecorder {
  const recorder = new LatencyRecorder();
  for (const value of values) recorder.record(value);
  return recorder;
}

/** Nearest-rank percentile of sorted data, the definition HdrHistogram approximates. */
function exactPercentile(sorted: readonly number[], percentile: number): number {
  const rank = Math.max(1, Math.ceil((percentile / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** The .hgrm percentile lines, without the footer (which prints the raw, not bucketed, max). */
function hgrmBody(recorder: LatencyRecorder): string {
  return recorder.toHgrm().split('\n').filter((line) => !line.startsWith('#[')).join('\n');
}

describe('LatencyRecorder', () => {
  it('reports percentiles of 1..10000 µs within 3 significant digits, never below the exact value', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => i + 1);
    const summary = recorderOf(values).summary();
    const checked: Array<[keyof typeof summary, number]> = [
      ['p50_ms', 50], ['p75_ms', 75], ['p90_ms', 90], ['p95_ms', 95], ['p99_ms', 99],
      ['p99_9_ms', 99.9], ['p99_99_ms', 99.99], ['max_ms', 100],
    ];
    for (const [key, percentile] of checked) {
      const exact_ms = exactPercentile(values, percentile) / 1000;
      expect(summary[key], key).toBeGreaterThanOrEqual(exact_ms);
      expect(summary[key], key).toBeLessThanOrEqual(exact_ms * 1.001);
    }
    expect(summary.count).toBe(10_000);
    expect(summary.min_ms).toBe(0.001);
    expect(summary.mean_ms).toBeCloseTo(5.0005, 2);
    expect(summary.stdev_ms).toBeCloseTo(2.887, 2);
    // Known HdrHistogram answers: each value is its bucket's highest equivalent, in ms to the µs.
    expect(summary.p50_ms).toBe(5.003);
    expect(summary.p99_ms).toBe(9.903);
    expect(summary.max_ms).toBe(10.007);
  });

  it('is exact below 2048 µs', () => {
    const summary = recorderOf([100, 200, 300, 400, 2000]).summary();
    expect(summary).toMatchObject({ count: 5, min_ms: 0.1, p50_ms: 0.3, p75_ms: 0.4, max_ms: 2, mean_ms: 0.6 });
  });

  it('gives an all-zero summary when empty', () => {
    const summary = new LatencyRecorder().summary();
    expect(summary.count).toBe(0);
    for (const value of Object.values(summary)) expect(value).toBe(0);
  });

  it('records values below 1 µs as 1 µs, counting only negative ones as clamped', () => {
    const recorder = recorderOf([-5, -0.2, 0, 0.4]);
    expect(recorder.count).toBe(4);
    expect(recorder.clamped).toBe(2);
    expect(recorder.summary()).toMatchObject({ min_ms: 0.001, max_ms: 0.001 });
  });

  it('rounds fractional microseconds', () => {
    expect(recorderOf([1.6]).summary().max_ms).toBe(0.002);
    expect(recorderOf([1.4]).summary().max_ms).toBe(0.001);
  });

  it('throws on values that are not latencies', () => {
    const recorder = new LatencyRecorder();
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 60]) {
      expect(() => recorder.record(bad)).toThrow(RangeError);
    }
    expect(recorder.count).toBe(0);
  });

  it('grows beyond its initial range instead of failing', () => {
    const two_hours_us = 2 * HIGHEST_TRACKABLE_US;
    const summary = recorderOf([10, two_hours_us]).summary();
    expect(summary.count).toBe(2);
    expect(summary.max_ms).toBeGreaterThanOrEqual(two_hours_us / 1000);
    expect(summary.max_ms).toBeLessThanOrEqual((two_hours_us / 1000) * 1.001);
  });

  it('recordCorrected fills in the samples a stalled closed-loop caller missed', () => {
    const recorder = new LatencyRecorder();
    recorder.recordCorrected(1000, 100); // 1000, 900, ..., 100
    expect(recorder.count).toBe(10);
    expect(recorder.summary()).toMatchObject({ min_ms: 0.1, max_ms: 1 });
    expect(() => recorder.recordCorrected(10, -1)).toThrow(RangeError);
  });

  describe('encode / decode', () => {
    it('preserves count, p99 and the whole summary exactly', () => {
      const values = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 250_000 + 1);
      const original = recorderOf(values);
      const decoded = LatencyRecorder.decode(original.encode());
      expect(decoded.count).toBe(original.count);
      expect(decoded.summary().p99_ms).toBe(original.summary().p99_ms);
      expect(decoded.summary()).toEqual(original.summary());
      expect(hgrmBody(decoded)).toBe(hgrmBody(original));
    });

    it('round-trips an empty recorder', () => {
      const decoded = LatencyRecorder.decode(new LatencyRecorder().encode());
      expect(decoded.count).toBe(0);
      expect(decoded.summary().max_ms).toBe(0);
    });

    it('gives a recorder that can still record and merge beyond its range', () => {
      const decoded = LatencyRecorder.decode(recorderOf([5]).encode());
      decoded.record(3 * HIGHEST_TRACKABLE_US);
      decoded.merge(recorderOf([4 * HIGHEST_TRACKABLE_US]));
      expect(decoded.count).toBe(3);
    });

    it('rejects text that is not an encoded histogram', () => {
      expect(() => LatencyRecorder.decode('garbage')).toThrow(/not a compressed base64 HDR histogram/);
    });
  });

  it('merge equals recording every value into one recorder (property)', () => {
    const latency = fc.oneof(
      fc.integer({ min: -1000, max: 3 * HIGHEST_TRACKABLE_US }),
      fc.integer({ min: 1, max: 5000 }),
      fc.double({ min: -10, max: 1e7, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(latency, { maxLength: 200 }), fc.array(latency, { maxLength: 200 }), (a, b) => {
        const merged = recorderOf(a);
        const right = recorderOf(b);
        const rightBefore = right.encode();
        merged.merge(right);
        const single = recorderOf([...a, ...b]);
        expect(merged.count).toBe(single.count);
        expect(merged.clamped).toBe(single.clamped);
        expect(merged.summary()).toEqual(single.summary());
        expect(hgrmBody(merged)).toBe(hgrmBody(single));
        // The argument of merge is left as it was.
        expect(right.encode()).toBe(rightBefore);
      }),
      // Each run sums and iterates histograms resized to ~26k buckets; 40 runs keep this under 2 s.
      { numRuns: 40 },
    );
  });

  describe('toHgrm', () => {
    it('prints the HdrHistogram percentile distribution in ms with its header and footer', () => {
      const text = recorderOf(Array.from({ length: 10_000 }, (_, i) => i + 1)).toHgrm();
      const lines = text.split('\n');
      expect(lines[0]).toBe('       Value     Percentile TotalCount 1/(1-Percentile)');
      expect(text).toContain('#[Mean    =        5.001, StdDeviation   =        2.887]');
      expect(text).toContain('#[Max     =       10.000, Total count    =        10000]');
      // Last percentile line: the max bucket in ms, at percentile 1.0.
      expect(lines).toContain('      10.007 1.000000000000      10000');
    });

    it('prints only header and footer when empty', () => {
      const text = new LatencyRecorder().toHgrm();
      expect(text).toMatch(/^ +Value +Percentile TotalCount 1\/\(1-Percentile\)\n\n#\[Mean/);
    });
  });
});
