// load.wake_interval_ms reaches the load workers: with wake-ups 40 ms apart, events wait for the next
// one, so the generator's lag (hand-off − intended time) is spread over the interval, median about
// half of it. A lower bound only: a loaded machine adds lag, never removes it. Intended times stay
// the schedule's (the lag is recorded, not hidden), and no event leaves before its time.

import { afterEach, expect, it } from 'vitest';
import { DEFAULT_AGGREGATOR, DEFAULT_LOAD } from '../../scenarios/defaults.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { startBroker, type BrokerHandle } from '../broker/index.ts';
import { runLoad } from './generator.ts';

let broker: BrokerHandle | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

function scenario(wake_interval_ms?: number): Scenario {
  return {
    name: 'wake-interval-test',
    description: 'a steady schedule',
    seed: 11,
    load: { ...DEFAULT_LOAD, publishers: 2, workers: 1, ...(wake_interval_ms === undefined ? {} : { wake_interval_ms }) },
    phases: [{ name: 'steady', duration_s: 1, rate: 500, faults: [] }],
    aggregator: { ...DEFAULT_AGGREGATOR },
    drain_timeout_s: 5,
    checks: [],
  };
}

it('hands off in batches load.wake_interval_ms apart: the lag spreads over the interval, never below zero', async () => {
  broker = await startBroker('embedded', { persistence: 'memory' });
  const load = await runLoad({ scenario: scenario(40), broker_url: broker.url, topic_root: 'events/wake-interval-test', client_prefix: `wake-${process.pid}`, settle_timeout_ms: 3_000 });
  const lag = load.phases[0]!.lag.summary();
  expect(load.log.counters.published).toBe(500);
  // Uniform over [0, 40 ms) when on time: median ~20 ms. The default (1 ms) gives ~1 ms.
  expect(lag.p50_ms).toBeGreaterThan(10);
  expect(lag.min_ms).toBeGreaterThanOrEqual(0);
  // Counted per phase (what CPU per wake-up is reckoned against): at most one per 40 ms of the 1 s phase.
  expect(load.phases[0]!.wake_ups).toBeGreaterThanOrEqual(5);
  expect(load.phases[0]!.wake_ups).toBeLessThanOrEqual(1_000 / 40 + 1);
}, 30_000);
