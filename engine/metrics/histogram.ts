// Latency recorder: an HDR histogram of end-to-end latencies in microseconds (3 significant
// digits), with the summary, encoding and .hgrm text that result.json and the reports carry.
// A pure data structure (no clocks, no I/O): runners measure, this only records and merges, so
// per-worker and per-host histograms combine exactly (autocannon's aggregateResult does the same).
// It must never silently drop a sample: out-of-range values are clamped and counted, never skipped.

import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js';

export const LOWEST_DISCERNIBLE_US = 1;
/** Initial range only: the histogram resizes itself for anything slower than an hour. */
export const HIGHEST_TRACKABLE_US = 3_600_000_000;
export const SIGNIFICANT_DIGITS = 3;
/** Microseconds per millisecond: summaries and .hgrm output are in ms. */
const US_PER_MS = 1000;
// Float64 counts stay exact up to 2^53 and cannot overflow in a long merged run, unlike 32-bit
// counts; the plain JS backend needs no WebAssembly and no destroy(). About 190 KB per histogram.
const BIT_BUCKET_SIZE = 64;
// Percentile reporting points per halving of the remaining distance, as in HdrHistogram's own tools.
const HGRM_TICKS_PER_HALF_DISTANCE = 5;

export interface LatencySummary {
  count: number;
  min_ms: number;
  mean_ms: number;
  stdev_ms: number;
  p50_ms: number;
  p75_ms: number;
  p90_ms: number;
  p95_ms: number;
  p99_ms: number;
  p99_9_ms: number;
  p99_99_ms: number;
  max_ms: number;
}

function newHistogram(): Histogram {
  return build({
    bitBucketSize: BIT_BUCKET_SIZE,
    autoResize: true,
    lowestDiscernibleValue: LOWEST_DISCERNIBLE_US,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    useWebAssembly: false,
  });
}

export class LatencyRecorder {
  #histogram: Histogram = newHistogram();
  #clamped = 0;

  /**
   * Restores a recorder from encode()'s output (or any V2 compressed HDR histogram).
   * The `clamped` count is not part of the HDR encoding and restarts at 0.
   */
  static decode(encoded: string): LatencyRecorder {
    let histogram: Histogram;
    try {
      histogram = decodeFromCompressedBase64(encoded, BIT_BUCKET_SIZE, false);
    } catch (error) {
      throw new Error(`not a compressed base64 HDR histogram: ${(error as Error).message}`, { cause: error });
    }
    // Decoding does not restore autoResize; without it a later merge or record could throw.
    histogram.autoResize = true;
    const recorder = new LatencyRecorder();
    recorder.#histogram = histogram;
    return recorder;
  }

  /** Number of recorded samples. */
  get count(): number {
    return this.#histogram.totalCount;
  }

  /**
   * Samples that were negative and recorded as 1 µs. A negative latency means the clocks of the two
   * ends disagree; it is kept (dropping it would hide a sample) but counted, so a report can flag it.
   */
  get clamped(): number {
    return this.#clamped;
  }

  /** Value (µs) at a percentile in [0, 100]; 0 when empty. */
  valueAtPercentile(percentile: number): number {
    return this.#histogram.totalCount === 0 ? 0 : this.#histogram.getValueAtPercentile(percentile);
  }

  /** Records one latency; fractions are rounded to whole µs and anything below 1 µs counts as 1. */
  record(micros: number): void {
    this.#histogram.recordValue(this.#toRecordable(micros));
  }

  /**
   * Records a latency plus the samples a closed-loop caller missed while it waited (HdrHistogram's
   * at-recording coordinated-omission correction). Not for latencies already measured from an
   * intended send time (the open-model harness): those include the stall, and correcting them again
   * would count it twice.
   */
  recordCorrected(micros: number, expectedIntervalMicros: number): void {
    if (!Number.isFinite(expectedIntervalMicros) || expectedIntervalMicros < 0) {
      throw new RangeError(`expectedIntervalMicros must be a finite number >= 0, got ${expectedIntervalMicros}`);
    }
    this.#histogram.recordValueWithExpectedInterval(
      this.#toRecordable(micros),
      Math.round(expectedIntervalMicros),
    );
  }

  /** Forget every sample (the recorder is reused, e.g. for the next second of a timeline). */
  reset(): void {
    this.#histogram.reset();
    this.#clamped = 0;
  }

  /** Adds every sample of `other` to this recorder; `other` is unchanged. */
  merge(other: LatencyRecorder): void {
    this.#histogram.add(other.#histogram);
    this.#clamped += other.#clamped;
  }

  /**
   * The recorded distribution as (value, count) pairs in increasing order of value, each value the
   * median-equivalent of its bucket (µs): what moment statistics beyond the stdev are computed from.
   */
  buckets(): { value_us: number; count: number }[] {
    const histogram = this.#histogram as unknown as {
      recordedValuesIterator: { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAddedInThisIterationStep: number } };
      medianEquivalentValue(value: number): number;
    };
    const out: { value_us: number; count: number }[] = [];
    const iterator = histogram.recordedValuesIterator;
    iterator.reset();
    while (iterator.hasNext()) {
      const step = iterator.next();
      if (step.countAddedInThisIterationStep > 0) out.push({ value_us: histogram.medianEquivalentValue(step.valueIteratedTo), count: step.countAddedInThisIterationStep });
    }
    return out;
  }

  summary(): LatencySummary {
    const histogram = this.#histogram;
    const count = histogram.totalCount;
    if (count === 0) {
      return {
        count: 0, min_ms: 0, mean_ms: 0, stdev_ms: 0, p50_ms: 0, p75_ms: 0, p90_ms: 0,
        p95_ms: 0, p99_ms: 0, p99_9_ms: 0, p99_99_ms: 0, max_ms: 0,
      };
    }
    const at = (percentile: number): number => histogram.getValueAtPercentile(percentile) / US_PER_MS;
    // Mean and stdev come out as fractions of a µs; more digits than the data has would be noise.
    const toMs = (micros: number): number => Math.round(micros) / US_PER_MS;
    return {
      count,
      // Min and max are read like every percentile (the bucket's lowest / highest equivalent value)
      // rather than from the raw extremes, so a summary is identical after encode/decode or merge.
      min_ms: at(0),
      mean_ms: toMs(histogram.mean),
      stdev_ms: toMs(histogram.stdDeviation),
      p50_ms: at(50),
      p75_ms: at(75),
      p90_ms: at(90),
      p95_ms: at(95),
      p99_ms: at(99),
      p99_9_ms: at(99.9),
      p99_99_ms: at(99.99),
      max_ms: at(100),
    };
  }

  /** Compressed base64 (HdrHistogram V2 encoding), readable by every HdrHistogram implementation. */
  encode(): string {
    return encodeIntoCompressedBase64(this.#histogram);
  }

  /** HdrHistogram's percentile distribution text (.hgrm), values in ms, for HdrHistogram's plotter. */
  toHgrm(): string {
    return this.#histogram.outputPercentileDistribution(HGRM_TICKS_PER_HALF_DISTANCE, US_PER_MS);
  }

  #toRecordable(micros: number): number {
    // NaN, infinities or values beyond 2^53 µs (285 years) are bugs in the caller, not latencies;
    // recording them would corrupt every percentile or make the histogram resize without bound.
    if (!Number.isFinite(micros) || micros > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`latency must be a finite number of microseconds, got ${micros}`);
    }
    if (micros < 0) this.#clamped += 1;
    return Math.max(LOWEST_DISCERNIBLE_US, Math.round(micros));
  }
}
