// `npm run merge -- DIR… [--out DIR]`: the command line over the pure merge (merge.ts). Reads each
// part with result-file.ts, refuses (exit 2) every unreadable part and every reason the parts are
// not one run at once, writes the merged result.json and its report files, and never writes over
// one of the parts it read. Exit codes as a run's (cli/exit.ts): 0 passed · 1 a check failed · 2
// bad input · 3 merged, run invalid.

import { existsSync, realpathSync } from 'node:fs';
import { outputDirProblem, writeFileWhole } from '../../cli/output.ts';
import { basename, dirname, join, resolve } from 'node:path';
import { EXIT, exitOfVerdict } from '../../cli/exit.ts';
import { mergedReportFiles, renderMergeSummary } from '../../reports/merge.ts';
import { mergeResults, type MergePart } from './merge.ts';
import { mergeProblems } from './merge-problems.ts';
import { readPart, readResultJson, resultPathOf } from '../../engine/result-file.ts';
import { runVerdict } from '../../engine/result.ts';

export const MERGE_USAGE = `Usage: npm run merge -- DIR DIR… [--out DIR]

Merges the result.json of each DIR (the shards of one run, \`npm run bench -- --shard I/N\`, or runs
of the same scenario side by side) into one result.json, as if one harness had driven it all:
latency histograms added exactly, ledger counts summed, rates, validity and checks recomputed.
Writes result.json, report.md, report.html, the SVG charts and the .hgrm files to --out (default
reports/out/<time>-<scenario>-merged-<N>). A DIR may also be the path of a result.json.

Refuses (exit 2), naming what differs, parts that are not one run: another scenario or settings,
another aggregator kind, shards missing or given twice, the same run given twice.

Exit codes: 0 merged, checks passed · 1 merged, a check failed · 2 bad input · 3 merged, run invalid
`;

export interface MergeIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Resolves the default --out (relative to the working directory). */
  cwd?: string;
}

const defaultIo: MergeIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

function parseArgs(argv: readonly string[]): { inputs: string[]; out?: string; help: boolean } | { error: string } {
  const inputs: string[] = [];
  let out: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--out') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) return { error: '--out needs a directory' };
      out = value;
    } else if (arg.startsWith('--out=')) out = arg.slice('--out='.length);
    else if (arg.startsWith('-')) return { error: `unknown option ${arg}` };
    else inputs.push(arg);
  }
  return { inputs, ...(out !== undefined ? { out } : {}), help };
}

export function main(argv: readonly string[], io: MergeIo = defaultIo): number {
  const args = parseArgs(argv);
  if ('error' in args) {
    io.stderr(`error: ${args.error}\n\n${MERGE_USAGE}`);
    return EXIT.bad_input;
  }
  if (args.help) {
    io.stdout(MERGE_USAGE);
    return EXIT.ok;
  }
  if (args.inputs.length < 2) {
    io.stderr(`error: merging needs at least two run directories, got ${args.inputs.length}\n\n${MERGE_USAGE}`);
    return EXIT.bad_input;
  }
  const cwd = io.cwd ?? process.cwd();

  // Every unreadable or garbled file at once, then every reason the readable ones do not merge.
  const errors: string[] = [];
  const parts: MergePart[] = [];
  const paths: string[] = [];
  for (const input of args.inputs) {
    const target = resolve(cwd, input);
    const path = resultPathOf(target);
    if (!existsSync(target)) {
      errors.push(`${input}: no such directory or file`);
      continue;
    }
    if (!existsSync(path)) {
      errors.push(`${input}: no result.json in it (looked for ${path})`);
      continue;
    }
    const read = readResultJson(path);
    if (read.notJson !== undefined) {
      errors.push(`${path}: not JSON: ${read.notJson}`);
      continue;
    }
    const checked = readPart(path, read.parsed);
    if (checked.part) {
      parts.push(checked.part);
      paths.push(path);
    } else errors.push(...checked.errors);
  }
  if (errors.length === 0) errors.push(...mergeProblems(parts));
  if (errors.length > 0) {
    io.stderr(`error: ${errors.join('\nerror: ')}\n`);
    return EXIT.bad_input;
  }

  const merged = mergeResults(parts, paths);
  const outDir = resolve(cwd, args.out ?? join('reports', 'out', merged.run_id));
  // Writing into a part's directory would replace that part's own result.json and report.
  const real = (path: string) => (existsSync(path) ? realpathSync(path) : path);
  if (paths.some((path) => real(dirname(path)) === real(outDir))) {
    io.stderr(`error: --out ${outDir} is the directory of one of the parts; choose another\n`);
    return EXIT.bad_input;
  }
  const problem = outputDirProblem(outDir, '--out');
  if (problem) {
    io.stderr(`error: ${problem}\n`);
    return EXIT.bad_input;
  }
  try {
    writeFileWhole(join(outDir, 'result.json'), `${JSON.stringify(merged, null, 2)}\n`);
    for (const [name, content] of Object.entries(mergedReportFiles(merged))) {
      if (basename(name) !== name) throw new Error(`refusing to write outside ${outDir}: ${name}`);
      writeFileWhole(join(outDir, name), content);
    }
  } catch (error) {
    // A full disk: each file is whole or absent; one line, exit 3.
    io.stderr(`error: ${(error as Error).message}\n`);
    return EXIT.invalid_run;
  }
  io.stdout(`${renderMergeSummary(merged)}\nmerged: ${join(outDir, 'result.json')}\nreport: ${join(outDir, 'report.md')}\n`);
  return exitOfVerdict(runVerdict(merged), merged.interrupted);
}
