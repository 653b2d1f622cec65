// Temporary directories for tests: each made fresh under the OS's temporary directory, named
// chaosbench-<name>-XXXXXX, and removed with everything in it after the tests of the scope that asked
// for it. tempDirs() registers that removal with vitest's afterAll, so call it where afterAll may be
// called: at a test file's top level (removed after the file) or in a describe body (after the block),
// never inside a test or a hook. Removal ignores a directory that is already gone.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A maker of fresh temporary directories, all removed after the enclosing file's or describe block's tests. */
export function tempDirs(name: string): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), `chaosbench-${name}-`));
    made.push(dir);
    return dir;
  };
}

/** One temporary directory, made now and removed like tempDirs' (so: called where afterAll may be). */
export function tempDir(name: string): string {
  return tempDirs(name)();
}
