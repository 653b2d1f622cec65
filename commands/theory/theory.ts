// `npm run theory`: runs the experiments behind the write-up's tables (all, or --only some) and
// writes theory.json and theory.md. With --only, the other tables of an existing theory.json are
// kept, so one table can be re-measured without re-running the rest.
// Exit codes: 0 written · 1 an experiment failed (the others are still written) · 2 bad input · 3 not written ·
// 130/143 interrupted (cli/interrupt.ts).

import { cpus } from 'node:os';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { renderTheory } from '../../reports/theory.ts';
import { strictParser } from '../bench/bench.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { exitOfInterrupt, stopOnInterrupt } from '../../cli/interrupt.ts';
import { describeFsError, OutputError, refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';
import { gitSha } from '../../engine/result-assembly.ts';
import { makeRunId } from '../../engine/run.ts';
import { EXPERIMENTS } from '../../experiments/theory/index.ts';
import type { TheoryDocument, TheoryExperiment, TheoryTable } from '../../experiments/theory/types.ts';

export const THEORY_SCHEMA = 'chaosbench.theory/1';
export const DEFAULT_THEORY_SEED = 42;

export interface TheoryPlan {
  experiments: TheoryExperiment[];
  seed: number;
  out: string;
  runs_dir: string;
  broker?: string;
  command: string;
}

export async function parseTheoryArgs(argv: string[]): Promise<TheoryPlan | 'listed'> {
  const args = await strictParser(
    yargs(argv)
      .scriptName('npm run theory --')
      .usage(
        'Measure the tables of the write-up on pub-sub log aggregation with small real runs, and write theory.json and theory.md.\n\n' +
          'Usage: $0 [--only 2,5] [--seed 42] [--out experiments/theory]\n\n' +
          'Exit codes: 0 written · 1 an experiment failed (the others are written) · 2 bad input · 3 theory.md could not be written · 130/143 interrupted by SIGINT/SIGTERM (the run under way stops and cleans up; the tables measured before it are kept)',
      )
      .options({
        only: { type: 'string', describe: 'tables to measure, by number or slug: 2,5 or delivery-semantics (default: all)' },
        list: { type: 'boolean', describe: 'list the tables and exit' },
        seed: { type: 'number', default: DEFAULT_THEORY_SEED, describe: 'seed for every random choice of every experiment' },
        out: { type: 'string', default: join('experiments', 'theory'), describe: 'where theory.json and theory.md go (the committed copy is experiments/theory)' },
        'runs-dir': { type: 'string', describe: "where each run's result.json and report go (default reports/out/<timestamp>-theory)" },
        broker: { type: 'string', describe: 'mqtt://host:port of an external broker instead of the embedded Aedes (tables that kill the broker need the embedded one)' },
      })
  ).parseAsync();
  if (args.list) {
    for (const e of EXPERIMENTS) console.log(`${e.id}. ${e.slug.padEnd(20)} ${e.title}`);
    return 'listed';
  }
  const problems: string[] = [];
  if (!Number.isInteger(args.seed) || args.seed < 0) problems.push(`--seed must be a whole number >= 0, got ${String(args.seed)}`);
  let experiments = [...EXPERIMENTS];
  if (args.only !== undefined) {
    const wanted = args.only.split(',').map((s) => s.trim()).filter(Boolean);
    const picked = new Set<TheoryExperiment>();
    for (const item of wanted) {
      const found = EXPERIMENTS.find((e) => String(e.id) === item || e.slug === item);
      if (found) picked.add(found);
      else problems.push(`--only: no table '${item}' (tables: ${EXPERIMENTS.map((e) => `${e.id} ${e.slug}`).join(', ')})`);
    }
    if (wanted.length === 0) problems.push('--only needs at least one table number or slug, e.g. --only 2,5');
    experiments = EXPERIMENTS.filter((e) => picked.has(e));
  }
  if (args.broker !== undefined && !/^mqtts?:\/\/[^/]+/.test(args.broker)) problems.push(`--broker must be mqtt://host:port, got '${args.broker}'`);
  if (problems.length > 0) throw new UsageError(problems.join('\nerror: '));
  return {
    experiments,
    seed: args.seed,
    out: resolve(args.out),
    runs_dir: resolve(args['runs-dir'] ?? join('reports', 'out', makeRunId('theory'))),
    ...(args.broker !== undefined ? { broker: args.broker } : {}),
    command: ['npm', 'run', 'theory', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
  };
}

/** The existing document in `out`, when it is one of ours; a damaged one is reported and replaced. */
function previousDocument(path: string): TheoryDocument | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as TheoryDocument;
    if (doc.schema === THEORY_SCHEMA && Array.isArray(doc.tables)) return doc;
  } catch {
    // fall through
  }
  console.error(`warning: ${path} is not a ${THEORY_SCHEMA} file; it will be replaced`);
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  let plan: TheoryPlan | 'listed';
  try {
    plan = await parseTheoryArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n(npm run theory -- --help explains the flags)`);
    return EXIT.bad_input;
  }
  if (plan === 'listed') return EXIT.ok;
  // Before anything runs: both places it writes to must take a file (exit 2 naming the flag).
  if (refuseUnwritableOutput(plan.out) || refuseUnwritableOutput(plan.runs_dir, '--runs-dir')) return EXIT.bad_input;
  const jsonPath = join(plan.out, 'theory.json');
  const previous = previousDocument(jsonPath);
  const tables = new Map<number, TheoryTable>((previous?.tables ?? []).map((t) => [t.id, t]));
  let failed = 0;
  const started = Date.now();
  const interrupt = stopOnInterrupt("stopping the run under way, removing its keys and schema", (line) => console.error(line));
  try {
    for (const [i, experiment] of plan.experiments.entries()) {
      if (interrupt.signal.aborted) break;
      const outcome = await measureTable(plan, experiment, `[${i + 1}/${plan.experiments.length}]`, interrupt.signal);
      if (outcome === 'interrupted') break;
      if (outcome === 'failed') failed++;
      else tables.set(outcome.id, outcome);
      // Written after every table (each file whole): a long run cut short keeps what it measured.
      writeDocument(plan, jsonPath, [...tables.values()]);
    }
  } catch (error) {
    // theory.json or theory.md cannot be written (a full disk): one line, exit 3.
    process.stderr.write(`error: ${error instanceof OutputError ? error.message : describeFsError(error)}\n`);
    return EXIT.invalid_run;
  } finally {
    interrupt.release();
  }
  if (interrupt.signal.aborted) {
    console.error(`interrupted by ${String(interrupt.signal.reason)}: the table under way stopped (its runs removed their keys and schemas) and is not written; ${join(plan.out, 'theory.md')} holds the tables measured before it (runs in ${plan.runs_dir})`);
    return exitOfInterrupt(interrupt.signal);
  }
  console.log(`theory: ${plan.experiments.length - failed} of ${plan.experiments.length} tables measured in ${Math.round((Date.now() - started) / 1000)} s → ${join(plan.out, 'theory.md')} (runs in ${plan.runs_dir})`);
  return failed > 0 ? EXIT.check_failed : EXIT.ok;
}

/** One experiment: its table, 'failed' (said on stderr) or 'interrupted' (the signal stopped it). */
async function measureTable(plan: TheoryPlan, experiment: TheoryExperiment, head: string, signal: AbortSignal): Promise<TheoryTable | 'failed' | 'interrupted'> {
  const runsDir = join(plan.runs_dir, `${experiment.id}-${experiment.slug}`);
  mkdirSync(runsDir, { recursive: true });
  console.log(`${head} table ${experiment.id}: ${experiment.title}`);
  try {
    const warnings: string[] = [];
    const table = await experiment.run({
      seed: plan.seed,
      out_dir: runsDir,
      ...(plan.broker ? { broker_url: plan.broker } : {}),
      log: (line) => console.log(line),
      warn: (line) => {
        warnings.push(line);
        console.log(`  warning: ${line}`);
      },
      signal,
    });
    if (signal.aborted) return 'interrupted';
    console.log(`  done in ${Math.round(table.duration_ms / 1000)} s`);
    return warnings.length > 0 ? { ...table, warnings: [...(table.warnings ?? []), ...warnings] } : table;
  } catch (error) {
    if (signal.aborted) return 'interrupted';
    console.error(`  table ${experiment.id} failed: ${(error as Error).stack ?? String(error)}`);
    return 'failed';
  }
}

function writeDocument(plan: TheoryPlan, jsonPath: string, tables: TheoryTable[]): void {
  const cpu = cpus();
  const doc: TheoryDocument = {
    schema: THEORY_SCHEMA,
    created_at: new Date().toISOString(),
    git_sha: gitSha(),
    machine: { cpus: cpu.length, cpu_model: cpu[0]?.model.trim() ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}` },
    seed: plan.seed,
    command: plan.command,
    tables: tables.sort((a, b) => a.id - b.id),
  };
  writeFileWhole(jsonPath, `${JSON.stringify(doc, null, 2)}\n`);
  writeFileWhole(join(plan.out, 'theory.md'), renderTheory(doc));
}
