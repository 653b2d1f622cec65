// Table 6: the dedup TTL window. A duplicate that arrives after its original's claim has expired
// passes dedup; how many do depends on how late duplicates come (their delay distribution) and how
// long the store remembers (its TTL), and remembering longer costs store size. Each row is one real
// run (broker, reference aggregator with the in-memory store, append-only sink so every leaked copy
// becomes a second row the ledger counts); the prediction is the distribution's tail beyond the TTL.
// This module runs and tabulates; it must not type in any number of the findings.

import { DEFAULT_LOAD } from '../../scenarios/defaults.ts';
import { DUPLICATE_EXPONENTIAL_CAP, type DuplicateFault, type Phase, type Scenario } from '../../scenarios/schema.ts';
import { duplicateDelayBeyond } from '../../engine/faults/duplicate.ts';
import { ESTIMATED_BYTES_PER_CLAIM } from '../../aggregator/dedup/memory.ts';
import { WARMUP_PHASE } from '../../engine/run.ts';
import { theoryRun, theoryScenario } from './runs.ts';
import type { TheoryCell, TheoryColumn, TheoryContext, TheoryExperiment, TheoryTable } from './types.ts';

export interface DedupTtlOptions {
  /** One run per TTL of the in-memory dedup store. */
  ttls_ms: number[];
  /** Original events per second over all publishers. */
  rate: number;
  /** Length of the phase with duplicates (measured). */
  duration_s: number;
  /** Fault-free warm-up before it (0: none). */
  warmup_s: number;
  /** Share of events published again with the same event_id. */
  fraction: number;
  /** How late the copies come: fixed delay / upper bound / mean, per DuplicateFault. */
  delay_ms: number;
  delay_distribution: NonNullable<DuplicateFault['delay_distribution']>;
}

export const DEFAULT_DEDUP_TTL_OPTIONS: DedupTtlOptions = {
  ttls_ms: [100, 300, 1_000, 3_000, 10_000],
  rate: 1_000,
  duration_s: 8,
  warmup_s: 1,
  fraction: 0.25,
  delay_ms: 1_000,
  delay_distribution: 'exponential',
};

/** What one run gave, before it becomes a row. */
export interface DedupTtlMeasurement {
  ttl_ms: number;
  copies: number;
  leaked: number;
  /** P(delay > TTL) under the fault's distribution. */
  predicted_share: number;
  entries_peak: number | null;
  entries_final: number | null;
  bytes_peak: number | null;
  lost: number;
  valid: boolean;
}

/** Every copy delayed (none immediate) and sent from the original's connection: only the delay varies. */
export function duplicateSpec(options: DedupTtlOptions): DuplicateFault {
  return {
    kind: 'duplicate',
    fraction: options.fraction,
    immediate_share: 0,
    delay_ms: options.delay_ms,
    other_connection_share: 0,
    delay_distribution: options.delay_distribution,
  };
}

export function dedupTtlScenario(seed: number, options: DedupTtlOptions, ttlMs: number): Scenario {
  const phases: Phase[] = [
    ...(options.warmup_s > 0 ? [{ name: WARMUP_PHASE, duration_s: options.warmup_s, rate: options.rate, faults: [] }] : []),
    { name: 'late-copies', duration_s: options.duration_s, rate: options.rate, faults: [duplicateSpec(options)] },
  ];
  // append: a copy that gets past dedup is written as a second row, which the ledger counts.
  return theoryScenario(`dedup-ttl-${ttlMs}ms`, seed, phases, { aggregator: { dedup: 'memory', dedup_ttl_ms: ttlMs, sink_mode: 'append' } });
}

export async function measureDedupTtl(context: TheoryContext, options: DedupTtlOptions): Promise<DedupTtlMeasurement[]> {
  const spec = duplicateSpec(options);
  const measurements: DedupTtlMeasurement[] = [];
  for (const ttlMs of options.ttls_ms) {
    const result = await theoryRun(context, `ttl-${ttlMs}ms`, dedupTtlScenario(context.seed, options, ttlMs));
    const store = result.aggregator.self_reported.dedup_store;
    measurements.push({
      ttl_ms: ttlMs,
      copies: result.totals.copies_published,
      leaked: result.totals.sink_duplicates,
      predicted_share: duplicateDelayBeyond(spec, ttlMs),
      entries_peak: store?.entries_peak ?? null,
      entries_final: store?.entries ?? null,
      bytes_peak: store?.bytes_peak ?? null,
      lost: result.totals.lost,
      valid: result.valid,
    });
  }
  return measurements;
}

export const DEDUP_TTL_COLUMNS: TheoryColumn[] = [
  { key: 'ttl_ms', label: 'dedup TTL (ms)', format: 'ms' },
  { key: 'copies', label: 'duplicates injected', format: 'int' },
  { key: 'leaked', label: 'leaked into the sink', format: 'int' },
  { key: 'leaked_share', label: 'leaked, share of duplicates', format: 'pct' },
  { key: 'predicted_share', label: 'predicted: delay beyond the TTL', format: 'pct' },
  { key: 'entries_peak', label: 'store entries (peak)', format: 'int' },
  { key: 'size_peak_kb', label: 'store size (peak, KB, estimated)', format: 'float' },
];

export function dedupTtlRows(measurements: readonly DedupTtlMeasurement[]): Record<string, TheoryCell>[] {
  return measurements.map((m) => ({
    ttl_ms: m.ttl_ms,
    copies: m.copies,
    leaked: m.leaked,
    leaked_share: m.copies > 0 ? m.leaked / m.copies : null,
    predicted_share: m.predicted_share,
    entries_peak: m.entries_peak,
    size_peak_kb: m.bytes_peak === null ? null : m.bytes_peak / 1024,
  }));
}

const num = (value: TheoryCell | undefined): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const pct = (fraction: number) => (fraction === 0 ? '0%' : `${(fraction * 100).toFixed(Math.abs(fraction) < 0.1 ? 2 : 1)}%`);
const int = (value: number) => Math.round(value).toLocaleString('en-US');
const ttl = (ms: number) => (ms >= 1_000 ? `${Number((ms / 1_000).toFixed(1))} s` : `${Math.round(ms)} ms`);
const range = (values: readonly number[], format: (n: number) => string) => {
  const low = format(Math.min(...values));
  const high = format(Math.max(...values));
  return low === high ? low : `${low}–${high}`;
};

/** Sentences computed from the rows (and the options that describe the runs); nothing typed in. */
export function dedupTtlFindings(rows: readonly Record<string, TheoryCell>[], options: DedupTtlOptions, measurements: readonly DedupTtlMeasurement[] = []): string[] {
  const findings: string[] = [];
  const points = rows
    .flatMap((row) => {
      const ttlMs = num(row.ttl_ms);
      const copies = num(row.copies);
      const leaked = num(row.leaked_share);
      const predicted = num(row.predicted_share);
      if (ttlMs === null || copies === null || copies === 0 || leaked === null || predicted === null) return [];
      return [{ ttlMs, copies, leaked, predicted, leakedCount: num(row.leaked) ?? 0, entries: num(row.entries_peak), kb: num(row.size_peak_kb) }];
    })
    .sort((a, b) => a.ttlMs - b.ttlMs);
  if (points.length === 0) return ['No run injected any duplicates, so there is nothing to compare.'];

  // 1. Measured leak rate against the predicted tail, with the binomial standard error of each row.
  const compared = points.map((p) => {
    const standardError = Math.sqrt((p.predicted * (1 - p.predicted)) / p.copies);
    return { ...p, gap: p.leaked - p.predicted, z: standardError > 0 ? (p.leaked - p.predicted) / standardError : null };
  });
  const largest = compared.reduce((a, b) => (Math.abs(b.gap) > Math.abs(a.gap) ? b : a));
  const meanGap = compared.reduce((sum, p) => sum + p.gap, 0) / compared.length;
  findings.push(
    `Measured leak rate against the predicted tail P(delay > TTL): ${compared.map((p) => `${ttl(p.ttlMs)}: ${pct(p.leaked)} leaked, ${pct(p.predicted)} predicted`).join('; ')}. ` +
      `The largest gap is ${(Math.abs(largest.gap) * 100).toFixed(1)} percentage points (at ${ttl(largest.ttlMs)}${largest.z === null ? '' : `, ${Math.abs(largest.z).toFixed(1)} binomial standard errors`}); ` +
      `on average the measured rate is ${(Math.abs(meanGap) * 100).toFixed(1)} points ${meanGap >= 0 ? 'above' : 'below'} the prediction` +
      (meanGap > 0.01
        ? '. A copy leaks when it reaches the store more than a TTL after its original, so any extra lag of the copy over the original (a late timer, a backlog that grew in between) counts as extra delay; ' +
          'it pushes copies over the TTL most where the delay density is highest, at short TTLs.'
        : '.'),
  );
  const zeroPredicted = compared.filter((p) => p.predicted === 0);
  if (zeroPredicted.length > 0 && options.delay_distribution === 'exponential') {
    findings.push(
      `Delays were capped at ${DUPLICATE_EXPONENTIAL_CAP} × the mean (${ttl(DUPLICATE_EXPONENTIAL_CAP * options.delay_ms)}), so a TTL at or beyond the cap predicts no leak: ` +
        `${zeroPredicted.map((p) => `at ${ttl(p.ttlMs)} ${int(p.leakedCount)} leaked`).join(', ')}. A real system has no such cap; its tail is whatever its retries and redeliveries allow.`,
    );
  }

  // 2. Size against TTL: while the TTL is shorter than the run, the store holds about (claims per second) × TTL ids.
  const sized = points.filter((p): p is typeof p & { entries: number } => p.entries !== null && p.entries > 0);
  if (sized.length >= 2) {
    const first = sized[0]!;
    const last = sized.at(-1)!;
    const runS = options.warmup_s + options.duration_s;
    const windowed = sized.filter((p) => p.ttlMs / 1_000 < runS);
    const ratios = windowed.map((p) => p.entries / ((options.rate * p.ttlMs) / 1_000));
    // Ids claimed per second: every original, plus the copies that got past dedup (each claimed again).
    const expected = windowed.map((p) => 1 + options.fraction * p.leaked);
    const bursty = ratios.some((r, i) => r > 1.25 * expected[i]!);
    const perEntry = sized.filter((p) => p.kb !== null).map((p) => (p.kb! * 1024) / p.entries);
    findings.push(
      `The price is store size: peak entries grew from ${int(first.entries)} at ${ttl(first.ttlMs)} to ${int(last.entries)} at ${ttl(last.ttlMs)} (${(last.entries / first.entries).toFixed(0)}×)` +
        (ratios.length > 0
          ? `. For TTLs shorter than the ${runS} s run the peak was ${range(ratios, (r) => r.toFixed(1))}× rate × TTL (${int(options.rate)} ev/s × TTL), ` +
            `against ${range(expected, (r) => r.toFixed(1))}× expected from the originals plus the leaked copies (claimed again)` +
            (bursty ? '; the excess means some TTL-long window saw claims faster than on average: bursts, as when a consumer catches up on a backlog' : '')
          : '') +
        (last.ttlMs / 1_000 >= runS ? `; a TTL longer than the run keeps every id it ever claimed` : '') +
        (perEntry.length > 0 ? `. The in-memory store's estimate is ${range(perEntry, int)} bytes per entry.` : '.'),
    );
  }

  // 3. The trade-off, step by step, and the cheapest TTL under 1% leaked.
  const steps = compared.slice(1).flatMap((p, i) => {
    const before = compared[i]!;
    if (p.entries === null || before.entries === null || before.entries === 0) return [];
    return [`${ttl(before.ttlMs)} → ${ttl(p.ttlMs)}: entries ×${(p.entries / before.entries).toFixed(1)}, leaked ${pct(before.leaked)} → ${pct(p.leaked)}`];
  });
  const underOnePercent = compared.find((p) => p.leaked < 0.01);
  if (steps.length > 0 || underOnePercent) {
    findings.push(
      (steps.length > 0 ? `Each longer TTL buys fewer leaks with more entries: ${steps.join('; ')}. ` : '') +
        (underOnePercent
          ? `The shortest TTL that leaked under 1% of duplicates was ${ttl(underOnePercent.ttlMs)} (${pct(underOnePercent.leaked)}${underOnePercent.entries !== null ? `, ${int(underOnePercent.entries)} entries at peak` : ''}).`
          : 'No TTL leaked under 1% of duplicates.'),
    );
  }
  if (options.delay_distribution === 'exponential') {
    findings.push(
      `With exponential delays of mean ${ttl(options.delay_ms)}, a leak rate p needs a TTL of mean × ln(1/p) — ${ttl(options.delay_ms * Math.log(100))} for 1%, ${ttl(options.delay_ms * Math.log(1_000))} for 0.1% — ` +
        `so each halving of the leak rate costs another mean × ln 2 = ${ttl(options.delay_ms * Math.LN2)} of TTL, about ${int(options.rate * (options.delay_ms / 1_000) * Math.LN2)} more entries at ${int(options.rate)} ev/s: ` +
        'the store grows linearly while the leak shrinks geometrically, so the TTL should be set from the tail of the delays one must survive (retry back-off, redelivery after a crash), not from their mean.',
    );
  }

  const invalid = measurements.filter((m) => !m.valid);
  if (invalid.length > 0) {
    findings.push(
      `Caveat: ${invalid.length === measurements.length ? `all ${invalid.length} runs were` : `the ${invalid.map((m) => ttl(m.ttl_ms)).join(', ')} run${invalid.length > 1 ? 's were' : ' was'}`} marked invalid: ` +
        'the load generator fell behind its schedule, so the machine was busier than this rate allows. Leaks still compare each copy with its original, but a late generator and a consumer catching up send and claim in bursts, ' +
        'which moves peak entries above rate × TTL and adds lag between original and copy.',
    );
  }
  const lossy = measurements.filter((m) => m.lost > 0);
  if (lossy.length > 0) findings.push(`Caveat: events were lost (${lossy.map((m) => `${int(m.lost)} at ${ttl(m.ttl_ms)}`).join(', ')}); the in-memory store should lose none.`);
  return findings;
}

export async function runDedupTtl(context: TheoryContext, options: DedupTtlOptions = DEFAULT_DEDUP_TTL_OPTIONS): Promise<TheoryTable> {
  const started = Date.now();
  const measurements = await measureDedupTtl(context, options);
  const rows = dedupTtlRows(measurements);
  const capNote =
    options.delay_distribution === 'exponential'
      ? ` (drawn per copy from a seeded exponential distribution with mean ${ttl(options.delay_ms)}, capped at ${ttl(DUPLICATE_EXPONENTIAL_CAP * options.delay_ms)}, so that the end of the phase waits a bounded time for the last copies)`
      : options.delay_distribution === 'uniform'
        ? ` (drawn per copy, seeded, uniformly between 0 and ${ttl(options.delay_ms)})`
        : ` (all after ${ttl(options.delay_ms)})`;
  return {
    id: 6,
    slug: 'dedup-ttl',
    title: dedupTtl.title,
    intro:
      'A deduplicating consumer remembers the id of every event it has written, but only for a while (the TTL); after that it forgets, so its memory stays bounded. ' +
      'A duplicate that arrives after its original has been forgotten is written a second time: it leaks. How many leak depends on how late duplicates come — ' +
      'a producer retrying after a timeout, a broker redelivering after a reconnect — and on how long the consumer remembers. ' +
      'Each row is one run with one TTL. It shows how many duplicates were sent, how many reached the stored data as extra rows, the share that was expected to leak ' +
      '(the share of duplicates whose delay exceeds the TTL, computed from the delay distribution), and what remembering cost: the most ids the store held at once, and their estimated memory.',
    method:
      `Each row is a real run through ${context.broker_url ? `the broker at ${context.broker_url}` : 'an embedded Aedes MQTT broker'} and the reference aggregator: ` +
      `${options.rate.toLocaleString('en-US')} events per second over MQTT QoS 1 from ${DEFAULT_LOAD.publishers} publishers, ${options.warmup_s > 0 ? `${options.warmup_s} s of warm-up without faults, then ` : ''}${options.duration_s} s ` +
      `during which ${Math.round(options.fraction * 100)}% of events were published a second time with the same event id, from the same connection, after a delay${capNote}. ` +
      'The aggregator kept its dedup memory in process (the in-memory store) with the row\'s TTL, counted from when an event is first claimed (just before it is written), and wrote to a SQLite table that keeps every row it is given (append mode), ' +
      'so a duplicate that got past dedup became a second row. The harness counted those extra rows against its own record of what it published, without trusting the aggregator. ' +
      'The store size is what the aggregator reported about itself: the entries it held (sampled after each batch; expired ids are dropped as new ones arrive) and an estimate of their heap memory ' +
      `(about ${ESTIMATED_BYTES_PER_CLAIM} bytes per entry plus the id's characters, calibrated on Node 20). The prediction: a duplicate leaks when its delay exceeds the TTL, so the expected leak share is the distribution's tail beyond the TTL. ` +
      'Every random choice (which events are copied, each copy\'s delay) comes from the seed, so reruns inject the same duplicates; scheduling on the machine does not, so the counts of leaks and entries vary a little between reruns.',
    command: 'npm run theory -- --only 6',
    seed: context.seed,
    columns: DEDUP_TTL_COLUMNS,
    rows,
    findings: dedupTtlFindings(rows, options, measurements),
    duration_ms: Date.now() - started,
  };
}

export const dedupTtl: TheoryExperiment = {
  id: 6,
  slug: 'dedup-ttl',
  title: 'Dedup TTL window: duplicates leaked against dedup store size',
  run: (context) => runDedupTtl(context),
};
