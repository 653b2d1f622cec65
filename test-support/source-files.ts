// The project's TypeScript files, for the tests that read the sources themselves (import cycles,
// child entry points, one definition per fact): every .ts file under the root outside node_modules
// and dot-folders, as absolute paths.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export function projectTypeScriptFiles(dir: string, options: { tests: boolean } = { tests: true }, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) projectTypeScriptFiles(path, options, out);
    else if (entry.name.endsWith('.ts') && (options.tests || !entry.name.endsWith('.test.ts'))) out.push(path);
  }
  return out;
}
