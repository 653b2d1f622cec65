// The version of an installed package, for result.json and the broker's name. Read from the
// package's own package.json, found by walking up from its entry point: not every package exports
// a `./package.json` subpath (aedes does not), so `require.resolve('<name>/package.json')` fails
// for some and was recorded as 'unknown'.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed version of `name`, or 'unknown' when it cannot be resolved. */
export function installedVersion(name: string): string {
  let dir: string;
  try {
    dir = dirname(fileURLToPath(import.meta.resolve(name)));
  } catch {
    return 'unknown';
  }
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && typeof pkg.version === 'string') return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}
