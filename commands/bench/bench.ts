// `npm run bench`: parse flags, resolve the scenario (with overrides), validate everything, run,
// write result.json + report.md, print a summary. Exit codes (cli/exit.ts): 0 ok, 1 a check failed,
// 2 bad input, 3 run invalid or broker unavailable.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { SCENARIOS } from '../../scenarios/index.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { validateScenario } from '../../scenarios/validate.ts';
import { describeTarget, targetProblems } from '../../engine/target/needs.ts';
import { isScenarioFile, loadScenarioFile } from '../../scenarios/load.ts';
import { parseAssignment, setPath } from '../../scenarios/override.ts';
import { parseBrokerSpec } from '../../engine/broker/index.ts';
import { describeSinkChoice, parseSinkChoice, sinkDedupProblems } from '../../engine/run-sink/index.ts';
import { makeRunId, runScenario, type AggregatorKind } from '../../engine/run.ts';
import { renderSummary } from '../../reports/markdown.ts';
import { reportFiles } from '../../reports/files.ts';
import type { RunResult } from '../../engine/result.ts';
import { describeRate } from '../../engine/load/schedule.ts';
import { parseShard, shardProblems, type Shard } from '../../engine/load/shard.ts';
import { writeProfileReport } from '../../engine/profiles.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { progressWriter } from '../../cli/progress.ts';
import { applyScenarioFlags, flagErrors, flagOf, RUN_FLAGS, SCENARIO_FLAG_NAMES, scenarioFlagOptions, setOver } from '../../cli/flags.ts';

/** Writes <dir>/result.json (creating dir): first, so that it is kept even if a report file cannot be rendered. */
export function writeResult(dir: string, result: RunResult): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
}

/** report.md, latency.svg, timeline.svg and the .hgrm files beside result.json: the same set `npm run report` writes. */
export function writeReportFiles(dir: string, result: RunResult): void {
  for (const [name, content] of Object.entries(reportFiles(result))) writeFileSync(join(dir, name), content);
}

/**
 * The end every harness command's parser shares: unknown flags refused, --help, no --version, help
 * wrapped to the terminal, and every parse failure a UsageError (exit 2, naming the flag).
 */
export function strictParser<T>(parser: Argv<T>): Argv<T> {
  return parser
    .strict()
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error) => {
      throw new UsageError(message ?? error?.message ?? 'bad arguments');
    });
}

export interface BenchArgs {
  scenario: Scenario;
  overrides: Record<string, unknown>;
  broker: string;
  /** --sink: sqlite (default, <out>/sink.db), postgres or postgres://USER@HOST:PORT/DB. */
  sink?: string;
  out_dir: string;
  aggregator: AggregatorKind;
  quiet: boolean;
  json: boolean;
  /** --shard I/N: this process's share of a run that several harness processes drive. */
  shard?: Shard;
  /** --cpu-prof: CPU profiles of the aggregator, the embedded broker and the harness's threads under <out>/profiles/. */
  cpu_prof: boolean;
}

/** Where --aggregator goes among the named flags in --help: before the first of the aggregator's settings. */
const AGGREGATOR_FLAGS_FROM = SCENARIO_FLAG_NAMES.indexOf('dedup');

export async function parseBenchArgs(argv: string[]): Promise<BenchArgs | 'listed'> {
  const args = await strictParser(
    yargs(argv)
      .scriptName('npm run bench --')
      .usage(
        'Run a chaos benchmark scenario against the reference aggregator (or your own consumer: --target) and write\nresult.json + report.md.\n\n' +
          'Usage: $0 --scenario dup-storm [options]\n\n' +
          'Exit codes: 0 ok · 1 a check failed · 2 bad input · 3 run invalid (the generator could not keep its schedule)\n' +
            'or could not complete (e.g. the broker is unreachable)',
      )
      .options({
        scenario: { type: 'string', describe: 'scenario name (see --list), or a scenario file: ./my.yaml, ./my.json' },
        set: { type: 'array', string: true, describe: 'change any scenario field: --set phases[1].rate=800 --set aggregator.dedup=memory (repeatable; applied last)' },
        list: { type: 'boolean', describe: 'list the scenarios and exit' },
        // Every named flag (cli/flags.ts), --aggregator among them before the aggregator's settings.
        ...scenarioFlagOptions(SCENARIO_FLAG_NAMES.slice(0, AGGREGATOR_FLAGS_FROM)),
        aggregator: {
          choices: ['reference', 'none'] as const,
          default: 'reference',
          describe: 'reference: the aggregator under test; none: a bare subscriber that acks on receipt (the ceiling to compare with)',
        },
        ...scenarioFlagOptions(SCENARIO_FLAG_NAMES.slice(AGGREGATOR_FLAGS_FROM)),
        target: {
          type: 'string',
          describe: "your own consumer instead of the reference: a target file (YAML/JSON, the scenario's `target` section: command, env, ready, stop_signal, sink); docs/bring-your-own-consumer.md",
        },
        'target-command': {
          type: 'string',
          describe: "the target's command line (split on spaces, no shell); without a target: ready after 1 s, sink read as the reference schema",
        },
        'target-query': {
          type: 'string',
          describe: "read the target's sink with this SQL, one row per committed write in commit order, with event_id and a commit time (column names: --set target.sink.event_id_column=…, target.sink.commit_time_column=…)",
        },
        ...RUN_FLAGS,
        shard: { type: 'string', describe: 'I/N: drive shard I of a run split over N harness processes (machines) on one --broker; each publishes its share of the publishers; combine with npm run merge' },
        out: { type: 'string', describe: 'output directory (default reports/out/<timestamp>-<scenario>)' },
        quiet: { type: 'boolean', default: false, describe: 'no progress lines' },
        json: { type: 'boolean', default: false, describe: 'print result.json to stdout instead of the summary' },
        'cpu-prof': {
          type: 'boolean',
          default: false,
          describe: 'profile the aggregator, the embedded broker (node --cpu-prof) and the harness\'s main thread and load workers: .cpuprofile files and a summary, profile.md, under <out>/profiles/ (profiling costs CPU: capacity figures from such a run are lower)',
        },
      })
      // Examples and scenario fields as preformatted text: yargs' two-column examples break each
      // command across lines, and docs/commands.md carries this help verbatim (cli.test.ts holds them equal).
      .epilogue(
        [
          'Examples:',
          '  $0 --scenario dup-storm                                   # the default run (about 30 s)',
          '  $0 --scenario dup-storm --dedup none --sink-mode append   # duplicates reach the sink',
          '  $0 --scenario dup-storm --dedup memory --rate 2000 --duration 30s',
          '  $0 --scenario dup-storm --broker mqtt://127.0.0.1:1883    # an external broker',
          '  $0 --scenario dup-storm --sink postgres --dedup postgres  # claims in the sink\'s transaction',
          '  $0 --scenario dup-storm --rate 5000 --duration 30s        # sustained, or exit 3 and why',
          '  $0 --scenario dup-storm --rate 500000 --duration 10s      # past the generator: drops, exit 3',
          '  $0 --scenario dup-storm --rate 1000:20000 --duration 60s  # where the backlog starts to grow',
          '  $0 --scenario dup-storm --rate 20000 --aggregator none    # generator and broker ceiling',
          '  $0 --scenario consumer-crash --target examples/naive-consumer/target.yaml   # your own consumer',
          '',
          'Scenario fields often changed with --set (every field is described in scenarios/schema.ts):',
          '  load.max_lag_ms            open model: an event more than this many ms behind its intended send time',
          '                             at hand-off is dropped (never sent, counted) and the run is invalid, exit 3',
          '                             (default 5000)',
          '  load.window                most un-acked QoS 1 publishes per publisher connection (as --window)',
          '  load.puback_timeout_ms     a publish without a PUBACK this long frees its slot, counted as an error',
          '  aggregator.commit_hold_ms  hold each sink transaction open this long after its INSERT, before COMMIT',
          '                             (calibration: latency ends when the COMMIT has returned; default 0)',
          '  drain_timeout_s            the longest the run waits after the end of the schedule, for PUBACKs and',
          '                             the drain together; events not committed by then are reported as such,',
          '                             with the reason, and count as lost',
        ].join('\n'),
      )
  ).parseAsync();

  if (args.list) {
    const width = Math.max(...Object.keys(SCENARIOS).map((name) => name.length));
    for (const scenario of Object.values(SCENARIOS)) process.stdout.write(`${scenario.name.padEnd(width)}  ${scenario.description}\n`);
    return 'listed';
  }
  // Every problem at once (docs/scenarios-and-faults.md): the that can be checked on their own first, then the
  // scenario with the overrides that parsed (a flag that failed is not applied, so not reported twice).
  const problems: string[] = [];
  let base: Scenario | undefined;
  if (!args.scenario) problems.push(`--scenario is required (one of: ${Object.keys(SCENARIOS).join(', ')}, or a .json/.yaml file); --list describes them`);
  else if (isScenarioFile(args.scenario)) {
    // A file is checked as it stands first, so its own errors are named before any override applies.
    try {
      const loaded = validateScenario(loadScenarioFile(args.scenario));
      if (loaded.ok) base = loaded.scenario;
      else problems.push(`scenario file ${args.scenario} is invalid:\n  ${loaded.errors.join('\n  ')}`);
    } catch (error) {
      problems.push(`--scenario: ${(error as Error).message}`);
    }
  } else {
    base = SCENARIOS[args.scenario];
    if (!base) problems.push(`--scenario: unknown scenario '${args.scenario}' (known: ${Object.keys(SCENARIOS).join(', ')}; or a path to a .json/.yaml file)`);
  }
  const flag = <T>(name: string, check: () => T): T | undefined => {
    try {
      return check();
    } catch (error) {
      problems.push(error instanceof UsageError ? error.message : `--${name}: ${(error as Error).message}`);
      return undefined;
    }
  };
  // The named flags go into the scenario as --set would put them; without a scenario they are still
  // checked, in a shipped one, so that a bad value is named with the missing --scenario.
  const flags = applyScenarioFlags(structuredClone(base ?? SCENARIOS.smoke!), args);
  problems.push(...flags.problems);
  const brokerSpec = flag('broker', () => parseBrokerSpec(args.broker));
  const sink = flag('sink', () => parseSinkChoice(args.sink));
  const shard = args.shard === undefined ? undefined : flag('shard', () => parseShard(args.shard!));
  const assignments = (args.set ?? []).flatMap((text) => {
    const parsed = flag('set', () => parseAssignment(String(text)));
    return parsed ? [parsed] : [];
  });
  if (!base) {
    const standIn = validateScenario(flags.scenario);
    if (!standIn.ok) problems.push(...flagErrors(standIn.errors.filter((error) => flagOf(error, flags.sources)), flags.sources));
    throw new UsageError(problems.join('\nerror: '));
  }

  const overrides: Record<string, unknown> = {};
  if (isScenarioFile(args.scenario!)) overrides.scenario_file = args.scenario;
  Object.assign(overrides, flags.overrides);
  let scenario: Scenario = flags.scenario;
  if (args.aggregator !== 'reference') overrides.aggregator = args.aggregator;
  // Your own consumer: a target file replaces the scenario's target, then the two shorthands change it.
  if (args.target !== undefined) {
    const loaded = flag('target', () => loadScenarioFile(args.target!, 'target file'));
    if (loaded !== undefined) scenario = { ...scenario, target: loaded as Scenario['target'] };
    overrides.target = args.target;
  }
  if (args['target-command'] !== undefined) {
    const command = args['target-command'].trim().split(/\s+/).filter((word) => word !== '');
    scenario = { ...scenario, target: { ready: { delay_ms: 1_000 }, sink: { kind: 'reference-schema' }, ...scenario.target, command } };
    overrides['target-command'] = args['target-command'];
  }
  if (args['target-query'] !== undefined) {
    if (!scenario.target) problems.push('--target-query: needs a target (--target FILE or --target-command CMD)');
    else scenario = { ...scenario, target: { ...scenario.target, sink: { kind: 'query', query: args['target-query'] } } };
    overrides['target-query'] = args['target-query'];
  }
  if (args.broker !== 'embedded') overrides.broker = args.broker;
  if (args.sink !== 'sqlite') overrides.sink = describeSinkChoice(args.sink);
  if (shard !== undefined) overrides.shard = args.shard;
  // --set last, so that it can change anything, including what a flag above set (an error about
  // such a field is then the --set's, not the flag's).
  for (const [path, value] of assignments) {
    const changed = flag('set', () => setPath(scenario, path, value));
    if (changed) scenario = changed;
    setOver(flags.sources, path);
  }
  if (assignments.length > 0) overrides.set = assignments.map(([path, value]) => `${path}=${JSON.stringify(value)}`);
  if (brokerSpec?.kind === 'external') {
    scenario.phases.forEach((phase, i) =>
      phase.faults.forEach((fault, j) => {
        if (fault.kind === 'broker-kill') problems.push(`phases[${i}].faults[${j}]: broker-kill needs the embedded broker (it cannot kill ${args.broker})`);
      }),
    );
  }

  // After --set, which may change the dedup store too (a dedup spec that does not parse is the
  // validator's to name); a bare subscriber has neither.
  if (sink !== undefined && args.aggregator === 'reference' && !scenario.target) problems.push(...sinkDedupProblems(sink, scenario.aggregator.dedup));
  if (scenario.target && args.aggregator !== 'reference') problems.push(`--aggregator ${args.aggregator}: the scenario has a target (your own consumer); leave --aggregator out`);

  const validation = validateScenario(scenario);
  if (!validation.ok) problems.push(`scenario '${scenario.name}' is invalid after overrides:\n  ${flagErrors(validation.errors, flags.sources).join('\n  ')}`);
  else {
    if (shard !== undefined) problems.push(...shardProblems(shard, scenario.load));
    // A fault (or check) the target cannot support is refused here, before anything starts.
    const kind = scenario.target ? 'external' : (args.aggregator as AggregatorKind);
    problems.push(...targetProblems(scenario, kind, describeTarget(kind, scenario.target?.command)));
  }
  if (problems.length > 0) throw new UsageError(problems.join('\nerror: '));
  return {
    scenario,
    overrides,
    broker: args.broker,
    sink: args.sink,
    // Shards started on one machine in the same second must not share a directory (nor its sink.db).
    out_dir: resolve(args.out ?? join('reports', 'out', `${makeRunId(scenario.name)}${shard && shard.count > 1 ? `-shard${shard.index}of${shard.count}` : ''}`)),
    aggregator: args.aggregator as AggregatorKind,
    quiet: args.quiet,
    json: args.json,
    cpu_prof: args['cpu-prof'],
    ...(shard !== undefined ? { shard } : {}),
  };
}

export async function main(argv: string[]): Promise<number> {
  let parsed: BenchArgs | 'listed';
  try {
    parsed = await parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  if (parsed === 'listed') return EXIT.ok;
  const { scenario, quiet, json } = parsed;
  const lines = progressWriter(process.stderr, { quiet, offTerminal: 'line' });
  const progress = (line: string) => lines.progress(line);
  if (!quiet) {
    const total = scenario.phases.reduce((sum, p) => sum + p.duration_s, 0);
    const load = scenario.load;
    const shape = load.model === 'open' ? `open model ${scenario.phases.map((p) => `${p.name} ${describeRate(p.rate)}`).join(', ')}` : `closed model, ${load.concurrency} in flight`;
    const subject = scenario.target
      ? `target ${scenario.target.command.join(' ')}`
      : parsed.aggregator === 'none' ? 'bare subscriber (--aggregator none)' : `dedup ${scenario.aggregator.dedup}`;
    process.stderr.write(
      `chaosbench: ${scenario.name}${parsed.shard ? ` · shard ${parsed.shard.index}/${parsed.shard.count}` : ''} · ${total} s of load · ${shape} · ${load.publishers} publishers on ${load.workers} worker${load.workers === 1 ? '' : 's'} · seed ${scenario.seed} · broker ${parsed.broker}${parsed.aggregator === 'none' ? '' : ` · sink ${describeSinkChoice(parsed.sink ?? 'sqlite')}`} · ${subject}\n`,
    );
  }

  let result;
  try {
    result = await runScenario({ scenario, overrides: parsed.overrides, broker: parsed.broker, sink: parsed.sink, out_dir: parsed.out_dir, aggregator: parsed.aggregator, progress, cpu_prof: parsed.cpu_prof, ...(parsed.shard ? { shard: parsed.shard } : {}) });
  } catch (error) {
    lines.end();
    process.stderr.write(`error: the run could not complete: ${(error as Error).message}\n`);
    return EXIT.invalid_run;
  }
  lines.end();

  writeResult(parsed.out_dir, result);
  writeReportFiles(parsed.out_dir, result);
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(`${renderSummary(result)}\n`);
    process.stdout.write(`report: ${join(parsed.out_dir, 'report.md')}\n`);
  }
  if (parsed.cpu_prof) {
    const path = writeProfileReport(parsed.out_dir, `npm run bench -- ${argv.join(' ')}`);
    process.stderr.write(`cpu profiles: ${path}\n`);
  }
  return exitCodeOf(result);
}

/** A finished run's exit code, as its verdict line reads: 3 invalid, 1 a check failed, 0 ok. */
export function exitCodeOf(result: Pick<RunResult, 'valid' | 'passed'>): number {
  if (!result.valid) return EXIT.invalid_run;
  return result.passed ? EXIT.ok : EXIT.check_failed;
}
