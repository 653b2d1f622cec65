// A reference aggregator that dead-letters valid events, end to end: the events are not in the sink,
// so they are lost for the user whatever the DLQ holds, the run fails, and the exit code agrees
// with the numbers printed beside it. Real embedded broker, real aggregator, real SQLite sink.

import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readDeadLetters } from '../aggregator/sink/sqlite.ts';
import { renderReport, renderSummary } from '../reports/markdown.ts';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { MAX_FILLER_BYTES, validateScenario } from '../scenarios/validate.ts';
import { exitCodeOf } from '../commands/bench/bench.ts';
import { EXIT } from '../cli/exit.ts';
import { runScenario } from './run.ts';
import { expectValidApartFromGeneratorLag } from '../test-support/run-expectations.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

const outDir = tempDirs('dlq-loss');

it(
  'events one byte over the aggregator limit (run directly, as the validator would refuse): all dead-lettered, all lost, the run FAILS with exit 1',
  async () => {
    const dir = outDir();
    const scenario: Scenario = structuredClone(dupStorm);
    scenario.phases[0] = { ...scenario.phases[0]!, duration_s: 0.5, rate: 20 };
    scenario.phases[1] = { ...scenario.phases[1]!, duration_s: 1, rate: 40 };
    scenario.drain_timeout_s = 15;
    scenario.load.payload_bytes = MAX_FILLER_BYTES + 1;
    // The bench would stop here with exit 2; runScenario itself trusts its caller, which is the
    // path by which an aggregator limit the harness does not know about gets to dead-letter events.
    expect(validateScenario(scenario).ok).toBe(false);

    const result = await runScenario({ scenario, overrides: {}, broker: 'embedded', out_dir: dir });
    const t = result.totals;
    expect(t.published).toBe(10 + 40);
    expect(t.acked_by_broker).toBe(t.published);
    expect(t.unique_committed).toBe(0);
    // Lost for the user, with where they went beside it.
    expect(t.lost).toBe(t.published);
    expect(t.dead_lettered).toBe(t.published);
    expect(t.lost_unacked + t.never_sent + t.unexpected).toBe(0);
    expect(result.phases.map((p) => p.lost)).toEqual([10, 40]);
    // Each copy is its original's message again (same topic, same bytes): the aggregator wrote a
    // dead letter per delivery, the DLQ figure counts each message once, and no copy was absorbed.
    expect(t.copies_acked).toBeGreaterThan(0);
    expect(readDeadLetters(join(dir, 'sink.db'))).toHaveLength(t.published + t.copies_acked);
    expect(t.dlq).toBe(t.published);
    expect(t.copies_absorbed).toBe(0);

    expect(result.checks.find((c) => c.metric === 'lost')).toMatchObject({ actual: 50, passed: false });
    expect(result.passed).toBe(false);
    expect(result.findings.some((f) => f.startsWith('50 valid events this run published were dead-lettered'))).toBe(true);
    // What the user reads and what the shell gets say the same thing: FAIL, exit 1, also when a
    // generator held off the CPU on a loaded machine made the run invalid as a measurement (the
    // loss stands; the verdict line adds the invalidity after it).
    expectValidApartFromGeneratorLag(result);
    const summary = renderSummary(result).split('\n');
    expect(exitCodeOf(result)).toBe(EXIT.check_failed);
    expect(summary[0]!.startsWith(`FAIL — 1 of ${result.checks.length} checks failed: lost == 0 (was 50)`)).toBe(true);
    expect(renderReport(result)).toMatch(/^\*\*FAIL\*\* — 1 of \d+ checks failed: lost == 0 \(was 50\)/);
    if (!result.valid) expect(summary[0]).toContain('; the run is also invalid as a measurement, so its other checks are not judged: the generator fell behind');
    expect(summary[1]).toMatch(/^published 50 \(\+\d+ duplicate copies\) · committed 0 · lost 50 \(50 dead-lettered\) · never acked 0 · never sent 0 · sink duplicates 0 · copies absorbed 0 · dlq 50$/);
  },
  60_000,
);
