// `npm run clean`: removes what runs that were killed outright (SIGKILL, a lost machine) left behind:
// their leftover child processes, their Redis keys and their PostgreSQL schemas, found through the
// registry of live runs (engine/run-registry.ts). Every bench run does the same at its start.
// Exit codes: 0 done (or nothing to do) · 2 bad input · 3 something could not be removed (named, one line
// each; a server that is down or never answers is given a few seconds, never waited for without end).

import yargs from 'yargs';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { cleanDeadRuns, registryDir } from '../../engine/run-registry.ts';
import { strictParser } from '../bench/bench.ts';

export async function main(argv: string[]): Promise<number> {
  let dryRun: boolean;
  try {
    const args = await strictParser(
      yargs(argv)
        .scriptName('npm run clean --')
        .usage(
          `Remove what runs killed outright (SIGKILL) left behind: their child processes (broker, aggregator, target),\ntheir Redis keys and their PostgreSQL schemas. Runs are found in the registry of live runs,\n${registryDir()}\n($CHAOSBENCH_STATE_DIR, else $XDG_STATE_HOME/chaosbench/runs); a run whose harness still runs is left alone.\nEvery \`npm run bench\` does this at its start too. A server URL with a password is not stored: set\nREDIS_URL or DATABASE_URL to it as the run had it. A server that is down or never answers is given 5 s\n(30 s for a DROP SCHEMA): what could not be removed is named on stderr, one line each, and its run's record is\nkept for a later clean.\n\nExit codes: 0 done · 2 bad input · 3 something could not be removed (named on stderr)`,
        )
        .options({ 'dry-run': { type: 'boolean', default: false, describe: 'say what would be removed, remove nothing' } }),
    ).parseAsync();
    dryRun = args['dry-run'];
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  const outcome = await cleanDeadRuns({ dry_run: dryRun, log: (line) => process.stdout.write(`${line}\n`) });
  if (outcome.runs === 0 && outcome.problems.length === 0) process.stdout.write('clean: no run left anything behind\n');
  else if (!dryRun) process.stdout.write(`clean: ${outcome.runs} dead run${outcome.runs === 1 ? '' : 's'}: ${outcome.processes} processes killed, ${outcome.keys} Redis keys deleted, ${outcome.schemas} schemas dropped\n`);
  for (const problem of outcome.problems) process.stderr.write(`error: ${problem}\n`);
  return outcome.problems.length > 0 ? EXIT.invalid_run : EXIT.ok;
}
