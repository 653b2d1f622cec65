import { defineConfig } from 'vitest/config';

// Tests that spawn brokers and aggregators compete for two cores; keep workers few and
// give process-level tests room rather than letting a loaded machine fail them.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
  },
});
