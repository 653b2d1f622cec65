// Issue 20: a real Prometheus (test-support/prometheus-server.ts) scrapes a real bench's two
// endpoints every second during a short dup-storm on the embedded broker: the harness's
// (chaosbench_run_*, --metrics-port 0) and the reference aggregator's (chaosbench_aggregator_*, a
// free port the bench prints). Both endpoints stay until two scrapes have read their final values,
// so the last sample Prometheus holds of each series must equal result.json:
// - every aggregator counter equals aggregator.self_reported (one incarnation: no crash in dup-storm,
//   so the Prometheus counters never reset), the batch histogram's count equals its batches, and
//   nothing is in flight;
// - the harness's offered events equal totals.published, its ledger gauges the ledger's totals,
//   the phase is 'done', and the subscriber's PUBACKs the broker counted equal the aggregator's acks.
// Not compared: the live latency gauges (a live figure; at the end the ledger's p50/p99, which
// result.json holds rounded) and the backlog (the timeline's, not a total).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChaosbench } from '../test-support/run-command.ts';
import { startPrometheus, type PrometheusServer } from '../test-support/prometheus-server.ts';
import { tempDir } from '../test-support/temp-dirs.ts';
import { AGGREGATOR_COUNTERS, AGGREGATOR_METRIC_PREFIX } from '../aggregator/metrics/registry.ts';
import { LEDGER_GAUGES, RUN_METRIC_PREFIX } from './metrics/run-metrics.ts';
import type { RunResult } from './result.ts';
import { EXIT } from '../cli/exit.ts';

const ENDPOINT = /(aggregator metrics|metrics): http:\/\/(127\.0\.0\.1:\d+)\/metrics/g;

describe('Prometheus scraping a bench and its aggregator', () => {
  const dir = tempDir('prometheus');
  let prometheus: PrometheusServer;
  let result: RunResult;
  let stderr = '';
  let code: number | null = null;
  const targets = new Map<string, string>();

  beforeAll(async () => {
    prometheus = await startPrometheus();
    const outcome = await runChaosbench(
      'bench',
      ['--scenario', 'dup-storm', '--duration', '3s', '--rate', '300', '--metrics-port', '0', '--metrics-linger', '15', '--out', join(dir, 'run'), '--quiet'],
      {
        timeout_ms: 150_000,
        // Each endpoint is scraped from the moment the bench prints it.
        onStderr: (chunk) => {
          stderr += chunk;
          for (const [, role, address] of stderr.matchAll(ENDPOINT)) targets.set(role === 'metrics' ? 'run' : 'aggregator', address!);
          prometheus.setTargets([...targets].map(([role, address]) => ({ role, address })));
        },
      },
    );
    code = outcome.code;
    stderr = outcome.stderr;
    result = JSON.parse(readFileSync(join(dir, 'run', 'result.json'), 'utf8')) as RunResult;
  }, 200_000);

  afterAll(async () => {
    await prometheus?.stop();
  });

  /** The last value Prometheus scraped of a series (the endpoints are gone: their series are stale now). */
  async function last(name: string, selector = ''): Promise<number> {
    const found = await prometheus.query(`last_over_time(${name}${selector}[10m])`);
    expect(found, `${name}${selector} in Prometheus`).toHaveLength(1);
    return found[0]!.value;
  }

  it('the run completed (on a busy machine it may be invalid: the figures must agree all the same) and printed both endpoints', () => {
    expect([EXIT.ok, EXIT.invalid_run], stderr).toContain(code);
    expect([...targets.keys()].sort()).toEqual(['aggregator', 'run']);
  });

  it('scraped both endpoints during the run, not only at the end', async () => {
    // Only a successful scrape adds a sample to a series (a failed one adds up == 0 only).
    for (const series of [`${RUN_METRIC_PREFIX}offered_events_total`, `${AGGREGATOR_METRIC_PREFIX}received_total`]) {
      const [samples] = await prometheus.query(`count_over_time(${series}[10m])`);
      expect(samples?.value, series).toBeGreaterThanOrEqual(4);
    }
    const [during] = await prometheus.query(`min_over_time(${RUN_METRIC_PREFIX}offered_events_total[10m])`);
    expect(during?.value).toBeLessThan(result.totals.published);
  });

  it("the aggregator's final counters equal result.json's self-reported ones", async () => {
    const reported = result.aggregator.self_reported;
    expect(reported.committed).toBeGreaterThan(0);
    expect(reported.duplicates_absorbed).toBeGreaterThan(0);
    for (const [key, { name }] of Object.entries(AGGREGATOR_COUNTERS)) {
      expect(await last(`${AGGREGATOR_METRIC_PREFIX}${name}`), key).toBe(reported[key as keyof typeof AGGREGATOR_COUNTERS]);
    }
    expect(await last(`${AGGREGATOR_METRIC_PREFIX}batch_commit_seconds_count`)).toBe(reported.batches);
    expect(await last(`${AGGREGATOR_METRIC_PREFIX}in_flight_messages`)).toBe(0);
    expect(await last(`${AGGREGATOR_METRIC_PREFIX}consumer_lag_seconds`)).toBe(0);
  });

  it("the harness's final figures equal result.json's ledger", async () => {
    expect(await last(`${RUN_METRIC_PREFIX}offered_events_total`)).toBe(result.totals.published);
    for (const [name, { total }] of Object.entries(LEDGER_GAUGES)) {
      expect(await last(`${RUN_METRIC_PREFIX}${name}`), name).toBe(result.totals[total]);
    }
    expect(result.totals.copies_absorbed).toBeGreaterThan(0);
    expect(await last(`${RUN_METRIC_PREFIX}phase_info`, '{phase="done"}')).toBe(1);
    // Counted by the embedded broker (the timeline's source), not by the aggregator.
    expect(result.backlog_source).toBe('broker');
    expect(await last(`${RUN_METRIC_PREFIX}consumed_messages_total`)).toBe(result.aggregator.self_reported.acked);
  });
});
