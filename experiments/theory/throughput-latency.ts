// Table 7: throughput against latency. The aggregator's batch size and the number of events kept in
// flight end to end are swept on a closed loop: bigger batches and more in flight buy throughput,
// and the latency distribution pays for it — in its median, its tail and its shape.

import { WARMUP_PHASE } from '../../engine/run.ts';
import { shapeOf, theoryRun, theoryScenario } from './runs.ts';
import type { TheoryContext, TheoryExperiment, TheoryTable } from './types.ts';

export const BATCH_SIZES = [1, 10, 100] as const;
export const IN_FLIGHT = [10, 100, 1_000] as const;
const MEASURED_S = 5;

export const throughputLatency: TheoryExperiment = {
  id: 7,
  slug: 'throughput-latency',
  title: 'Throughput against latency: batch size and events in flight',
  async run(context: TheoryContext): Promise<TheoryTable> {
    const started = Date.now();
    const rows: TheoryTable['rows'] = [];
    for (const batch of BATCH_SIZES) {
      for (const inFlight of IN_FLIGHT) {
        const scenario = theoryScenario(
          `theory-throughput-b${batch}-w${inFlight}`,
          context.seed,
          [
            { name: WARMUP_PHASE, duration_s: 1, rate: 1, faults: [] },
            { name: 'measure', duration_s: MEASURED_S, rate: 1, faults: [] },
          ],
          { load: { model: 'closed', concurrency: inFlight }, aggregator: { batch_size: batch, dedup: 'sqlite' } },
        );
        const result = await theoryRun(context, `batch-${batch}-inflight-${inFlight}`, scenario);
        const latency = result.latency.end_to_end;
        const shape = shapeOf(latency.histogram);
        rows.push({
          batch,
          in_flight: inFlight,
          throughput: result.throughput.committed_per_s,
          p50: latency.p50_ms,
          p95: latency.p95_ms,
          p99: latency.p99_ms,
          mean: latency.mean_ms,
          skewness: shape.skewness,
          kurtosis: shape.kurtosis,
          lost: result.totals.lost,
        });
      }
    }
    return {
      id: 7,
      slug: 'throughput-latency',
      title: this.title,
      intro:
        'A consumer that commits each event on its own pays one disk transaction per event; one that commits in batches pays it once per batch, ' +
        'but an event may wait for its batch to fill. Keeping more events in flight lets the pipeline fill bigger batches, but each event also queues behind more others. ' +
        'Each row is one run in which the producer keeps a fixed number of events in flight end to end (a new one is sent when one is committed) ' +
        'and the aggregator commits up to the given number of events per SQLite transaction. Throughput is events committed per second; ' +
        'latency is from publish to commit. Skewness above 0 means a long right tail; kurtosis (excess, 0 for a normal distribution) grows with rare extreme values.',
      method:
        `Embedded Aedes broker, the reference aggregator with SQLite dedup inside the SQLite sink's transaction (batches wait at most 5 ms to fill), one closed-loop run per cell: ` +
        `1 s of warm-up then ${MEASURED_S} s measured, 4 publisher connections. Closed-loop latency counts from the actual send, so it shows the service time at that concurrency, ` +
        'not what an open stream of arrivals would see (see the closed model in docs/how-the-numbers-are-made.md). Skewness and kurtosis are simple-statistics\' sample estimates over every latency, ' +
        'read back from the run\'s HDR histogram (3 significant digits).',
      command: 'npm run theory -- --only 7',
      seed: context.seed,
      columns: [
        { key: 'batch', label: 'batch size', format: 'int' },
        { key: 'in_flight', label: 'in flight', format: 'int' },
        { key: 'throughput', label: 'throughput ev/s', format: 'int' },
        { key: 'p50', label: 'p50 ms', format: 'ms' },
        { key: 'p95', label: 'p95 ms', format: 'ms' },
        { key: 'p99', label: 'p99 ms', format: 'ms' },
        { key: 'skewness', label: 'skewness', format: 'float' },
        { key: 'kurtosis', label: 'kurtosis', format: 'float' },
        { key: 'lost', label: 'lost', format: 'int' },
      ],
      rows,
      findings: throughputFindings(rows),
      duration_ms: Date.now() - started,
    };
  },
};

/** Sentences computed from the rows. */
export function throughputFindings(rows: TheoryTable['rows']): string[] {
  const num = (row: TheoryTable['rows'][number], key: string) => (typeof row[key] === 'number' ? (row[key] as number) : NaN);
  const findings: string[] = [];
  const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
  const best = rows.reduce((a, b) => (num(b, 'throughput') > num(a, 'throughput') ? b : a));
  const single = rows.filter((r) => r.batch === 1).reduce((a, b) => (num(b, 'throughput') > num(a, 'throughput') ? b : a));
  const gain = num(best, 'throughput') / num(single, 'throughput');
  findings.push(
    `The best cell (batch ${best.batch}, ${best.in_flight} in flight) committed ${fmt(num(best, 'throughput'))} ev/s, ` +
      `${gain.toFixed(1)}× the best one-event-per-transaction cell (${fmt(num(single, 'throughput'))} ev/s at ${single.in_flight} in flight)` +
      (gain >= 1.5 ? ': batching is the big lever.' : ': batching made little difference here.'),
  );
  // Per batch size: what more in flight bought, and where it stopped buying throughput.
  for (const batch of [...new Set(rows.map((r) => num(r, 'batch')))]) {
    const mine = rows.filter((r) => num(r, 'batch') === batch).sort((a, b) => num(a, 'in_flight') - num(b, 'in_flight'));
    if (mine.length < 2) continue;
    const first = mine[0]!;
    const last = mine.at(-1)!;
    const before = mine.at(-2)!;
    const saturated = num(last, 'throughput') < 1.1 * num(before, 'throughput');
    const little = (num(last, 'in_flight') / num(last, 'throughput')) * 1000;
    findings.push(
      `Batch ${batch}: from ${num(first, 'in_flight')} to ${num(last, 'in_flight')} in flight, throughput went ${fmt(num(first, 'throughput'))} → ${fmt(num(last, 'throughput'))} ev/s and p99 ${num(first, 'p99').toFixed(1)} → ${num(last, 'p99').toFixed(1)} ms` +
        (saturated
          ? `; past ${num(before, 'in_flight')} in flight throughput no longer grew (${fmt(num(before, 'throughput'))} → ${fmt(num(last, 'throughput'))} ev/s), so the extra events only queued`
          : '') +
        `. Little's law: ${num(last, 'in_flight')} in flight at ${fmt(num(last, 'throughput'))} ev/s means ${little.toFixed(0)} ms per event from entering the loop to commit; ` +
        `the measured send-to-commit mean was ${num(last, 'mean').toFixed(0)} ms, the difference is time the loop counts as in flight but the latency does not: before the send, and after the commit until the producer hears of it.`,
    );
  }
  const skewed = rows.filter((r) => num(r, 'skewness') > 0).length;
  findings.push(`${skewed} of ${rows.length} latency distributions are right-skewed (skewness > 0): the mean and stdev understate the tail, which is why the tables quote percentiles.`);
  const lost = rows.reduce((sum, r) => sum + num(r, 'lost'), 0);
  findings.push(`Lost events over all runs: ${lost}.`);
  return findings;
}
