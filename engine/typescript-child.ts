// Forking a TypeScript entry point as a child process. `--import tsx` on its own is resolved
// against the child's working directory; resolving the loader here, next to this file, makes the
// fork work from any cwd, from a tsx-launched script and from inside a vitest worker alike.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** execArgv for fork(): always explicit, so the parent's own flags (tsx, vitest) do not leak in. */
export const TYPESCRIPT_EXEC_ARGV: readonly string[] = ['--import', TSX_LOADER];

/**
 * execArgv that make a child write a V8 CPU profile (.cpuprofile, for Chrome DevTools or
 * speedscope) into dir when it exits normally. Node names each file with the pid and a sequence
 * number, so the incarnations of a restarted process do not overwrite each other; a SIGKILLed
 * incarnation writes nothing.
 */
export function cpuProfileArgv(dir: string | undefined): string[] {
  return dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}
