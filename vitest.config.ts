import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// The suite's runs register in a directory of their own (engine/run-registry.ts), not the user's:
// a test that leaves a run behind on purpose must not make the user's next bench clean it up.
const stateDir = process.env.CHAOSBENCH_STATE_DIR ?? mkdtempSync(join(tmpdir(), 'chaosbench-test-state-'));

// Tests that spawn brokers and aggregators compete for two cores; keep workers few and
// give process-level tests room rather than letting a loaded machine fail them.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
    env: { CHAOSBENCH_STATE_DIR: stateDir },
  },
});
