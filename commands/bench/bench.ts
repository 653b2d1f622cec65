// `npm run bench`: parse flags into a run request, resolve it (engine/resolve.ts: the scenario with
// its overrides, everything validated), run, write result.json + report.md + report.html, print a summary. Exit codes (cli/exit.ts): 0 ok, 1 a check failed,
// 2 bad input, 3 run invalid or broker unavailable.

import { redactPassword, redactPasswords } from '../../aggregator/redact.ts';
import { dirname, join, resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { SCENARIOS } from '../../scenarios/index.ts';
import { describeSinkChoice } from '../../engine/run-sink/index.ts';
import { mqttVersionName } from '../../aggregator/consumer/access.ts';
import { makeRunId, runScenario, type AggregatorKind } from '../../engine/run.ts';
import { resolveRun, type ResolvedRun } from '../../engine/resolve.ts';
import { renderSummary } from '../../reports/markdown.ts';
import { reportFiles } from '../../reports/files.ts';
import { k6SummaryText } from '../../reports/k6-summary.ts';
import { runVerdict, type RunResult } from '../../engine/result.ts';
import { describeRate } from '../../engine/load/schedule.ts';
import { writeProfileReport } from '../../engine/profiles.ts';
import { RunMetrics } from '../../engine/metrics/run-metrics.ts';
import { EXIT, exitOfVerdict, UsageError } from '../../cli/exit.ts';
import { cleanDeadRuns } from '../../engine/run-registry.ts';
import { exitOfInterrupt, stopOnInterrupt } from '../../cli/interrupt.ts';
import { progressWriter } from '../../cli/progress.ts';
import { describeFsError, makeDirectory, OutputError, refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';
import { givenScenarioFlags, joinNegativeValues, parseSetFlags, RUN_FLAGS, SCENARIO_FLAG_NAMES, scenarioFlagOptions, SUMMARY_EXPORT_FLAG } from '../../cli/flags.ts';

/**
 * Writes <dir>/result.json (creating dir), whole or not at all: first, so that it is kept even if a
 * report file cannot be rendered. Throws an OutputError (one line) when it cannot be written.
 */
export function writeResult(dir: string, result: RunResult): void {
  try {
    makeDirectory(dir);
  } catch (error) {
    throw new OutputError(dir, error);
  }
  writeFileWhole(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
}

/** report.md, report.html, the SVG charts and the .hgrm files beside result.json (each whole or not at all): the same set `npm run report` writes. */
export function writeReportFiles(dir: string, result: RunResult): void {
  for (const [name, content] of Object.entries(reportFiles(result))) writeFileWhole(join(dir, name), content);
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

/** A resolved run (engine/resolve.ts) with where it goes and how the command reports it. */
export interface BenchArgs extends ResolvedRun {
  out_dir: string;
  quiet: boolean;
  json: boolean;
  /** --summary-export: where to write the result as k6's end-of-test summary too. */
  summary_export?: string;
  /** --cpu-prof: CPU profiles of the aggregator, the embedded broker and the harness's threads under <out>/profiles/. */
  cpu_prof: boolean;
}

/** Where --aggregator goes among the named flags in --help: before the first of the aggregator's settings. */
const AGGREGATOR_FLAGS_FROM = SCENARIO_FLAG_NAMES.indexOf('dedup');

export async function parseBenchArgs(argv: string[]): Promise<BenchArgs | 'listed'> {
  const args = await strictParser(
    yargs(joinNegativeValues(argv))
      .scriptName('npm run bench --')
      .usage(
        'Run a chaos benchmark scenario against the reference aggregator (or your own consumer: --target) and write\nresult.json, report.md and report.html (the report as one self-contained page, charts inline).\n\n' +
          'Usage: $0 --scenario dup-storm [options]\n\n' +
          'Exit codes: 0 ok · 1 a check failed (events lost, never acked, never sent or doubled: also in an invalid run)\n' +
            '· 2 bad input · 3 run invalid (the generator could not keep its schedule) or could not complete (e.g. the\nbroker is unreachable) · 130/143 interrupted by SIGINT (Ctrl-C)/SIGTERM: the load stopped, the run\'s keys and\nschemas removed, a partial result.json (verdict INTERRUPTED) written; a second signal exits at once',
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
        ...SUMMARY_EXPORT_FLAG,
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
          '  CHAOSBENCH_BROKER_PASSWORD=… $0 --scenario dup-storm --broker mqtts://USER@HOST:8883 --broker-ca ca.pem',
          '    --broker-cert client.pem --broker-key client.key --mqtt-version 5      # your own broker (docs/own-broker.md)',
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
          '  load.wake_interval_ms      ms between the load workers\' wake-ups (default 1): 4 hands off batches for',
          '                             less CPU per message at high rates, and adds up to 4 ms of lag to latency',
          '  aggregator.commit_hold_ms  hold each sink transaction open this long after its INSERT, before COMMIT',
          '                             (calibration: latency ends when the COMMIT has returned; default 0)',
          '  drain_timeout_s            the longest the run waits after the end of the schedule, for PUBACKs and',
          '                             the drain together; events not committed by then are reported as such,',
          '                             with the reason, and count as lost',
          '  broker.max_publish_bytes   embedded broker: a client whose PUBLISH is longer (bytes, >= 131072) is cut',
          '                             at its header, before the broker holds it (default: no limit). With no',
          '                             broker section: --set \'broker={"max_publish_bytes":1048576}\'',
        ].join('\n'),
      )
  ).parseAsync();

  if (args.list) {
    listScenarios();
    return 'listed';
  }
  // --set texts first: a text that is not path=value is left out, and the rest resolved with it.
  const set = parseSetFlags(args.set ?? []);
  const resolved = resolveRun({
    scenario: args.scenario,
    flags: givenScenarioFlags(args),
    changes: set.changes,
    broker: args.broker,
    broker_flags: { 'broker-ca': args['broker-ca'], 'broker-cert': args['broker-cert'], 'broker-key': args['broker-key'], 'mqtt-version': args['mqtt-version'] },
    target: { file: args.target, command: args['target-command'], query: args['target-query'] },
    sink: args.sink,
    aggregator: args.aggregator as AggregatorKind,
    shard: args.shard,
    metrics_port: args['metrics-port'],
    metrics_linger_s: args['metrics-linger'],
  });
  const problems = [...set.problems, ...(resolved.ok ? [] : resolved.problems)];
  if (args['summary-export'] === '') problems.push('--summary-export: needs the file to write');
  if (!resolved.ok || problems.length > 0) throw new UsageError(problems.join('\nerror: '));
  const { scenario, shard } = resolved.run;
  // Shards started on one machine in the same second must not share a directory (nor its sink.db).
  const outDir = resolve(args.out ?? join('reports', 'out', `${makeRunId(scenario.name)}${shard && shard.count > 1 ? `-shard${shard.index}of${shard.count}` : ''}`));
  return {
    ...resolved.run,
    out_dir: outDir,
    quiet: args.quiet,
    json: args.json,
    ...(args['summary-export'] !== undefined ? { summary_export: resolve(args['summary-export']) } : {}),
    cpu_prof: args['cpu-prof'],
  };
}

/** --list: the shipped scenarios, one a line, with what each does. */
export function listScenarios(): void {
  const width = Math.max(...Object.keys(SCENARIOS).map((name) => name.length));
  for (const scenario of Object.values(SCENARIOS)) process.stdout.write(`${scenario.name.padEnd(width)}  ${scenario.description}\n`);
}

export async function main(argv: string[]): Promise<number> {
  let parsed: BenchArgs | 'listed';
  try {
    parsed = await parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${redactPasswords(error.message)}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  if (parsed === 'listed') return EXIT.ok;
  // Before anything runs: a directory the results cannot go to is bad input, named by --out.
  if (refuseUnwritableOutput(parsed.out_dir)) return EXIT.bad_input;
  const { scenario, quiet, json } = parsed;
  const lines = progressWriter(process.stderr, { quiet, offTerminal: 'line' });
  const progress = (line: string) => lines.progress(line);
  if (!quiet) {
    const total = scenario.phases.reduce((sum, p) => sum + p.duration_s, 0);
    const load = scenario.load;
    const shape = load.model === 'open' ? `open model ${scenario.phases.map((p) => `${p.name} ${describeRate(p.rate)}`).join(', ')}` : `closed model, ${load.concurrency} in flight`;
    const subject = scenario.target
      ? `target ${redactPasswords(scenario.target.command.join(' '))}`
      : parsed.aggregator === 'none' ? 'bare subscriber (--aggregator none)' : `dedup ${redactPassword(scenario.aggregator.dedup)}`;
    process.stderr.write(
      `chaosbench: ${scenario.name}${parsed.shard ? ` · shard ${parsed.shard.index}/${parsed.shard.count}` : ''} · ${total} s of load · ${shape} · ${load.publishers} publishers on ${load.workers} worker${load.workers === 1 ? '' : 's'} · seed ${scenario.seed} · broker ${parsed.broker}${parsed.broker_access ? ` (MQTT ${mqttVersionName(parsed.broker_access.mqtt_version)}${parsed.broker_access.cert ? ', client certificate' : ''}${parsed.broker_access.username !== undefined ? `, user ${parsed.broker_access.username}${parsed.broker_access.password !== undefined ? ', password ***' : ''}` : ''})` : ''}${parsed.aggregator === 'none' ? '' : ` · sink ${describeSinkChoice(parsed.sink)}`} · ${subject}\n`,
    );
  }

  // --metrics-port: the run's live metrics, printed whether or not --quiet (a scraper needs the port).
  const announce = (line: string) => process.stderr.write(`${line}\n`);
  const metrics = parsed.prometheus ? new RunMetrics(parsed.prometheus.linger_s, announce) : undefined;
  if (metrics) {
    try {
      announce(`metrics: ${await metrics.start(parsed.prometheus!.port)}`);
    } catch (error) {
      process.stderr.write(`error: --metrics-port ${parsed.prometheus!.port}: cannot serve metrics: ${(error as Error).message}\n`);
      return EXIT.invalid_run;
    }
  }
  // What runs SIGKILLed earlier left on the shared servers goes first (engine/run-registry.ts).
  await cleanDeadRuns({ log: lines.log }).then(
    (cleaned) => cleaned.problems.forEach((problem) => lines.log(`warning: clean: could not remove ${problem}`)),
    (error: unknown) => lines.log(`warning: clean: ${redactPasswords((error as Error).message)}`),
  );
  const interrupt = stopOnInterrupt("stopping the load, removing the run's keys and schema", (line) => (quiet ? process.stderr.write(`${line}\n`) : lines.log(line)));
  let result;
  try {
    result = await runScenario({ scenario, overrides: parsed.overrides, broker: parsed.broker, ...(parsed.broker_access ? { broker_access: parsed.broker_access } : {}), sink: parsed.sink, out_dir: parsed.out_dir, aggregator: parsed.aggregator, progress, log: lines.log, cpu_prof: parsed.cpu_prof, ...(parsed.shard ? { shard: parsed.shard } : {}), ...(metrics ? { metrics } : {}), signal: interrupt.signal });
  } catch (error) {
    interrupt.release();
    lines.end();
    await metrics?.close(false);
    process.stderr.write(`error: the run could not complete: ${redactPasswords((error as Error).message)}\n`);
    return interrupt.signal.aborted ? exitOfInterrupt(interrupt.signal) : EXIT.invalid_run;
  }
  // From here on (files and summary) a signal exits at once (cli/interrupt.ts): each file is whole or absent.
  interrupt.release();
  lines.end();

  try {
    writeResult(parsed.out_dir, result);
    writeReportFiles(parsed.out_dir, result);
  } catch (error) {
    // A full disk or a directory gone mid-run: the run did not complete as asked, said in one line.
    await metrics?.close(false);
    process.stderr.write(`error: ${error instanceof OutputError ? error.message : `cannot write the results: ${describeFsError(error)}`}\n`);
    return EXIT.invalid_run;
  }
  metrics?.final(result);
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(`${renderSummary(result)}\n`);
    process.stdout.write(`report: ${join(parsed.out_dir, 'report.md')} · ${join(parsed.out_dir, 'report.html')}\n`);
  }
  // After the summary, so that a k6 summary that cannot be written does not hide the run's verdict.
  let summaryFailed = false;
  if (parsed.summary_export !== undefined) {
    try {
      makeDirectory(dirname(parsed.summary_export));
      writeFileWhole(parsed.summary_export, k6SummaryText(result));
    } catch (error) {
      process.stderr.write(`error: cannot write the k6 summary ${parsed.summary_export}: ${describeFsError(error instanceof OutputError ? error.cause : error)}\n`);
      summaryFailed = true;
    }
  }
  if (parsed.cpu_prof) {
    const path = writeProfileReport(parsed.out_dir, `npm run bench -- ${argv.join(' ')}`);
    process.stderr.write(`cpu profiles: ${path}\n`);
  }
  // Serving until two scrapes have read the final values (at most --metrics-linger seconds); not for an interrupted run.
  await metrics?.close(!result.interrupted);
  // A file asked for and not written: the run did not complete as asked (3), unless it failed anyway (1).
  const exit = exitCodeOf(result);
  return summaryFailed && exit === EXIT.ok ? EXIT.invalid_run : exit;
}

/** A finished run's exit code, as its verdict line reads (runVerdict): 130/143 interrupted, 1 a check failed (lost events first, even in an invalid run), 3 invalid, 0 ok. */
export function exitCodeOf(result: Pick<RunResult, 'valid' | 'checks' | 'interrupted'>): number {
  return exitOfVerdict(runVerdict(result), result.interrupted);
}
