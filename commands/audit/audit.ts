// `npm run audit -- --scenario NAME|FILE --sink sqlite:PATH|postgres[://…]`: audits the sink after a
// k6 run of the script `npm run k6:export` wrote for the same scenario and load flags (docs/k6.md,
// "Auditing the sink afterwards"): the events the script published, known from the scenario, against
// the sink's rows and DLQ, through the harness's ledger (commands/audit/audit-ledger.ts); k6's
// end-of-test summary (--k6-summary) splits the events missing from the sink. Writes audit.json and
// audit.md, prints a summary and judges the scenario's checks the sink can answer.
// Exit codes: 0 every judged check passed · 1 a check failed or is undetermined · 2 bad input · 3 the sink cannot be read.

import { existsSync, readFileSync } from 'node:fs';
import { refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { DEFAULT_DATABASE_URL, resolveSchema } from '../../aggregator/postgres.ts';
import { passwordInFlag, redactPassword, redactPasswords } from '../../aggregator/redact.ts';
import { parseSinkSpec, type SinkSpec } from '../../aggregator/sink/spec.ts';
import { iterateSinkRows, readDeadLetters } from '../../aggregator/sink/sqlite.ts';
import { iteratePostgresSinkRows, readPostgresDeadLetters } from '../../aggregator/sink/postgres.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { deadLetterKey } from '../../engine/ledger/index.ts';
import { renderAuditMarkdown, renderAuditSummary } from '../../reports/audit.ts';
import { strictParser } from '../bench/bench.ts';
import { exportedLoadOptions, resolveExportedScenario } from '../k6-export/k6-export.ts';
import { audit, type K6Counts, type SinkRows } from './audit-ledger.ts';

/** Each k6 count, under the script's name (handleSummary or k6's --summary-export) or bench --summary-export's. */
const K6_COUNT_NAMES: Record<keyof K6Counts, string[]> = {
  dropped_iterations: ['dropped_iterations', 'never_sent'],
  publishes_unacked: ['publishes_unacked', 'lost_unacked'],
};

/** k6's counts from a summary file: `data` as handleSummary gets it ({metrics: {M: {values: {count}}}}) or the flat --summary-export ({metrics: {M: {count}}}); a metric k6 left out had no sample: 0. */
export function readK6Counts(file: string): K6Counts {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--k6-summary: cannot read ${file} as JSON: ${(error as Error).message}`);
  }
  const metrics = (parsed as { metrics?: unknown } | null)?.metrics;
  if (typeof metrics !== 'object' || metrics === null) throw new UsageError(`--k6-summary: ${file} has no "metrics" object (not a k6 end-of-test summary)`);
  const count = (name: string): number | undefined => {
    const metric = (metrics as Record<string, { values?: { count?: unknown }; count?: unknown } | undefined>)[name];
    if (metric === undefined) return undefined;
    const value = metric.values?.count ?? metric.count;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new UsageError(`--k6-summary: metrics.${name} has no count (a whole number ≥ 0)`);
    return value;
  };
  const read = (key: keyof K6Counts) => K6_COUNT_NAMES[key].map(count).find((value) => value !== undefined) ?? 0;
  return { dropped_iterations: read('dropped_iterations'), publishes_unacked: read('publishes_unacked') };
}

async function parse(argv: string[]) {
  const args = await strictParser(
    yargs(argv)
      .scriptName('npm run audit --')
      .usage(
        'Audit the sink after a k6 run of the script npm run k6:export wrote: the events it published (known from the\nscenario and the same load flags) against the sink\'s rows and DLQ; writes audit.json and audit.md (docs/k6.md).\n\n' +
          'Usage: $0 --scenario dup-storm [--rate 2000 --duration 30s --set …] --sink sqlite:PATH [--k6-summary FILE] [--out DIR]\n\n' +
          'Exit codes: 0 every judged check passed · 1 a check failed (or cannot be decided) · 2 bad input · 3 the sink cannot be read',
      )
      .options({
        ...exportedLoadOptions(),
        sink: { type: 'string', describe: 'the sink the consumer wrote (reference schema): sqlite:PATH | postgres (DATABASE_URL) | postgres://USER@HOST:PORT/DB (password: PGPASSWORD or DATABASE_URL, never a flag)' },
        'sink-schema': { type: 'string', describe: 'PostgreSQL schema of the sink\'s tables (default chaosbench)' },
        'k6-summary': { type: 'string', describe: "k6's end-of-test summary as JSON (handleSummary's data or k6 --summary-export): dropped_iterations and publishes_unacked split the missing events" },
        out: { type: 'string', describe: 'where audit.json and audit.md go (default reports/out/audit/<scenario>)' },
      }),
  ).parseAsync();
  const problems: string[] = [];
  let sink: SinkSpec | undefined;
  if (args.sink === undefined) problems.push('--sink: required: sqlite:PATH, postgres or postgres://USER@HOST:PORT/DB');
  else {
    const secret = passwordInFlag('--sink', args.sink);
    if (secret) problems.push(secret);
    else {
      try {
        sink = parseSinkSpec(args.sink);
      } catch (error) {
        problems.push(`--sink: ${(error as Error).message}`);
      }
    }
  }
  if (args['sink-schema'] !== undefined && sink?.kind !== 'postgres') problems.push('--sink-schema: only for a postgres sink');
  let schema: string | undefined;
  try {
    schema = resolveSchema(args['sink-schema']);
  } catch (error) {
    problems.push(`--sink-schema: ${(error as Error).message}`);
  }
  let scenario;
  try {
    scenario = resolveExportedScenario(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    problems.push(error.message);
  }
  const k6 = args['k6-summary'] === undefined ? undefined : readK6Counts(args['k6-summary']);
  if (problems.length > 0 || !scenario || !sink) throw new UsageError(problems.join('\nerror: '));
  const out = resolve(args.out ?? join('reports', 'out', 'audit', scenario.name));
  return { scenario, sink, schema, k6, out };
}

/** The sink's rows (a fresh stream per call) and dead letters; throws when it cannot be read. */
async function openSink(sink: SinkSpec, schema: string | undefined): Promise<{ rows: SinkRows; dead_letters: Awaited<ReturnType<typeof readDeadLetters>>; named: string }> {
  if (sink.kind === 'sqlite') {
    const path = resolve(sink.path);
    if (!existsSync(path)) throw new Error(`no SQLite file at ${path}`);
    return { rows: () => iterateSinkRows(path), dead_letters: readDeadLetters(path), named: `sqlite:${path}` };
  }
  const location = { url: sink.url ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, schema };
  return { rows: () => iteratePostgresSinkRows(location), dead_letters: await readPostgresDeadLetters(location), named: `${redactPassword(location.url)} schema ${schema}` };
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
  // Before the sink is read: a directory the audit cannot go to is bad input, named by --out.
  if (refuseUnwritableOutput(parsed.out)) return EXIT.bad_input;
  let result;
  let named;
  try {
    const sink = await openSink(parsed.sink, parsed.schema);
    named = sink.named;
    result = await audit({ scenario: parsed.scenario, rows: sink.rows, dead_letters: sink.dead_letters.map(deadLetterKey), ...(parsed.k6 ? { k6: parsed.k6 } : {}) });
  } catch (error) {
    process.stderr.write(`error: cannot read the sink: ${redactPasswords((error as Error).message)}\n`);
    return EXIT.invalid_run;
  }
  try {
    writeFileWhole(join(parsed.out, 'audit.json'), `${JSON.stringify({ sink: named, ...result }, null, 2)}\n`);
    writeFileWhole(join(parsed.out, 'audit.md'), renderAuditMarkdown(result));
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return EXIT.invalid_run;
  }
  process.stdout.write(`audit of ${named} against ${parsed.scenario.name} (seed ${parsed.scenario.seed})\n${renderAuditSummary(result)}\nwrote ${join(parsed.out, 'audit.json')} and audit.md\n`);
  return result.verdict === 'pass' ? EXIT.ok : EXIT.check_failed;
}
