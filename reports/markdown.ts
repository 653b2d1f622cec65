// report.md from result.json: a pure function, so an old run re-renders with no broker.
// The first line is the verdict; a reader who stops there knows whether to trust the rest.

import type { BacklogSource } from '../engine/metrics/backlog.ts';
import { costHasSplit, type CostSection } from '../engine/metrics/process-cpu.ts';
import { checkActual, describeFailedCheck, judgedFailures, runVerdict, type DrainCount, type LatencyResult, type RunResult } from '../engine/result.ts';
import { HARNESS_BOUND_SHARE } from '../engine/result-assembly.ts';

/** What the timeline's backlog subtracts, by who counted it (result.json backlog_source). */
const BACKLOG_SOURCE_TEXT: Record<BacklogSource, string> = {
  broker: 'messages the subscriber acknowledged, counted by the broker (the PUBACKs it received from the subscriber)',
  'subscriber (self-reported)': "messages the subscriber says it acknowledged (self-reported: the harness cannot read this broker's counts)",
};

/** What the drain counted (result.json drain.counted), in the report's drain row. */
const DRAIN_COUNT_TEXT: Record<DrainCount, string> = {
  sink: 'the sink',
  broker: 'the PUBACKs the broker received from the subscriber',
  'subscriber (self-reported)': "the subscriber's acks (self-reported: the harness cannot read this broker's counts)",
};

/** The timeline's count of what the subscriber acknowledged is its own word; results written before backlog_source was recorded had only that. */
const backlogSelfReported = (result: RunResult) => (result.backlog_source ?? 'subscriber (self-reported)') !== 'broker';

// Older result files lack some figures: show them as "—" rather than failing the whole report.
const fmt = (value: number | undefined, digits = 2) =>
  value === undefined || value === null ? '—' : Number.isInteger(value) ? String(value) : value.toFixed(digits);
const pct = (value: number) => `${(value * 100).toFixed(2)}%`;

/** The verdict line: what runVerdict decides (engine/result.ts), and so what the exit code says. */
export function verdictLine(result: RunResult): string {
  const verdict = runVerdict(result);
  // Nothing is judged: the figures are what had happened by the interruption.
  if (verdict === 'interrupted') return `**INTERRUPTED** — ${result.invalid_reasons.join('; ')}; checks not judged`;
  if (verdict === 'invalid') return `**INVALID RUN** — ${result.invalid_reasons.join('; ')}`;
  if (verdict === 'fail') {
    const failed = judgedFailures(result);
    // Lost events stay lost in a run that is invalid as a measurement; its other checks are not judged.
    const invalid = result.valid ? '' : `; the run is also invalid as a measurement, so its other checks are not judged: ${result.invalid_reasons.join('; ')}`;
    return `**FAIL** — ${failed.length} of ${result.checks.length} checks failed: ${failed.map(describeFailedCheck).join(', ')}${invalid}${overloadNote(result)}`;
  }
  if (result.checks.length === 0) return `**PASS** — no checks${result.aggregator.kind === 'none' ? ' (bare subscriber: nothing is committed)' : ''}; run valid${overloadNote(result)}`;
  const n = result.checks.length;
  return `**PASS** — ${n === 1 ? 'the 1 check' : `all ${n} checks`} passed; run valid${overloadNote(result)}`;
}

/** Overload is a result, not an invalid run: it goes on the verdict line, after the verdict. */
function overloadNote(result: RunResult): string {
  const overloaded = (result.phases ?? []).filter((p) => p.overloaded);
  if (overloaded.length === 0) return '';
  const faulted = (name: string) => (result.phases.find((p) => p.name === name)?.system_faults?.length ?? 0) > 0;
  const describe = (p: RunResult['phases'][number]) =>
    `'${p.name}'${faulted(p.name) ? ' during its faults' : ` at ${p.target_rate > 0 ? `${fmt(p.target_rate, 0)} ev/s` : 'closed-model load'}`} (sustained ${fmt(p.load!.consumed_per_s, 0)} of ${fmt(p.load!.accepted_per_s, 0)} msg/s)`;
  const [faultPhases, loadPhases] = [overloaded.filter((p) => faulted(p.name)), overloaded.filter((p) => !faulted(p.name))];
  return [
    loadPhases.length > 0 ? `; overloaded in ${loadPhases.map(describe).join(', ')}` : '',
    faultPhases.length > 0 ? `; fell behind in ${faultPhases.map(describe).join(', ')}` : '',
  ].join('');
}

/** A table as data: header, rows. report.md and report.html render the same ones. */
export type Table = [header: string[], rows: (string | number)[][]];

function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function latencyRow(label: string, l: LatencyResult): (string | number)[] {
  return [label, l.count, fmt(l.p50_ms, 3), fmt(l.p90_ms, 3), fmt(l.p95_ms, 3), fmt(l.p99_ms, 3), fmt(l.p99_9_ms, 3), fmt(l.max_ms, 3), fmt(l.mean_ms, 3)];
}

const LATENCY_HEADER = ['', 'count', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'mean ms'];

export function renderReport(result: RunResult): string {
  const s = result.scenario;
  const out: string[] = [];
  out.push(verdictLine(result), '');
  out.push(`# chaosbench: ${s.name}`, '', `${s.description}`, '');
  out.push(
    `Run \`${result.run_id}\` · broker: ${result.broker.kind === 'embedded' ? result.broker.url : `external (${result.broker.url})`}${result.broker.software ? ` — ${result.broker.software}` : ''}${brokerAccessNote(result.broker)} · ${result.aggregator.target ? describeTarget(result) : result.aggregator.kind === 'none' ? 'bare subscriber (acks on receipt, no sink)' : `dedup \`${s.aggregator.dedup}\` (${result.aggregator.claim_order}) · ${result.sink ? `sink ${describeSink(result.sink)} · ` : ''}sink mode \`${s.aggregator.sink_mode}\``} · ${result.duration_s} s`,
    '',
  );

  if (result.findings.length > 0) {
    out.push('## Findings', '', ...result.findings.map((f) => `- ${f}`), '');
  }

  out.push('## Checks', '');
  out.push(
    table(
      ['check', 'actual', 'result'],
      result.checks.map((check) => [`${check.metric} ${check.op} ${check.value}`, checkActual(check.actual), check.passed ? 'pass' : '**FAIL**']),
    ),
    '',
  );

  out.push('## Ledger (harness records vs final read of the sink)', '');
  out.push(table(...ledgerTable(result)), '');
  if (result.aggregator.target) out.push('The target reports no counters of its own: every figure above is the harness\'s.', '');
  else {
    out.push('Self-reported by the aggregator (its own word: not used for any figure above, nor for a check):', '');
    out.push(table(...selfReportedTable(result)), '');
  }

  out.push('## Rates and throughput', '');
  out.push(
    table(
      ['duplicate rate', 'loss rate', 'error rate', 'DLQ rate', 'target ev/s', 'offered ev/s', 'committed ev/s'],
      [
        [
          pct(result.rates.duplicate_rate),
          pct(result.rates.loss_rate),
          pct(result.rates.error_rate),
          pct(result.rates.dlq_rate),
          fmt(result.throughput.target_per_s, 0),
          fmt(result.throughput.offered_per_s, 0),
          fmt(result.throughput.committed_per_s, 0),
        ],
      ],
    ),
    '',
  );

  out.push('## Latency', '');
  out.push('End to end = first sink commit − *intended* send time (open model: a stall cannot hide). Warm-up phases are excluded from "overall".', '');
  if (result.latency_end) {
    const unrecorded = result.latency_end.commit_time_unrecorded;
    out.push(
      `Latency ends at ${result.latency_end.ends_at}; both ends are read from ${result.latency_end.clock}.${unrecorded > 0 ? ` For ${unrecorded} events the COMMIT's return time was never recorded (the aggregator died between the COMMIT and the record): their latency ends at the start of that transaction, a lower bound.` : ''}`,
      '',
    );
  }
  out.push(
    table(LATENCY_HEADER, [
      latencyRow('overall', result.latency.end_to_end),
      ...result.phases.map((p) => latencyRow(`phase ${p.name}${p.excluded_from_totals ? ' (excluded)' : ''}`, p.latency)),
      latencyRow('publish → PUBACK', result.latency.publish_ack),
    ]),
    '',
  );

  const selfReportedBacklog = backlogSelfReported(result);
  out.push('## Phases and faults', '');
  out.push(table(...phaseTable(result)), '');

  const timeline = result.timeline ?? [];
  if (timeline.length > 0) {
    out.push('## Timeline', '');
    out.push(
      `Per-second samples (at most 60 rows shown; every sample is in result.json). Backlog = publishes handed to the broker (acknowledged or awaiting PUBACK; harness) − ${BACKLOG_SOURCE_TEXT[selfReportedBacklog ? 'subscriber (self-reported)' : 'broker']}: a backlog that grows for a whole phase means the system could not keep up. Consumed is the same count per second. p99 is of the events first committed in that second. ⚡ marks phases with faults.`,
      '',
    );
    const p99At = new Map((result.commits_per_second ?? []).map((c) => [c.t_s, c.p99_ms]));
    const faulted = new Set(s.phases.filter((p) => p.faults.length > 0).map((p) => p.name));
    const step = Math.max(1, Math.ceil(timeline.length / 60));
    out.push(
      table(
        ['t s', 'phase', 'offered ev/s', 'consumed msg/s', 'backlog', 'p99 ms', 'pending publishes'],
        timeline
          .filter((_, i) => i % step === 0 || i === timeline.length - 1)
          .map((x) => {
            const p99 = p99At.get(Math.round(x.t_s) - 1);
            return [fmt(x.t_s, 0), `${faulted.has(x.phase) ? '⚡ ' : ''}${x.phase}`, fmt(x.offered_per_s, 0), fmt(x.consumed_per_s, 0), x.backlog, p99 === undefined ? '—' : fmt(p99, 1), x.pending];
          }),
      ),
      '',
    );
  }

  const recovered = result.phases.filter((p) => p.recovery);
  if (recovered.length > 0) {
    out.push('## Recovery', '');
    out.push(
      `After each phase with process or network faults, or overloaded: seconds until per-second p99 and backlog were back within the band of the last fault-free phase (p99 ≤ max(2 × its median, its worst second) + 5 ms; backlog ≤ its largest + 0.1 s of consumption + messages lost for good; 3 s in a row). Backlog as in the timeline${selfReportedBacklog ? ' (self-reported)' : ' (counted by the broker)'}.`,
      '',
    );
    out.push(table(...recoveryTable(result)), '');
  }

  if (result.cost) out.push(...costLines(result.cost));

  out.push('## Run', '');
  out.push(
    table(
      ['item', 'value'],
      [
        ['valid', result.valid ? 'yes' : `no: ${result.invalid_reasons.join('; ')}`],
        ['load model', result.generator.model === 'closed' ? `closed (${s.load.concurrency} in flight: capacity, hides stalls)` : 'open (schedule of intended send times)'],
        ['generator', `${result.generator.publishers} publishers on ${result.generator.workers} worker thread(s), window ${s.load.window}`],
        ['generator lag p99 / max', `${fmt(result.generator.lag_p99_ms, 3)} ms / ${fmt(result.generator.lag_max_ms, 3)} ms`],
        [
          'events dropped (never sent)',
          `${fmt(result.generator.dropped)}${result.generator.max_lag_ms === undefined ? '' : ` (more than load.max_lag_ms ${result.generator.max_lag_ms} ms behind schedule at hand-off${result.generator.dropped_window_full ? `; ${result.generator.dropped_window_full} of them behind a full window` : ''})`}`,
        ],
        ['publishes that waited for a full window', result.generator.window_waits],
        ['publishes unsettled at the end', result.generator.unsettled],
        ['harness peak RSS', `${fmt(result.generator.rss_peak_mb, 0)} MB`],
        ['drain', drainLine(result.drain)],
        ['seed', result.seed],
        ['git sha', result.git_sha],
        ['started', result.started_at],
        ['machine', `${result.machine.cpus} × ${result.machine.cpu_model}, ${result.machine.total_memory_gb} GB, Node ${result.machine.node}, ${result.machine.platform}/${result.machine.arch}`],
        ['versions', Object.entries(result.versions).map(([k, v]) => `${k} ${v}`).join(', ')],
        ['overrides', Object.keys(result.overrides).length > 0 ? `\`${JSON.stringify(result.overrides)}\`` : 'none'],
      ],
    ),
    '',
  );
  const scenarioArg = typeof result.overrides.scenario_file === 'string' ? result.overrides.scenario_file : s.name;
  out.push(`Replay: \`npm run bench -- --scenario ${scenarioArg} --seed ${result.seed}${replayFlags(result)}\``, '');
  out.push('<details><summary>Scenario as run</summary>', '', '```json', JSON.stringify(s, null, 2), '```', '', '</details>', '');
  return out.join('\n');
}

type Cost = NonNullable<RunResult['cost']>;

/** A share as a whole percentage: 0.253 → "25%". */
const wholePercent = (value: number | undefined) => (value === undefined ? '—' : `${fmt(value * 100, 0)}%`);

/** The Cost section's table: a row per process and thread (and the harness process as a whole), a column per figure every row has. Pure. */
export function costTable(cost: Cost): Table {
  const perMessage = (us: number | null | undefined) => (us === null || us === undefined ? '—' : fmt(us, 1));
  const rows: [string, CostSection['harness_process'], number][] = [
    ...cost.processes.map((p): [string, CostSection['harness_process'], number] => [p.role, p, p.incarnations]),
    ['harness process, all threads (includes the harness rows above)', cost.harness_process, 1],
  ];
  // A column for each split that every row has: results from before a split was recorded lack it.
  type Row = CostSection['harness_process'] & { load_wait_share?: number };
  const columns: { header: string; cell: (p: Row) => string; shown: boolean }[] = [
    { header: 'CPU s', cell: (p) => fmt(p.cpu_s, 2), shown: true },
    { header: 'of which start-up s', cell: (p) => fmt(p.startup_cpu_s!, 2), shown: costHasSplit(cost, 'startup_cpu_s') },
    { header: 'of which after the load s', cell: (p) => fmt(p.after_load_cpu_s!, 2), shown: costHasSplit(cost, 'after_load_cpu_s') },
    { header: 'CPU µs per message while the load ran', cell: (p) => perMessage(p.load_us_per_message), shown: costHasSplit(cost, 'load_us_per_message') },
    { header: "CPU µs per message from the schedule's start", cell: (p) => perMessage(p.running_us_per_message), shown: costHasSplit(cost, 'running_us_per_message') },
    { header: 'CPU µs per message, whole run', cell: (p) => perMessage(p.us_per_message), shown: true },
    { header: 'cores while the load ran', cell: (p) => fmt(p.load_cores!, 2), shown: costHasSplit(cost, 'load_cores') },
    { header: 'waiting for a core while the load ran', cell: (p) => wholePercent(p.load_wait_share), shown: cost.processes.every((p) => p.load_wait_share !== undefined) },
  ];
  const shown = columns.filter((c) => c.shown);
  // Without a split the whole run is the only figure, named as before.
  if (shown.length === 2) shown[1] = { ...shown[1]!, header: 'CPU µs per message' };
  return [['process', ...shown.map((c) => c.header), 'incarnations'], rows.map(([role, p, n]) => [role, ...shown.map((c) => c.cell(p)), n])];
}

/** The Cost section's words: how it was measured (before the table), whether the harness was the bound and what was not measured (after it). Pure. */
export function costText(cost: Cost): { before: string; after: string[] } {
  const busiest = cost.harness_busiest;
  return {
    before: `CPU time (user + system) of each process and thread the run started, read from ${cost.source} (not from the processes themselves), per message put on the wire by the harness, ${fmt(cost.messages)} messages: ${cost.messages_counted}. ${cost.notes.map((n) => `${n.charAt(0).toUpperCase()}${n.slice(1)}.`).join(' ')}`,
    after: [
      ...(busiest
        ? [
            `Was the harness the bound? Its busiest thread while the load ran (${fmt(cost.load_wall_s!, 1)} s) was the ${busiest.role}: running ${wholePercent(busiest.cores)} and waiting for a core ${wholePercent(busiest.wait_share)} of the time, so it had work ${wholePercent(busiest.busy_share)} of it. A harness thread with work ${wholePercent(HARNESS_BOUND_SHARE)} of the time or more set the pace: in the closed model that makes the run invalid.`,
          ]
        : []),
      ...(cost.not_measured.length > 0 ? [`Not measured: ${cost.not_measured.join('; ')}.`] : []),
    ],
  };
}

/** The Cost section: CPU of each process and thread the run started, from /proc. */
function costLines(cost: Cost): string[] {
  const text = costText(cost);
  return ['## Cost', '', text.before, '', table(...costTable(cost)), '', ...text.after.flatMap((line) => [line, ''])];
}

/** How the clients connected, when result.json says so: MQTT version, client certificate, password (never the password). */
function brokerAccessNote(broker: RunResult['broker']): string {
  if (broker.mqtt_version === undefined) return '';
  const extras = [broker.client_certificate ? 'client certificate' : undefined, broker.password ? 'password' : undefined].filter(Boolean);
  return ` · MQTT ${broker.mqtt_version}${extras.length > 0 ? ` (${extras.join(', ')})` : ''}`;
}

/** The sink in the run line: SQLite (the run's file) or PostgreSQL with its server and the run's schema. */
/** Your own consumer in the run line: its command, and how its sink was read. */
function describeTarget(result: RunResult): string {
  const target = result.aggregator.target!;
  const read = target.sink === 'query' ? `read by its query${target.commit_time ? '' : ' (no commit time: latency not measured)'}` : 'read as the reference schema';
  return `target \`${target.command.join(' ')}\` (restarted ${target.restarts}×) · ${result.sink ? `sink ${describeSink(result.sink)}, ` : ''}${read}`;
}

function describeSink(sink: NonNullable<RunResult['sink']>): string {
  return sink.kind === 'sqlite' ? '`sqlite`' : `\`postgres\` (${sink.url}${sink.schema ? `, schema ${sink.schema}, dropped after the run` : ''})`;
}

function replayFlags(result: RunResult): string {
  const quote = (text: string) => (/^[\w./:=,-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`);
  return Object.entries(result.overrides)
    .filter(([key]) => key !== 'seed' && key !== 'scenario_file')
    .flatMap(([key, value]) => (Array.isArray(value) ? value.map((v) => ` --${key} ${quote(String(v))}`) : [` --${key} ${quote(String(value))}`]))
    .join('');
}

/** Events the generator dropped were never sent: said beside the offered rate they are missing from. */
function droppedNote(result: RunResult): string {
  const dropped = result.generator.dropped ?? 0;
  return dropped > 0 ? ` · generator dropped ${dropped} events (more than ${fmt(result.generator.max_lag_ms, 0)} ms behind schedule, never sent)` : '';
}

/** A few lines for the terminal after a run. */
export function renderSummary(result: RunResult): string {
  const t = result.totals;
  const l = result.latency.end_to_end;
  const c = result.aggregator.self_reported;
  if (result.aggregator.kind === 'none') {
    return [
      verdictLine(result).replace(/\*\*/g, ''),
      `published ${t.published} (+${t.copies_published} duplicate copies) · acked by broker ${t.acked_by_broker + t.copies_acked} · acked by the bare subscriber ${c.acked} (self-reported)`,
      `throughput offered ${fmt(result.throughput.offered_per_s, 0)} ev/s, consumed ${fmt(result.throughput.committed_per_s, 0)} ev/s${backlogSelfReported(result) ? ' (self-reported)' : ''} · publish→PUBACK p99 ${fmt(result.latency.publish_ack.p99_ms, 3)} ms · generator lag p99 ${fmt(result.generator.lag_p99_ms, 3)} ms${droppedNote(result)}`,
      ...result.findings.map((f) => `finding: ${f}`),
    ].join('\n');
  }
  return [
    verdictLine(result).replace(/\*\*/g, ''),
    `published ${t.published} (+${t.copies_published} duplicate copies) · committed ${t.unique_committed} · lost ${t.lost} (${t.dead_lettered} dead-lettered) · never acked ${t.lost_unacked} · never sent ${fmt(t.never_sent)} · sink duplicates ${t.sink_duplicates} · copies absorbed ${fmt(t.copies_absorbed)} · dlq ${t.dlq}`,
    `throughput offered ${fmt(result.throughput.offered_per_s, 0)} ev/s, committed ${fmt(result.throughput.committed_per_s, 0)} ev/s · ${l.count === 0 ? `latency not measured (${result.aggregator.target?.commit_time === false ? 'the target gives no commit time' : 'no event committed'})` : `latency p50 ${fmt(l.p50_ms, 3)} ms, p99 ${fmt(l.p99_ms, 3)} ms, p99.9 ${fmt(l.p99_9_ms, 3)} ms, max ${fmt(l.max_ms, 3)} ms`}${droppedNote(result)}`,
    ...(result.phases ?? [])
      .filter((p) => p.recovery)
      .map((p) => {
        const r = p.recovery!;
        return `recovery after '${p.name}': ${r.recovery_s === null ? 'not within the run' : `${fmt(r.recovery_s, 1)} s`} (p99 peak ${fmt(r.p99_peak_ms, 1)} ms, backlog peak ${r.backlog_peak}${backlogSelfReported(result) ? ' (self-reported)' : ''}; baseline p99 ${fmt(r.baseline_p99_ms, 1)} ms in '${r.baseline_phase}')`;
      }),
    ...result.findings.map((f) => `finding: ${f}`),
  ].join('\n');
}

/** The drain in one cell: how long, what it counted (results that say), and for a drain cut short, what was not committed by its end and why. */
function drainLine(drain: RunResult['drain']): string {
  const waited = `${fmt(drain.drain_s, 1)} s${drain.counted === undefined ? '' : `, counting ${DRAIN_COUNT_TEXT[drain.counted]}`}`;
  if (drain.complete) return waited;
  if (drain.not_committed === undefined) return `${waited} (incomplete)`;
  return `${waited} (incomplete: ${drain.not_committed} events not committed by the end of the drain${drain.reason === undefined ? '' : `; it ${drain.reason}`})`;
}

/** The ledger as a table (header, rows): the harness's records against the sink. Shared by report.md and report.html. */
export function ledgerTable(result: RunResult): Table {
  const t = result.totals;
  return [
    ['figure', 'count', 'meaning'],
    [
      ['published', t.published, 'original events the harness published'],
      ['acked by broker', t.acked_by_broker, 'originals the broker acknowledged (PUBACK)'],
      ['copies injected', t.copies_published, `same-event_id copies published by the duplicate fault (${t.copies_acked} acked by the broker)`],
      ['unique committed', t.unique_committed, 'published events found in the sink'],
      ['lost', t.lost, 'the pipeline had them (broker PUBACK, or in the DLQ), never committed'],
      ['… of which dead-lettered', t.dead_lettered, 'valid events this run published, found only in the DLQ'],
      ['never acked', t.lost_unacked, 'handed to the MQTT client, never acked by the broker, never committed'],
      ['never sent', fmt(t.never_sent), 'never handed to the MQTT client (behind a full window when the run stopped)'],
      ['duplicates in sink', t.sink_duplicates, 'extra rows of one event in the sink'],
      ['copies absorbed', fmt(t.copies_absorbed), 'acked copies of events that are in the sink exactly once (dedup or the sink\'s key)'],
      ['absorbed by sink key', t.absorbed_by_sink, 'repeat deliveries stopped by the sink\'s ON CONFLICT (its deliveries column)'],
      ['unexpected', t.unexpected, 'rows in the sink this run never published'],
      ['reordered', t.reordered, `committed after a later seq of the same source (max displacement ${t.max_reorder_displacement})`],
      ['DLQ', t.dlq, 'distinct messages in the DLQ (a redelivered one counts once), poison included'],
      ['publish errors', t.publish_errors, 'publishes that failed at the harness'],
      ['PUBACK timeouts', t.puback_timeouts, 'publishes without a PUBACK in time (counted as errors)'],
    ],
  ];
}

/** The aggregator's own counters (self-reported: never used for a figure of the ledger nor a check). */
export function selfReportedTable(result: RunResult): Table {
  const c = result.aggregator.self_reported;
  return [
    ['received', 'seen again', 'absorbed by dedup', 'broker DUP flag', 'committed', 'acked', 'dlq', 'retries', 'errors', 'batches'],
    [[c.received, c.redelivered, c.duplicates_absorbed, c.broker_redeliveries, c.committed, c.acked, c.dlq, c.retries, c.errors, c.batches]],
  ];
}

/** One row per phase: load, ledger counts, backlog growth, overload and its faults. */
export function phaseTable(result: RunResult): Table {
  const selfReportedBacklog = backlogSelfReported(result);
  return [
    ['phase', 'duration s', 'target ev/s', 'offered ev/s', 'dropped', 'generator lag p99 ms', 'published', 'committed', 'lost', `backlog growth msg/s${selfReportedBacklog ? ' (self-reported)' : ''}`, 'overloaded', 'faults'],
    result.phases.map((p) => {
      const faults = result.faults
        .filter((f) => f.phase === p.name)
        .map((f) => `${f.kind} (${Object.entries(f.injected).map(([k, v]) => `${k} ${v}`).join(', ')})`);
      return [
        p.name,
        fmt(p.duration_s, 1),
        p.target_rate > 0 ? fmt(p.target_rate, 0) : '— (closed)',
        fmt(p.offered_per_s, 0),
        fmt(p.dropped),
        fmt(p.lag_p99_ms, 3),
        p.published,
        p.unique_committed,
        p.lost,
        p.load ? fmt(p.load.backlog_growth_per_s, 0) : '—',
        p.overloaded ? '**yes**' : 'no',
        faults.join('; ') || '—',
      ];
    }),
  ];
}

/** One row per phase with a recovery (after process or network faults, or overload). */
export function recoveryTable(result: RunResult): Table {
  const selfReportedBacklog = backlogSelfReported(result);
  const recovered = result.phases.filter((p) => p.recovery);
  return [
    ['phase', 'baseline', 'baseline p99 ms', 'recovery s', `backlog peak${selfReportedBacklog ? ' (self-reported)' : ''}`, 'p99 peak ms', 'lost', 'sink duplicates', 'repeat deliveries', 'retries'],
    recovered.map((p) => {
      const r = p.recovery!;
      return [p.name, r.baseline_phase, fmt(r.baseline_p99_ms, 1), r.recovery_s === null ? '**not recovered**' : fmt(r.recovery_s, 1), r.backlog_peak, fmt(r.p99_peak_ms, 1), p.lost, p.sink_duplicates ?? 0, p.redelivered ?? 0, p.retries ?? 0];
    }),
  ];
}
