// `chaosbench <command> [flags]`: the one entry point of every command. `npm run bench -- …` is
// `tsx commands/chaosbench.ts bench …`, and so on for each command below. Each command lives in its
// own folder under commands/ and is loaded only when named, so `report` never loads a broker.

import { EXIT } from '../cli/exit.ts';
import { exitOnInterrupt } from '../cli/interrupt.ts';

type Main = (argv: string[]) => number | Promise<number>;

/** Every command: what it does (for the usage text) and where its main() is. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Main> }> = {
  audit: { summary: 'audit the sink after a k6 run of an exported script: lost, duplicates, unexpected, latency (docs/k6.md)', load: async () => (await import('./audit/audit.ts')).main },
  bench: { summary: 'run one scenario against the system under test and judge it', load: async () => (await import('./bench/bench.ts')).main },
  compare: { summary: 'several variants of one scenario, run interleaved, side by side', load: async () => (await import('./compare/compare.ts')).main },
  'k6:export': { summary: 'write a scenario as a k6 script (TypeScript, xk6-mqtt): docs/k6.md', load: async () => (await import('./k6-export/k6-export.ts')).main },
  gate: { summary: 'a statistical p99 regression gate for CI', load: async () => (await import('./gate/gate.ts')).main },
  clean: { summary: 'remove what runs killed outright left: processes, Redis keys, PostgreSQL schemas', load: async () => (await import('./clean/clean.ts')).main },
  perf: { summary: 'benchmark: capacity and CPU per message of each process, each target met or not', load: async () => (await import('./perf/perf.ts')).main },
  merge: { summary: 'merge the result.json files of a run sharded across machines', load: async () => (await import('./merge/merge-cli.ts')).main },
  report: { summary: 're-render a run directory from its result.json', load: async () => (await import('./report/report.ts')).main },
  theory: { summary: "measure the theory write-up's tables (experiments/theory/theory.md)", load: async () => (await import('./theory/theory.ts')).main },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return `Usage: chaosbench <command> [flags]   (npm run <command> -- [flags])\n\nCommands:\n${lines.join('\n')}\n\n<command> --help explains each one.\n`;
}

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(usage());
    return name === undefined ? EXIT.bad_input : EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`error: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT.bad_input;
  }
  // Ctrl-C or SIGTERM: exit 130/143 with one line; the commands that make runs stop them first (cli/interrupt.ts).
  exitOnInterrupt();
  return (await command.load())(rest);
}

// A reader that goes away (`npm run bench -- --list | head -3`) is not an error of the run: output
// to it is dropped and the command finishes as it would have, its files written.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
}

process.exitCode = await dispatch(process.argv.slice(2));
