// Where a command writes its files: the output directory checked before a run starts (exit 2 naming
// the flag), and each file written whole or not at all (a temporary file in the same directory,
// then renamed over the name), so that a full disk leaves no half-written result.json.

import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** What an fs error code means, in a word a user can act on. */
const CODE_WORDS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  ENOTDIR: 'a parent is not a directory',
  ENOENT: 'cannot be created',
  EEXIST: 'exists and is not a directory',
  EISDIR: 'a directory, not a file',
};

/** "ENOSPC (no space left on the device)": an fs error as one short phrase, never a stack. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined) return (error as Error).message;
  return CODE_WORDS[code] ? `${code} (${CODE_WORDS[code]})` : code;
}

/**
 * mkdir -p without Node's `recursive` (which loops forever under /proc: its mkdir says ENOENT for a
 * parent that exists): each missing directory from the nearest existing ancestor down.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    let isDirectory: boolean | undefined;
    try {
      isDirectory = statSync(at).isDirectory();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (isDirectory === false) throw Object.assign(new Error(`${at} is not a directory`), { code: at === dir ? 'EEXIST' : 'ENOTDIR' });
    if (isDirectory) break;
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const path of missing) mkdirSync(path);
}

/**
 * Why the command cannot write into `dir` (created if missing), or undefined: checked by creating
 * the directory and a file in it, before anything runs. `flag` names where it came from (--out).
 */
export function outputDirProblem(dir: string, flag: string): string | undefined {
  const reason = writeCheck(dir);
  return reason && `${flag} ${dir}: cannot write there: ${reason}`;
}

/**
 * Why the command cannot write the file `path` (its directory created if missing), or undefined.
 * Named by the file the flag gave, not the directory derived from it: `--out /proc/forbidden/x.ts`,
 * so that the user finds their own value in the message. A directory at `path` is refused here
 * too, rather than by the rename at the end, after the work.
 */
export function outputFileProblem(path: string, flag: string): string | undefined {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // Absent (the usual case) or not reachable: the directory's check below says which.
  }
  const reason = isDirectory ? describeFsError({ code: 'EISDIR' }) : writeCheck(dirname(path));
  return reason && `${flag} ${path}: cannot write there: ${reason}`;
}

/** Creates `dir` if missing and a file in it, then removes the file: undefined, or why not in one phrase. */
function writeCheck(dir: string): string | undefined {
  try {
    makeDirectory(dir);
    const probe = join(dir, `.chaosbench-write-check-${process.pid}`);
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
    return undefined;
  } catch (error) {
    return describeFsError(error);
  }
}

/** Writes `path` whole or not at all: the content goes to a temporary file beside it, renamed over `path` once written. */
export function writeFileWhole(path: string, content: string): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, content);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new OutputError(path, error);
  }
}

/** A file that could not be written: its message is one line naming the file and the reason. */
export class OutputError extends Error {
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot write ${path}: ${describeFsError(cause)}`, { cause });
  }
}

/**
 * The check a command makes once its flags are read and before anything runs: when `dir` cannot be
 * written, prints the reason as bad input (naming `flag`) and returns true; the command exits 2.
 */
export function refuseUnwritableOutput(dir: string, flag = '--out'): boolean {
  return refused(outputDirProblem(dir, flag));
}

/** refuseUnwritableOutput for a flag that names a file (k6:export's --out, --summary-export, --summary, --baseline). */
export function refuseUnwritableFile(path: string, flag = '--out'): boolean {
  return refused(outputFileProblem(path, flag));
}

function refused(problem: string | undefined): boolean {
  if (problem) process.stderr.write(`error: ${problem}\n\nRun with --help for the options.\n`);
  return problem !== undefined;
}
