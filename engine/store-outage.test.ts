// A dedup store that goes away in the middle of a run (issue 7, "failure behaviour"): the
// aggregator must not ack what it could not claim, must retry with backoff until the store is back,
// and the run must show a stall, not a loss. The store is a private redis-server on an ephemeral
// port, SIGKILLed and started again on the same port while the harness publishes; the machine's
// shared Redis is never touched.

import { afterAll, describe, expect, it } from 'vitest';
import { runScenario } from './run.ts';
import { pickFreePort } from './broker/mosquitto.ts';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { renderReport } from '../reports/markdown.ts';
import { nowMicros, sleep } from '../aggregator/clock.ts';
import { expectStalledNotDeadLettered, expectValidApartFromGeneratorLag } from '../test-support/run-expectations.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';
import { killed, startRedis } from '../test-support/redis-server.ts';

const RATE = 300;
const OUTAGE_FROM_S = 2.5;
const OUTAGE_S = 2;

const cleanups: (() => Promise<void> | void)[] = [];
const outDir = tempDirs('store-outage');
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('the dedup store goes away mid-run', () => {
  it('Redis killed for 2 s: nothing is acked while claims fail, the aggregator retries, the backlog grows and drains, and nothing is lost or committed twice', async () => {
    const port = await pickFreePort();
    let redis = await startRedis(port);
    cleanups.push(() => killed(redis));
    const dir = outDir();

    const url = `redis://127.0.0.1:${port}`;
    const scenario: Scenario = structuredClone(dupStorm);
    scenario.phases[0]!.duration_s = 0.5;
    scenario.phases[0]!.rate = 200;
    scenario.phases[1]!.duration_s = 7;
    scenario.phases[1]!.rate = RATE;
    scenario.aggregator.dedup = url;
    scenario.drain_timeout_s = 20;
    expect(validateScenario(scenario).ok).toBe(true);

    let downAt_s = 0;
    let upAt_s = 0;
    const result = await runScenario({
      scenario,
      overrides: { dedup: url },
      broker: 'embedded',
      out_dir: dir,
      during: async ({ start_us }) => {
        await sleep(Math.max(0, start_us / 1000 + OUTAGE_FROM_S * 1000 - nowMicros() / 1000));
        downAt_s = (nowMicros() - start_us) / 1e6;
        await killed(redis);
        await sleep(OUTAGE_S * 1000);
        redis = await startRedis(port);
        upAt_s = (nowMicros() - start_us) / 1e6;
      },
    });

    // Redis is claimed after the idempotent sink commit (commit-first): a failed claim holds the ack back.
    expect(result.aggregator.claim_order).toBe('commit-first');
    // The claims failed and were retried, none of them dead-lettered. The stall, from the harness's
    // own timeline: while Redis was down the subscriber acked next to nothing and the backlog grew
    // by at least a second of arrivals; by the end it had drained.
    expectStalledNotDeadLettered(result, 100 + 7 * RATE, { from_s: downAt_s + 1, to_s: upAt_s, rate: RATE });
    const peak = Math.max(...result.timeline.map((s) => s.backlog));
    expect(peak).toBeGreaterThan(RATE);
    const before = result.timeline.filter((s) => s.t_s <= downAt_s && s.phase === 'storm');
    expect(before.length).toBeGreaterThan(0);
    expect(Math.max(...before.map((s) => s.backlog))).toBeLessThan(peak / 2);

    // The report shows it: its timeline has the row with the backlog's peak.
    const report = renderReport(result);
    expect(report).toMatch(/## Timeline/);
    expect(report).toContain(`| ${peak} |`);
    expectValidApartFromGeneratorLag(result);
  });
});
