// test-support/memory-log.mjs is loaded with NODE_OPTIONS=--import into every process of a run, so
// nothing type-checks it: this runs it as the soak-memory notes do and reads what it wrote.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from './temp-dirs.ts';

const newDir = tempDirs('memory-log');
const MODULE = join(import.meta.dirname, 'memory-log.mjs');

describe('memory-log.mjs', () => {
  it('appends one JSON line of memoryUsage and V8 heap spaces per interval to <dir>/<pid>.jsonl', () => {
    const dir = newDir();
    const child = spawnSync(process.execPath, ['--import', MODULE, '-e', 'setTimeout(() => {}, 600)'], {
      env: { ...process.env, NODE_OPTIONS: '', CHAOSBENCH_MEMORY_LOG: dir, CHAOSBENCH_MEMORY_LOG_MS: '100' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const files = readdirSync(dir);
    expect(files).toEqual([`${child.pid}.jsonl`]);
    const lines = readFileSync(join(dir, files[0]!), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      expect(line.rss).toBeGreaterThan(0);
      expect(line.heapUsed).toBeGreaterThan(0);
      expect(Object.keys(line.spaces)).toContain('old_space');
    }
  });

  it('does nothing when CHAOSBENCH_MEMORY_LOG is unset', () => {
    const child = spawnSync(process.execPath, ['--import', MODULE, '-e', 'setTimeout(() => {}, 100)'], { env: { ...process.env, NODE_OPTIONS: '', CHAOSBENCH_MEMORY_LOG: '' }, encoding: 'utf8', timeout: 20_000 });
    expect(child.status, child.stderr).toBe(0);
    expect(child.stderr).toBe('');
  });
});
