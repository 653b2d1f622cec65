// Issue 16, point 1: a valid event must never be acked without being stored. A store that refuses
// writes for a reason of its own (here: INSERT revoked on the claims table, SQLSTATE 42501) used to
// dead-letter every valid event of the batch one by one and ack it: events acked, no rows, and the
// ledger reported nothing lost. Now it is a stall: nothing acked, retried until the grant is back.
//
// Real parts: the embedded broker, the aggregator process, the machine's PostgreSQL (sink and claims
// in the run's schema, `--sink postgres --dedup postgres`) as a login role of the test's own, since
// a superuser bypasses every grant. The schema, the role and what it owns are dropped afterwards.

import { describe, expect, it } from 'vitest';
import { runScenario } from './run.ts';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { DEFAULT_DATABASE_URL } from '../aggregator/postgres.ts';
import { withLimitedRole, withPostgresClient } from '../aggregator/sink/test-postgres.ts';
import { nowMicros, sleep } from '../aggregator/clock.ts';
import { expectStalledNotDeadLettered, expectValidApartFromGeneratorLag } from '../test-support/run-expectations.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

const adminUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const RATE = 200;
const REVOKED_S = 2.5;

const outDir = tempDirs('store-refusal');

/** dup-storm with small numbers, its dedup store and sink on `url`. */
function scenarioOn(url: string, stormS: number, drainTimeoutS: number): Scenario {
  const scenario: Scenario = structuredClone(dupStorm);
  scenario.phases[0]!.duration_s = 0.5;
  scenario.phases[0]!.rate = 100;
  scenario.phases[1]!.duration_s = stormS;
  scenario.phases[1]!.rate = RATE;
  scenario.aggregator.dedup = url;
  scenario.drain_timeout_s = drainTimeoutS;
  expect(validateScenario(scenario).ok).toBe(true);
  return scenario;
}

describe('a store that refuses writes (a revoked grant) stalls the pipeline, it never dead-letters', () => {
  it('--sink postgres --dedup postgres with INSERT revoked on the claims table for 2.5 s: nothing acked meanwhile, nothing dead-lettered, nothing lost', async () => {
    await withLimitedRole(adminUrl, async (url, role) => {
      const dir = outDir();
      const scenario = scenarioOn(url, 5, 20);

      let revokedAt_s = 0;
      let grantedAt_s = 0;
      let claims = '';
      const result = await runScenario({
        scenario,
        overrides: { sink: url, dedup: url },
        broker: 'embedded',
        sink: url,
        out_dir: dir,
        during: async ({ aggregator, start_us }) => {
          claims = `"${aggregator.config.dedup_schema}".dedup`;
          await sleep(Math.max(0, start_us / 1000 + 1_000 - nowMicros() / 1000));
          // As the superuser, on the table the role owns: the owner's own INSERT is revoked.
          await withPostgresClient(adminUrl, (client) => client.query(`REVOKE INSERT ON ${claims} FROM "${role}"`));
          revokedAt_s = (nowMicros() - start_us) / 1e6;
          await sleep(REVOKED_S * 1000);
          await withPostgresClient(adminUrl, (client) => client.query(`GRANT INSERT ON ${claims} TO "${role}"`));
          grantedAt_s = (nowMicros() - start_us) / 1e6;
        },
      });

      // The claims run inside the sink's transaction: a refused claim rolls the write back with it.
      expect(result.aggregator.claim_order).toBe('transactional');
      // While the grant was missing next to nothing was acked and the backlog grew; then every event once.
      expectStalledNotDeadLettered(result, 50 + 5 * RATE, { from_s: revokedAt_s + 0.5, to_s: grantedAt_s, rate: RATE });
      expect(Math.max(...result.timeline.map((s) => s.backlog))).toBeGreaterThan(RATE);
      expectValidApartFromGeneratorLag(result);
    });
  }, 120_000);

  it('never granted again: the events after the revoke are reported lost and the run fails; none is dead-lettered', async () => {
    await withLimitedRole(adminUrl, async (url, role) => {
      const dir = outDir();
      const result = await runScenario({
        scenario: scenarioOn(url, 2, 3),
        overrides: { sink: url, dedup: url },
        broker: 'embedded',
        sink: url,
        out_dir: dir,
        during: async ({ aggregator, start_us }) => {
          await sleep(Math.max(0, start_us / 1000 + 1_000 - nowMicros() / 1000));
          await withPostgresClient(adminUrl, (client) => client.query(`REVOKE INSERT ON "${aggregator.config.dedup_schema}".dedup FROM "${role}"`));
        },
      });
      const t = result.totals;
      expect(t.published).toBe(50 + 2 * RATE);
      // At least the last second of the storm was published after the revoke and never stored.
      expect(t.published - t.unique_committed).toBeGreaterThanOrEqual(RATE);
      expect(t.dlq).toBe(0);
      expect(t.dead_lettered).toBe(0);
      expect(result.aggregator.self_reported.dlq).toBe(0);
      // The verdict: not stored is not passed, whatever the DLQ holds.
      expect(result.passed).toBe(false);
    });
  }, 120_000);
});
