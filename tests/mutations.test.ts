// The mutation table's cheap rows (tests/mutations.ts): each planted source break, applied while its
// named test runs in a child vitest, must make that test fail. The crash rows are control runs
// inside their end-to-end files (engine/scale-out.test.ts, engine/faults/faults.e2e.test.ts) and
// run with them; here only their names are checked against those files.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MUTATION_TABLE, type SourceMutation } from './mutations.ts';
import { runTypeScript } from '../test-support/run-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'chaosbench-mutations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The named test of `row`, run with its planted break: exit code, output, and how often the break applied. */
async function runPlanted(row: SourceMutation) {
  const report = join(dir, `${row.id.replace(/\W/g, '_')}.applied`);
  const outcome = await runTypeScript(
    'node_modules/vitest/vitest.mjs',
    ['run', row.test.file, '-t', row.test.name, '--config', 'tests/mutations.config.ts', '--reporter', 'dot'],
    { env: { CHAOSBENCH_PLANT: row.id, CHAOSBENCH_PLANT_REPORT: report, NO_COLOR: '1', FORCE_COLOR: '0' }, timeout_ms: 120_000 },
  );
  let applied = 0;
  try {
    applied = Number(readFileSync(report, 'utf8'));
  } catch {
    applied = 0;
  }
  return { ...outcome, applied };
}

describe('mutation table: each planted break fails the test named for it', () => {
  for (const row of MUTATION_TABLE) {
    if (row.kind !== 'source') continue;
    it(`${row.planted} → ${row.test.file} "${row.test.name}" fails`, { timeout: 130_000 }, async () => {
      const outcome = await runPlanted(row);
      const output = outcome.stdout + outcome.stderr;
      expect(outcome.applied, `the break applied to ${row.module}\n${output}`).toBeGreaterThan(0);
      // 1: tests ran and one failed (not a crash, not "no test matched").
      expect(outcome.code, output).toBe(1);
      expect(output).toMatch(/Tests\s+\d+ failed/);
    });
  }

  it('every control run is in the file it names, beside the test it mirrors', () => {
    for (const row of MUTATION_TABLE) {
      if (row.kind !== 'control') continue;
      const text = readFileSync(row.test.file, 'utf8');
      expect(text, row.id).toContain(row.test.name);
      expect(text, row.id).toContain(row.test.mirrors);
      // The switch it turns on, by name.
      expect(text, row.id).toContain(`'${row.id.split('/')[0]}'`);
    }
  });
});
