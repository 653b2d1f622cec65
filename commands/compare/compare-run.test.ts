// `npm run compare` for real, end to end and short: dup-storm cut to ~2 s of load, dedup memory
// against none, 2 replicates, as a child process the way a user runs it. Starts brokers and
// aggregators (4 runs, about 5 s each).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { CompareReport } from '../../reports/compare.ts';
import { tempDir } from '../../test-support/temp-dirs.ts';
import { runChaosbench } from '../../test-support/run-command.ts';

const out = tempDir('compare-run');

it('runs memory and none interleaved twice and writes compare.md and compare.json', { timeout: 90_000 }, async () => {
  const args = ['--scenario', 'dup-storm', '--dedup', 'memory,none', '--replicates', '2', '--duration', '1s', '--rate', '300', '--set', 'phases[0].duration_s=1', '--out', out];
  const outcome = await runChaosbench('compare', args, { timeout_ms: 85_000 });

  const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareReport;
  expect(json.runs.map((r) => `${r.variant}-r${r.replicate}`), outcome.stderr).toEqual(['memory-r1', 'none-r1', 'memory-r2', 'none-r2']);
  for (const run of json.runs) {
    expect(run.error, outcome.stderr).toBeNull();
    expect(run.figures!.committed_per_s).toBeGreaterThan(0);
    expect(existsSync(join(run.out_dir, 'result.json'))).toBe(true);
  }
  // A loaded machine may make a run invalid (the generator fell behind): exit 3, and the table says so.
  const allValid = json.runs.every((r) => r.valid);
  expect(outcome.code, outcome.stderr).toBe(allValid ? 0 : 3);

  const md = readFileSync(join(out, 'compare.md'), 'utf8');
  expect(md).toMatch(/^\| (⚠ )?memory \| \d\/2 \| \d+ \[\d+–\d+\] \| 1\.00× \|/m);
  expect(md).toMatch(/^\| (⚠ )?none \| \d\/2 \| \d+ \[\d+–\d+\] \| \d+\.\d\d×( ~)? \|/m);
  // One progress line per run on stderr, the table on stdout.
  expect(outcome.stderr.match(/^\[\d\/4\] (memory|none) r\d\/2 {2}committed \d+ ev\/s {2}p99 [\d.]+ ms {2}(valid|INVALID)/gm)).toHaveLength(4);
  expect(outcome.stdout).toContain('| variant |');
});
