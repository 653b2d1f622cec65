// tempDirs: fresh directories under the OS's temporary directory while a block's tests run, all gone
// after the block (vitest runs a block's afterAll before the next sibling test).

import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir, tempDirs } from './temp-dirs.ts';

describe('tempDirs', () => {
  const seen: string[] = [];

  describe('a block that asks for directories', () => {
    const newDir = tempDirs('temp-dirs-test');
    const single = tempDir('temp-dirs-single');

    it('makes a fresh, named directory each call, under the temporary directory', () => {
      const [a, b] = [newDir(), newDir()];
      expect(a).not.toBe(b);
      for (const dir of [a, b, single]) {
        expect(dirname(dir)).toBe(tmpdir());
        expect(existsSync(dir)).toBe(true);
      }
      expect(basename(a)).toMatch(/^chaosbench-temp-dirs-test-\w{6}$/);
      expect(basename(single)).toMatch(/^chaosbench-temp-dirs-single-\w{6}$/);
      writeFileSync(join(a, 'file'), 'kept until the block ends');
      seen.push(a, b, single);
    });

    it('keeps them, with their contents, until the block ends', () => {
      expect(seen).toHaveLength(3);
      for (const dir of seen) expect(existsSync(dir)).toBe(true);
      expect(existsSync(join(seen[0]!, 'file'))).toBe(true);
    });
  });

  it('removes them, contents and all, after the block', () => {
    expect(seen).toHaveLength(3);
    for (const dir of seen) expect(existsSync(dir)).toBe(false);
  });
});
