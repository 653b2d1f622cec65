// The vitest configuration of a planted break's run (tests/mutations.test.ts): the project's own,
// plus a transform that applies the source mutation named by CHAOSBENCH_PLANT (an id of
// tests/mutations.ts) to its module as it loads, and writes how many times it applied to
// CHAOSBENCH_PLANT_REPORT, so that a break that no longer applies (the code moved) fails loudly
// instead of "catching" nothing.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { mergeConfig, type Plugin } from 'vitest/config';
import base from '../vitest.config.ts';
import { MUTATION_TABLE, type SourceMutation } from './mutations.ts';

const ROOT = resolve(import.meta.dirname, '..');

function plant(row: SourceMutation, report: string | undefined): Plugin {
  const target = resolve(ROOT, row.module);
  let applied = 0;
  return {
    name: 'chaosbench-planted-break',
    enforce: 'pre',
    transform(code, id) {
      if (id.split('?')[0] !== target) return null;
      const parts = code.split(row.find);
      if (parts.length !== 2) throw new Error(`planted break ${row.id}: '${row.find}' occurs ${parts.length - 1} times in ${row.module}, not once`);
      applied++;
      if (report) writeFileSync(report, String(applied));
      return { code: parts.join(row.replace), map: null };
    },
  };
}

const id = process.env.CHAOSBENCH_PLANT;
const row = MUTATION_TABLE.find((r): r is SourceMutation => r.kind === 'source' && r.id === id);
if (!row) throw new Error(`CHAOSBENCH_PLANT must name a source mutation of tests/mutations.ts, got ${JSON.stringify(id)}`);

export default mergeConfig(base, { plugins: [plant(row, process.env.CHAOSBENCH_PLANT_REPORT)] });
