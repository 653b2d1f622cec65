// `npm run report -- DIR`: re-renders a run directory from its result.json, with no broker and no
// aggregator: report.md, report.html, the SVG charts and the .hgrm files (reports/files.ts), the
// same set the bench command writes after a run; with --summary-export FILE, also the result as k6's
// end-of-test summary (reports/k6-summary.ts). Exit codes: 0 written · 1 some files could not be
// rendered (the others were written) · 2 bad input · 3 a file could not be written.

import { existsSync } from 'node:fs';
import { refuseUnwritableFile, refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';
import { basename, dirname, join, resolve } from 'node:path';
import { readResultJson, resultPathOf, schemaProblem } from '../../engine/result-file.ts';
import { RESULT_SCHEMA, type RunResult } from '../../engine/result.ts';
import { reportFileRenderers } from '../../reports/files.ts';
import { EXIT } from '../../cli/exit.ts';
import { k6SummaryText } from '../../reports/k6-summary.ts';

const USAGE = `Usage: npm run report -- DIR [--summary-export FILE]

Reads DIR/result.json (schema ${RESULT_SCHEMA}, as written by \`npm run bench\`) and writes, in DIR:
  report.md          the markdown report
  report.html        the same report as one self-contained page (no network), charts inline
  latency.svg        latency by percentile (end to end, each counted phase, publish→PUBACK)
  timeline.svg       consumed and offered msg/s and p99 per second, fault phases shaded
  backlog.svg        backlog per second, fault phases shaded, recovery marked
  latency.hgrm       end-to-end latency, HdrHistogram percentile text (ms)
  publish-ack.hgrm   publish→PUBACK latency
  phase-<name>.hgrm  each phase's end-to-end latency
Existing files of those names are overwritten; result.json is only read. Needs no broker.
DIR may also be the path of the result.json itself.
--summary-export FILE also writes the result as k6's end-of-test summary JSON (handleSummary's
data: metrics, and each check as a threshold with the run's verdict) for k6 tools; docs/k6.md.

A file that cannot be rendered from this result.json (an older or damaged file) is named on
stderr and left as it was; the others are still written.

Exit codes: 0 files written · 1 some files could not be rendered · 2 bad input (no result.json,
not JSON, not a ${RESULT_SCHEMA} file; the directory or --summary-export's cannot be written) · 3 a file
could not be written (a full disk: each file is whole or as it was)
`;

/** The result.json at path, or the exit-2 message naming why it is not one. */
function loadResult(path: string): { result: RunResult } | { error: string } {
  if (!existsSync(path)) return { error: `no result.json in ${dirname(path)} (looked for ${path})` };
  const read = readResultJson(path);
  if (read.notJson !== undefined) return { error: `${path} is not JSON: ${read.notJson}` };
  const problem = schemaProblem(read.parsed);
  // Only the schema is checked: an older or damaged file still renders what it can (below).
  if (problem) {
    const schema = problem.kind === 'schema' ? problem.got : undefined;
    return { error: `${path} is not a ${RESULT_SCHEMA} file (schema: ${schema === undefined ? 'missing' : JSON.stringify(schema)})` };
  }
  return { result: read.parsed as RunResult };
}

export function main(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  // --summary-export FILE (or =FILE): the one option.
  let summaryExport: string | undefined;
  const at = argv.findIndex((arg) => arg === '--summary-export' || arg.startsWith('--summary-export='));
  if (at >= 0) {
    const given = argv[at]!.includes('=') ? argv[at]!.slice(argv[at]!.indexOf('=') + 1) : argv[at + 1];
    if (given === undefined || given === '' || (!argv[at]!.includes('=') && given.startsWith('-'))) {
      process.stderr.write(`error: --summary-export: needs the file to write\n\n${USAGE}`);
      return EXIT.bad_input;
    }
    summaryExport = given;
    argv = argv.filter((_, i) => i !== at && (argv[at]!.includes('=') || i !== at + 1));
  }
  const unknown = argv.filter((arg) => arg.startsWith('-'));
  if (unknown.length > 0 || argv.length !== 1) {
    process.stderr.write(
      `error: ${unknown.length > 0 ? `unknown option ${unknown.join(', ')}` : argv.length === 0 ? 'missing the run directory' : `expected one run directory, got ${argv.length} arguments`}\n\n${USAGE}`,
    );
    return EXIT.bad_input;
  }
  const target = argv[0]!;
  const resultPath = resultPathOf(target);
  const dir = dirname(resultPath);
  if (resultPath !== target && existsSync(target) === false) {
    process.stderr.write(`error: no such directory: ${target}\n`);
    return EXIT.bad_input;
  }

  const loaded = loadResult(resultPath);
  if ('error' in loaded) {
    process.stderr.write(`error: ${loaded.error}\n`);
    return EXIT.bad_input;
  }
  const result = loaded.result;
  // Before anything is written: the run directory and the k6 summary's must take a file (exit 2 naming each).
  if (refuseUnwritableOutput(dir, 'the run directory')) return EXIT.bad_input;
  if (summaryExport !== undefined && refuseUnwritableFile(resolve(summaryExport), '--summary-export')) return EXIT.bad_input;
  let failed = 0;
  for (const [name, render] of Object.entries(reportFileRenderers(result))) {
    // Names come from reportFileRenderers (sanitised): never a path, but check rather than trust.
    if (basename(name) !== name) throw new Error(`refusing to write outside ${dir}: ${name}`);
    let content: string;
    try {
      content = render();
    } catch (error) {
      failed += 1;
      process.stderr.write(`error: cannot render ${name} from ${resultPath}: ${(error as Error).message} (left as it was)\n`);
      continue;
    }
    const path = join(dir, name);
    try {
      writeFileWhole(path, content);
    } catch (error) {
      // A full disk: each file is whole or as it was; said in one line, the run could not be rendered (3).
      process.stderr.write(`error: ${(error as Error).message}\n`);
      return EXIT.invalid_run;
    }
    process.stdout.write(`${path}\n`);
  }
  if (summaryExport !== undefined) {
    try {
      writeFileWhole(resolve(summaryExport), k6SummaryText(result));
      process.stdout.write(`${summaryExport}\n`);
    } catch (error) {
      process.stderr.write(`error: ${(error as Error).message}\n`);
      return EXIT.invalid_run;
    }
  }
  return failed > 0 ? EXIT.check_failed : EXIT.ok;
}
