// `npm run k6:export -- --scenario NAME|FILE`: writes the scenario as a k6 script in TypeScript
// for k6 with the xk6-mqtt extension (commands/k6-export/script.ts; docs/k6.md), after the flags
// that shape the load (--rate, --duration, --seed, --set …) are applied through engine/resolve.ts,
// so that the exported load is the scenario the bench would run. Prints where it wrote the script
// and what the script leaves to the harness. Exit codes: 0 written · 2 bad input · 3 cannot write.

import { refuseUnwritableFile, writeFileWhole } from '../../cli/output.ts';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { redactPasswords } from '../../aggregator/redact.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { givenScenarioFlags, parseSetFlags, scenarioFlagOptions, type ScenarioFlagName } from '../../cli/flags.ts';
import { resolveRun } from '../../engine/resolve.ts';
import { strictParser } from '../bench/bench.ts';
import { closedModelProblem, renderK6Script } from './script.ts';
import type { Scenario } from '../../scenarios/schema.ts';

/** The named flags that shape the load (cli/flags.ts): the aggregator's settings do not reach a k6 script. */
const LOAD_FLAGS = ['seed', 'duration', 'rate', 'model', 'payload-bytes', 'topics', 'publishers'] as const satisfies readonly ScenarioFlagName[];

/** The options that choose the exported load: --scenario, --set and the load flags (npm run audit takes the same). */
export function exportedLoadOptions() {
  return {
    scenario: { type: 'string', describe: 'scenario name (npm run bench -- --list), or a scenario file: ./my.yaml, ./my.json' },
    set: { type: 'array', string: true, describe: 'change any scenario field: --set phases[1].rate=800 (repeatable; applied last)' },
    ...scenarioFlagOptions(LOAD_FLAGS),
  } as const;
}

/**
 * The scenario the script of these parsed options is made from, resolved through engine/resolve.ts
 * as bench resolves it; throws a UsageError naming each bad flag or field (a closed-model scenario too).
 */
export function resolveExportedScenario(args: { scenario?: string; set?: string[] } & Record<string, unknown>): Scenario {
  const set = parseSetFlags(args.set ?? []);
  // No environment: a script starts no broker and no store, so their servers' URLs (REDIS_URL) are not its concern.
  const resolved = resolveRun({ scenario: args.scenario, flags: givenScenarioFlags(args, LOAD_FLAGS), changes: set.changes, broker: 'embedded', aggregator: 'reference', env: {} });
  const problems = [...set.problems, ...(resolved.ok ? [] : resolved.problems)];
  if (resolved.ok) {
    const closed = closedModelProblem(resolved.run.scenario);
    if (closed) problems.push(closed);
  }
  if (!resolved.ok || problems.length > 0) throw new UsageError(problems.join('\nerror: '));
  return resolved.run.scenario;
}

async function parse(argv: string[]) {
  const args = await strictParser(
    yargs(argv)
      .scriptName('npm run k6:export --')
      .usage(
        'Write a scenario as a k6 script (TypeScript) for k6 with the xk6-mqtt extension: one arrival-rate scenario per\nphase, events of our wire format with seeded ids, thresholds from the checks k6 can measure (docs/k6.md).\n\n' +
          'Usage: $0 --scenario dup-storm [--rate 2000 --duration 30s --set …] [--out FILE]\n\nExit codes: 0 written · 2 bad input · 3 the file could not be written',
      )
      .options({
        ...exportedLoadOptions(),
        out: { type: 'string', describe: 'the script file to write (default reports/out/k6/<scenario>.ts)' },
      }),
  ).parseAsync();
  const scenario = resolveExportedScenario(args);
  return { scenario, out: resolve(args.out ?? join('reports', 'out', 'k6', `${scenario.name}.ts`)) };
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = await parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${redactPasswords(error.message)}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  // A directory the script cannot go to is bad input, named by --out.
  if (refuseUnwritableFile(parsed.out)) return EXIT.bad_input;
  const script = renderK6Script(parsed.scenario, `npm run k6:export -- ${argv.join(' ')}`);
  try {
    writeFileWhole(parsed.out, script.text);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return EXIT.invalid_run;
  }
  process.stdout.write(`wrote ${parsed.out}\n`);
  if (script.notes.length > 0) process.stdout.write(`left to the harness (docs/k6.md):\n${script.notes.map((note) => `  - ${note}`).join('\n')}\n`);
  return EXIT.ok;
}
