// Scenarios from files: the same shape as scenarios/*.ts, written as JSON or YAML
// (`--scenario ./my.yaml`). Reads the file and parses it; validation is the caller's, as for the
// shipped ones. Errors name the file and, where the parser knows it, the line.

import { closeSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** True when a --scenario value names a file rather than a shipped scenario. */
export function isScenarioFile(value: string): boolean {
  return /\.(json|ya?ml)$/i.test(value) || value.includes('/');
}

/** The largest scenario (or target) file read: the shipped scenarios are a few KB as YAML. */
export const MAX_SCENARIO_FILE_BYTES = 1024 * 1024;

/**
 * At most `cap` bytes of the file as UTF-8 text, or an Error naming the cap: a larger file, or one
 * that never ends (/dev/zero, a pipe), is refused after reading cap + 1 bytes, never read whole.
 */
function readCapped(path: string, what: string, cap: number): string {
  const buffer = Buffer.alloc(cap + 1);
  let length = 0;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    for (let read = -1; read !== 0 && length <= cap; ) {
      read = readSync(fd, buffer, length, buffer.length - length, null);
      length += read;
    }
  } catch (error) {
    throw new Error(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (length > cap) throw new Error(`${what} ${path} is larger than the cap of ${cap} bytes (${cap / 1024 / 1024} MiB)`);
  return buffer.toString('utf8', 0, length);
}

/** `what` names the file in errors: a scenario file, or a target file (bench --target). */
export function loadScenarioFile(path: string, what = 'scenario file', cap = MAX_SCENARIO_FILE_BYTES): unknown {
  const text = readCapped(path, what, cap);
  const extension = extname(path).toLowerCase();
  try {
    if (extension === '.json') return JSON.parse(text);
    if (extension === '.yaml' || extension === '.yml') return parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new Error(`${what} ${path} does not parse: ${(error as Error).message.split('\n')[0]}`);
  }
  throw new Error(`${what} ${path}: expected a .json, .yaml or .yml file`);
}
