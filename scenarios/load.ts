// Scenarios from files: the same shape as scenarios/*.ts, written as JSON or YAML
// (`--scenario ./my.yaml`). Reads the file and parses it; validation is the caller's, as for the
// shipped ones. Errors name the file and, where the parser knows it, the line.

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** True when a --scenario value names a file rather than a shipped scenario. */
export function isScenarioFile(value: string): boolean {
  return /\.(json|ya?ml)$/i.test(value) || value.includes('/');
}

/** `what` names the file in errors: a scenario file, or a target file (bench --target). */
export function loadScenarioFile(path: string, what = 'scenario file'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const extension = extname(path).toLowerCase();
  try {
    if (extension === '.json') return JSON.parse(text);
    if (extension === '.yaml' || extension === '.yml') return parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new Error(`${what} ${path} does not parse: ${(error as Error).message.split('\n')[0]}`);
  }
  throw new Error(`${what} ${path}: expected a .json, .yaml or .yml file`);
}
