// Table 1: client-server against publish-subscribe. The same events, the same aggregator pipeline
// (validate → SQLite dedup → idempotent SQLite sink) and the same acknowledgement rule (ack after
// commit) reached two ways: HTTP requests straight to the aggregator (autocannon), and MQTT QoS 1
// through a broker (the harness's own load generator). First at full speed with the same number of
// events in flight; then at a fixed rate while the aggregator is killed and restarted.
// Owns processes and timers; the table's sentences are computed by a pure function of its rows.
//
// Why ~500 lines: the MQTT side is two ordinary harness runs (~90 lines), but the HTTP side has no
// harness to lean on, so its load driver (autocannon with seeded event ids), its aggregator, its
// read of the sink and its crash timing are all here (~250), followed by the findings (pure, ~50).
// Both sides are kept in one file so that what each measures can be compared line by line.

import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFileWhole } from '../../cli/output.ts';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { isoMicros, nowMicros, sleep } from '../../aggregator/clock.ts';
import { serializeEvent } from '../../aggregator/event/parse.ts';
import type { Event } from '../../aggregator/event/types.ts';
import { DEFAULT_AGGREGATOR_CONFIG, NO_BROKER, type AggregatorConfig } from '../../aggregator/service.ts';
import { iterateSinkRows } from '../../aggregator/sink/sqlite.ts';
import { DEFAULT_LOAD } from '../../scenarios/defaults.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { validateScenario } from '../../scenarios/validate.ts';
import { AggregatorProcess } from '../../engine/aggregator-process.ts';
import { eventIdFor } from '../../engine/load/identity.ts';
import { LatencyRecorder } from '../../engine/metrics/histogram.ts';
import type { RunResult } from '../../engine/result.ts';
import { runScenario, WARMUP_PHASE, type RunOptions } from '../../engine/run.ts';
import { theoryScenario } from './runs.ts';
import type { TheoryContext, TheoryExperiment, TheoryTable } from './types.ts';

/** Events in flight in the full-speed runs: HTTP connections with one request each, and the MQTT closed loop's window. */
export const IN_FLIGHT = 32;
const WARMUP_S = 1;
const STEADY_S = 5;
/** The consumer-down runs: a fixed rate for RUN_S, the aggregator SIGKILLed AT_S in and restarted DOWNTIME_MS later. */
export const CRASH = { rate: 500, run_s: 8, at_s: 2, downtime_ms: 2_000, http_connections: 8 } as const;
const PAYLOAD_BYTES = DEFAULT_LOAD.payload_bytes;

type Row = TheoryTable['rows'][number];

export const httpVsMqtt: TheoryExperiment = {
  id: 1,
  slug: 'http-vs-mqtt',
  title: 'Client-server vs publish-subscribe: HTTP straight to the consumer, or MQTT QoS 1 through a broker',
  async run(context: TheoryContext): Promise<TheoryTable> {
    const started = Date.now();
    const seed = context.seed;
    context.log(`  http steady: ${IN_FLIGHT} connections, ${STEADY_S} s`);
    const httpSteady = await httpSteadyRun(context, join(context.out_dir, 'http-steady'));
    context.log(`  mqtt steady: closed loop, ${IN_FLIGHT} in flight, ${STEADY_S} s`);
    const mqttSteady = await mqttRun(context, 'mqtt-steady', steadyScenario(seed));
    context.log(`  http consumer down: ${CRASH.rate} req/s for ${CRASH.run_s} s, aggregator killed at ${CRASH.at_s} s for ${CRASH.downtime_ms} ms`);
    const httpCrash = await httpCrashRun(context, join(context.out_dir, 'http-consumer-down'));
    context.log(`  mqtt consumer down: ${CRASH.rate} ev/s for ${CRASH.run_s} s, consumer-crash at ${CRASH.at_s} s for ${CRASH.downtime_ms} ms`);
    const mqttCrash = await mqttRun(context, 'mqtt-consumer-down', crashScenario(seed), true);

    const rows: Row[] = [
      httpRow(`full speed, ${IN_FLIGHT} in flight`, httpSteady),
      mqttRow(`full speed, ${IN_FLIGHT} in flight`, mqttSteady.result, null),
      httpRow(`${CRASH.rate} ev/s, consumer killed`, httpCrash),
      mqttRow(`${CRASH.rate} ev/s, consumer killed`, mqttCrash.result, mqttCrash.down_ms),
    ];
    writeFileSync(
      join(context.out_dir, 'result.json'),
      `${JSON.stringify({ experiment: 'http-vs-mqtt', seed, rows, http: { steady: summary(httpSteady), consumer_down: summary(httpCrash) } }, null, 2)}\n`,
    );
    return {
      id: 1,
      slug: 'http-vs-mqtt',
      title: this.title,
      intro:
        'In a client-server design the producer sends each event straight to the consumer and waits for its answer; in a publish-subscribe design it hands the event ' +
        'to a broker, which keeps it until the consumer has taken it. Here both designs feed the same aggregator, which checks each event, drops repeats and writes it ' +
        'to a database, and in both the acknowledgement the consumer gives is sent only after that write: the HTTP answer for the client-server producer, ' +
        'the MQTT PUBACK to the broker for the publish-subscribe one. The first two rows send as fast as a fixed number of events in flight allows. ' +
        'The last two send at a fixed rate while the aggregator is killed and started again: what does the producer see while its consumer is away, ' +
        'and what is lost? "Latency" is from the moment an event is sent to the moment it is in the database; "producer ack p99" is how long the producer ' +
        'waited for its own acknowledgement (the answer from the aggregator over HTTP, the broker\'s PUBACK over MQTT). ' +
        '"Producer failures" are sends that got no positive acknowledgement: events the producer must keep and send again, or lose.',
      method:
        `One machine, loopback only; the reference aggregator as a child process with SQLite dedup inside the SQLite sink's transaction, batches of up to 200 ` +
        `waiting at most 5 ms. HTTP: the aggregator's POST /events endpoint (no broker), driven by autocannon over keep-alive connections, one request in flight ` +
        `per connection, every request a fresh event with its own ULID event_id, ${PAYLOAD_BYTES}-byte payload. MQTT: the embedded Aedes broker, the harness's ` +
        `QoS 1 publishers (4 connections, same event format and payload). Full-speed rows: ${WARMUP_S} s of warm-up then about ${STEADY_S} s measured, ${IN_FLIGHT} HTTP ` +
        `connections (a fixed number of requests sized from the warm-up's rate, so that none is cut off in flight at the end) against the harness's closed loop with ` +
        `${IN_FLIGHT} events in flight end to end (a new event is sent when the aggregator reports one committed, every 10 ms). Consumer-down rows: ` +
        `${CRASH.rate} events/s for ${CRASH.run_s} s after ${WARMUP_S} s of warm-up, the aggregator SIGKILLed ${CRASH.at_s} s in and restarted ${CRASH.downtime_ms} ms later ` +
        `("consumer away" adds the time the restarted process took to be ready); HTTP through autocannon's overallRate over ${CRASH.http_connections} connections ` +
        `(it sends each second's quota as fast as answers come, then waits for the next second), the restarted aggregator on the same port; MQTT through the ` +
        `harness's open-model schedule and its consumer-crash fault. Nothing is retried by the HTTP producer, so its failures show the work a real client would have to do. ` +
        'Latency comes from the sink: commit time minus the send time stamped in the event, in an HDR histogram (3 significant digits). Events lost: sent but not in the sink at the end.',
      command: 'npm run theory -- --only 1',
      seed,
      columns: [
        { key: 'transport', label: 'transport', format: 'text' },
        { key: 'run', label: 'run', format: 'text' },
        { key: 'sent', label: 'events sent', format: 'int' },
        { key: 'throughput', label: 'committed ev/s', format: 'int' },
        { key: 'p50', label: 'p50 ms', format: 'ms' },
        { key: 'p99', label: 'p99 ms', format: 'ms' },
        { key: 'max', label: 'max ms', format: 'ms' },
        { key: 'ack_p99', label: 'producer ack p99 ms', format: 'ms' },
        { key: 'down_ms', label: 'consumer away ms', format: 'int' },
        { key: 'producer_failures', label: 'producer failures', format: 'int' },
        { key: 'lost', label: 'events lost', format: 'int' },
        { key: 'note', label: 'note', format: 'text' },
      ],
      rows,
      findings: httpVsMqttFindings(rows),
      duration_ms: Date.now() - started,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// MQTT runs: the harness's own runs.

function steadyScenario(seed: number): Scenario {
  return theoryScenario(
    'theory-http-vs-mqtt-steady',
    seed,
    [
      { name: WARMUP_PHASE, duration_s: WARMUP_S, rate: 1, faults: [] },
      { name: 'measure', duration_s: STEADY_S, rate: 1, faults: [] },
    ],
    { load: { model: 'closed', concurrency: IN_FLIGHT } },
  );
}

function crashScenario(seed: number): Scenario {
  return theoryScenario(
    'theory-http-vs-mqtt-consumer-down',
    seed,
    [
      { name: WARMUP_PHASE, duration_s: WARMUP_S, rate: CRASH.rate, faults: [] },
      {
        name: 'consumer-down',
        duration_s: CRASH.run_s,
        rate: CRASH.rate,
        faults: [{ kind: 'consumer-crash', at_s: CRASH.at_s, every_s: 0, downtime_ms: CRASH.downtime_ms }],
      },
    ],
    { drain_timeout_s: 20 },
  );
}

/** One harness run into <out_dir>/<label> (result.json included); with watchDowntime, also how long the aggregator was away. */
async function mqttRun(context: TheoryContext, label: string, scenario: Scenario, watchDowntime = false): Promise<{ result: RunResult; down_ms: number | null }> {
  const checked = validateScenario(scenario);
  if (!checked.ok) throw new Error(`theory run ${label}: scenario does not validate: ${checked.errors.join('; ')}`);
  const outDir = join(context.out_dir, label);
  context.signal?.throwIfAborted();
  mkdirSync(outDir, { recursive: true });
  let downMs: number | null = null;
  const options: RunOptions = { scenario, overrides: {}, broker: context.broker_url ?? 'embedded', out_dir: outDir, ...(context.signal ? { signal: context.signal } : {}) };
  if (watchDowntime) {
    const runS = scenario.phases.reduce((sum, p) => sum + p.duration_s, 0);
    // The process is away from its kill (counters dropped) until its next incarnation reports ready.
    options.during = async ({ aggregator, start_us }) => {
      let awaySince: number | undefined;
      let away = 0;
      const until = start_us + (runS + 15) * 1e6;
      while (nowMicros() < until) {
        const up = aggregator.counters !== undefined;
        if (!up && awaySince === undefined) awaySince = nowMicros();
        if (up && awaySince !== undefined) {
          away += nowMicros() - awaySince;
          awaySince = undefined;
        }
        if (up && nowMicros() > start_us + runS * 1e6) break;
        await sleep(5);
      }
      downMs = Math.round(away / 1000);
    };
  }
  const result = await runScenario(options);
  writeFileWhole(join(outDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  context.signal?.throwIfAborted();
  context.log(`    ${label}: ${result.totals.unique_committed} committed, ${result.totals.lost + result.totals.lost_unacked + result.totals.never_sent} lost, p99 ${result.latency.end_to_end.p99_ms} ms`);
  return { result, down_ms: downMs };
}

function mqttRow(run: string, result: RunResult, downMs: number | null): Row {
  const t = result.totals;
  const latency = result.latency.end_to_end;
  const failures = t.publish_errors + t.puback_timeouts;
  // The measured phases, as for HTTP (whose warm-up is a separate source); events never acked by the
  // broker are only counted for the whole run, warm-up included (0 unless publishes fail).
  const measured = result.phases.filter((p) => !p.excluded_from_totals);
  const lost = measured.reduce((sum, p) => sum + p.lost, 0) + t.lost_unacked + t.never_sent;
  return {
    transport: 'MQTT QoS 1 via broker',
    run,
    sent: measured.reduce((sum, p) => sum + p.published, 0),
    throughput: result.throughput.committed_per_s,
    p50: latency.p50_ms,
    p99: latency.p99_ms,
    max: latency.max_ms,
    ack_p99: result.latency.publish_ack.p99_ms,
    down_ms: downMs,
    producer_failures: failures,
    lost,
    note:
      downMs === null
        ? `closed loop; ${t.unique_committed} committed${result.valid ? '' : `; run invalid: ${result.invalid_reasons.join('; ')}`}`
        : `${result.aggregator.self_reported.redelivered} redelivered after the restart, absorbed by dedup; sink duplicates ${t.sink_duplicates}${result.valid ? '' : `; run invalid: ${result.invalid_reasons.join('; ')}`}`,
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP runs: autocannon against the aggregator's POST /events.

interface HttpLoadResult {
  source: string;
  /** event_id → send time (µs) of every request built and written. */
  sent: Map<string, number>;
  /** event_id → HTTP status of every answer. */
  answers: Map<string, number>;
  /** Send → answer, successful requests only (µs). */
  answer_latency: LatencyRecorder;
  /** Last answer received (µs). */
  last_answer_us: number;
  /** Connection errors and timeouts autocannon counted (a refused connect is one each). */
  connection_errors: number;
  timeouts: number;
  start_us: number;
  end_us: number;
}

interface HttpRun {
  load: HttpLoadResult;
  /** Events of this source in the sink: id → commit time (µs). */
  committed: Map<string, number>;
  commit_latency: LatencyRecorder;
  down_ms: number | null;
  sink: string;
}

interface HttpLoadOptions {
  port: number;
  connections: number;
  source: string;
  seed: number;
  /**
   * Stop after this long (requests still in flight are abandoned: for warm-ups) … or after exactly
   * `amount` requests, each answered or failed (nothing abandoned), at overall_rate per second if given.
   */
  duration_s?: number;
  amount?: number;
  overall_rate?: number;
  /** Hard stop, whatever happens. */
  limit_ms: number;
}

/** Drives POST /events with autocannon; every request body is a fresh event with a seeded ULID. */
function httpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const sent = new Map<string, number>();
  const answers = new Map<string, number>();
  const answerLatency = new LatencyRecorder();
  let lastAnswerUs = 0;
  const payload = { data: 'x'.repeat(PAYLOAD_BYTES) };
  let seq = 0;
  const request: autocannon.Request = {
    method: 'POST',
    path: '/events',
    headers: { 'content-type': 'application/json' },
    // Called just before each request is written (also for each attempt on a refused connection).
    setupRequest: (base) => {
      const now = nowMicros();
      const n = seq++;
      const event: Event = {
        v: 1,
        event_id: eventIdFor(options.seed, options.source, n, now),
        source: options.source,
        seq: n,
        topic: `events/http/${options.source}`,
        ts: isoMicros(now),
        payload,
        bench: { intended_us: now },
      };
      sent.set(event.event_id, now);
      return { ...base, body: serializeEvent(event) };
    },
    // The answer names its event (autocannon's own request bookkeeping slips after a dropped connection).
    onResponse: (status, body) => {
      const at = nowMicros();
      const id = eventIdInAnswer(body);
      lastAnswerUs = at;
      if (id === undefined) return;
      answers.set(id, status);
      const sentAt = sent.get(id);
      if (status >= 200 && status < 300 && sentAt !== undefined) answerLatency.record(at - sentAt);
    },
  };
  const startUs = nowMicros();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${options.port}`,
        connections: options.connections,
        pipelining: 1,
        timeout: 5,
        // Finish within 0.1 s of the last answer rather than at the next whole second.
        sampleInt: 100,
        requests: [request],
        ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.duration_s ?? 5 }),
        ...(options.overall_rate !== undefined ? { overallRate: options.overall_rate } : {}),
      },
      (error: unknown, result: autocannon.Result) => {
        clearTimeout(guard);
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        resolve({
          source: options.source,
          sent,
          answers,
          answer_latency: answerLatency,
          last_answer_us: lastAnswerUs,
          connection_errors: result.errors - result.timeouts,
          timeouts: result.timeouts,
          start_us: startUs,
          end_us: nowMicros(),
        });
      },
    );
    // Bounded whatever happens: a run that cannot finish its requests is stopped.
    const guard = setTimeout(() => instance.stop(), options.limit_ms);
  });
}

function eventIdInAnswer(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { event_id?: unknown };
    return typeof parsed.event_id === 'string' ? parsed.event_id : undefined;
  } catch {
    return undefined;
  }
}

function httpAggregatorConfig(outDir: string, seed: number, port = 0): AggregatorConfig {
  return {
    ...DEFAULT_AGGREGATOR_CONFIG,
    // The same pipeline settings as the MQTT runs (scenarios/defaults.ts via theoryScenario).
    ...steadyScenario(seed).aggregator,
    broker_url: NO_BROKER,
    client_id: 'chaosbench-theory-http',
    http_port: port,
    sink: `sqlite:${join(outDir, 'sink.db')}`,
    seed,
  };
}

/** Sink rows of one source: commit times and the send → commit latencies. */
function readCommitted(sink: string, source: string): { committed: Map<string, number>; latency: LatencyRecorder } {
  const committed = new Map<string, number>();
  const latency = new LatencyRecorder();
  for (const row of iterateSinkRows(sink)) {
    if (row.source !== source) continue;
    committed.set(row.event_id, row.committed_us);
    if (row.intended_us !== null) latency.record(row.committed_us - row.intended_us);
  }
  return { committed, latency };
}

async function httpSteadyRun(context: TheoryContext, outDir: string): Promise<HttpRun> {
  context.signal?.throwIfAborted();
  mkdirSync(outDir, { recursive: true });
  const config = httpAggregatorConfig(outDir, context.seed);
  const aggregator = new AggregatorProcess(config);
  await aggregator.start();
  try {
    const port = aggregator.http_port!;
    const warmup = await httpLoad({ port, connections: IN_FLIGHT, source: 'http-warmup', seed: context.seed, duration_s: WARMUP_S, limit_ms: (WARMUP_S + 10) * 1000 });
    // A fixed number of requests, sized from the warm-up's rate to take about STEADY_S, so that none
    // is abandoned in flight at the end (autocannon's duration stops mid-request).
    const warmupRate = [...warmup.answers.values()].filter((status) => status < 300).length / Math.max(1e-3, (warmup.last_answer_us - warmup.start_us) / 1e6);
    const amount = Math.max(IN_FLIGHT * 10, Math.min(100_000, Math.round(warmupRate * STEADY_S)));
    const load = await httpLoad({ port, connections: IN_FLIGHT, source: 'http', seed: context.seed, amount, limit_ms: (STEADY_S * 4 + 10) * 1000 });
    await aggregator.stop();
    const { committed, latency } = readCommitted(config.sink.slice('sqlite:'.length), 'http');
    return { load, committed, commit_latency: latency, down_ms: null, sink: config.sink };
  } finally {
    await aggregator.kill();
  }
}

async function httpCrashRun(context: TheoryContext, outDir: string): Promise<HttpRun> {
  context.signal?.throwIfAborted();
  mkdirSync(outDir, { recursive: true });
  const config = httpAggregatorConfig(outDir, context.seed);
  let aggregator = new AggregatorProcess(config);
  await aggregator.start();
  try {
    const port = aggregator.http_port!;
    const limitMs = (CRASH.run_s + 20) * 1000;
    await httpLoad({ port, connections: CRASH.http_connections, source: 'http-warmup', seed: context.seed, amount: CRASH.rate * WARMUP_S, overall_rate: CRASH.rate, limit_ms: limitMs });
    // Exactly rate × run_s requests, paced per second: a refused attempt uses up its slot like any other.
    const loading = httpLoad({
      port,
      connections: CRASH.http_connections,
      source: 'http',
      seed: context.seed,
      amount: CRASH.rate * CRASH.run_s,
      overall_rate: CRASH.rate,
      limit_ms: limitMs,
    });
    await sleep(CRASH.at_s * 1000);
    const killedUs = nowMicros();
    await aggregator.kill();
    await sleep(CRASH.downtime_ms);
    // The restarted aggregator listens on the same port, as a service behind a fixed address would.
    aggregator = new AggregatorProcess(httpAggregatorConfig(outDir, context.seed, port));
    await aggregator.start();
    const downMs = Math.round((nowMicros() - killedUs) / 1000);
    const load = await loading;
    await aggregator.stop();
    const { committed, latency } = readCommitted(config.sink.slice('sqlite:'.length), 'http');
    return { load, committed, commit_latency: latency, down_ms: downMs, sink: config.sink };
  } finally {
    await aggregator.kill();
  }
}

function httpFigures(run: HttpRun) {
  const { load, committed } = run;
  const acked = [...load.answers.values()].filter((status) => status >= 200 && status < 300).length;
  const sent = load.sent.size;
  const committedWithoutAnswer = [...committed.keys()].filter((id) => {
    const status = load.answers.get(id);
    return status === undefined || status >= 300;
  }).length;
  const notInSink = [...load.sent.keys()].filter((id) => !committed.has(id)).length;
  let lastCommitUs = 0;
  for (const at of committed.values()) lastCommitUs = Math.max(lastCommitUs, at);
  const spanS = Math.max((Math.max(load.last_answer_us, lastCommitUs) - load.start_us) / 1e6, 1e-3);
  return { sent, acked, failed: sent - acked, committed: committed.size, committed_without_answer: committedWithoutAnswer, not_in_sink: notInSink, span_s: spanS };
}

function httpRow(run: string, http: HttpRun): Row {
  const f = httpFigures(http);
  const latency = http.commit_latency.summary();
  const ack = http.load.answer_latency.summary();
  const refused = http.load.connection_errors;
  return {
    transport: 'HTTP straight to consumer',
    run,
    sent: f.sent,
    throughput: Math.round(f.committed / f.span_s),
    p50: latency.p50_ms,
    p99: latency.p99_ms,
    max: latency.max_ms,
    ack_p99: ack.p99_ms,
    down_ms: http.down_ms,
    producer_failures: f.failed,
    lost: f.not_in_sink,
    note:
      http.down_ms === null
        ? `${f.sent} requests, each answered after its commit${f.failed > 0 ? `; ${f.failed} without a 200` : ''}`
        : `${refused.toLocaleString('en-US')} connection errors (refused or reset) while away; ${f.committed_without_answer} committed but never answered (a retry would be a duplicate)`,
  };
}

function summary(http: HttpRun): Record<string, unknown> {
  return { ...httpFigures(http), connection_errors: http.load.connection_errors, timeouts: http.load.timeouts, down_ms: http.down_ms, sink: http.sink, latency: http.commit_latency.summary(), answer_latency: http.load.answer_latency.summary() };
}

// ---------------------------------------------------------------------------------------------
// Findings: sentences computed from the rows alone (pure).

export function httpVsMqttFindings(rows: readonly Row[]): string[] {
  const num = (row: Row | undefined, key: string): number => (row && typeof row[key] === 'number' ? (row[key] as number) : NaN);
  const isHttp = (row: Row) => String(row.transport).startsWith('HTTP');
  const steady = rows.filter((r) => r.down_ms === null);
  const crash = rows.filter((r) => r.down_ms !== null);
  const [httpSteady, mqttSteady] = [steady.find(isHttp), steady.find((r) => !isHttp(r))];
  const [httpCrash, mqttCrash] = [crash.find(isHttp), crash.find((r) => !isHttp(r))];
  const int = (n: number) => Math.round(n).toLocaleString('en-US');
  const ms = (n: number) => `${n.toFixed(n >= 100 ? 0 : 1)} ms`;
  const pct = (part: number, whole: number) => `${((100 * part) / Math.max(1, whole)).toFixed(1)}%`;
  const findings: string[] = [];
  if (httpSteady && mqttSteady) {
    const ratio = num(httpSteady, 'throughput') / num(mqttSteady, 'throughput');
    findings.push(
      `At full speed with ${IN_FLIGHT} events in flight, HTTP straight to the aggregator committed ${int(num(httpSteady, 'throughput'))} ev/s and MQTT through the broker ` +
        `${int(num(mqttSteady, 'throughput'))} ev/s: HTTP did ${ratio.toFixed(2)}× the MQTT rate, ` +
        (ratio >= 1.1
          ? 'the cost of the extra hop (the broker receives, stores and forwards every event once more, on the same cores).'
          : ratio <= 0.9
            ? 'so the broker hop did not cost throughput here: the MQTT publishers keep several events in flight on each of their 4 connections, where each HTTP connection waits for one answer at a time.'
            : 'within 10% of each other: at this size the broker hop is not what limits throughput.') +
        ` Send-to-commit latency: p50 ${ms(num(httpSteady, 'p50'))} against ${ms(num(mqttSteady, 'p50'))}, p99 ${ms(num(httpSteady, 'p99'))} against ${ms(num(mqttSteady, 'p99'))}.`,
    );
    findings.push(
      `What the producer waits for differs: the HTTP producer's answer is the commit itself (p99 ${ms(num(httpSteady, 'ack_p99'))}), ` +
        `while the MQTT producer's PUBACK comes from the broker (p99 ${ms(num(mqttSteady, 'ack_p99'))}) whether or not the aggregator has written the event yet.`,
    );
  }
  if (httpCrash && mqttCrash) {
    const httpFailed = num(httpCrash, 'producer_failures');
    const httpSent = num(httpCrash, 'sent');
    findings.push(
      `With the consumer away for ${int(num(httpCrash, 'down_ms'))} ms, ${int(httpFailed)} of ${int(httpSent)} HTTP requests (${pct(httpFailed, httpSent)}) got no 200: ` +
        `the producer has to keep those events and send them again, or lose them; nothing retried them here, and ${int(num(httpCrash, 'lost'))} never reached the sink.`,
    );
    const mqttFailed = num(mqttCrash, 'producer_failures');
    findings.push(
      `Over MQTT, with the consumer away for ${int(num(mqttCrash, 'down_ms'))} ms, ${int(mqttFailed)} of ${int(num(mqttCrash, 'sent'))} publishes failed and ` +
        `${int(num(mqttCrash, 'lost'))} events were lost: the broker kept what arrived meanwhile in the consumer's session. The price is delay: the slowest event took ` +
        `${ms(num(mqttCrash, 'max'))} from send to commit (p99 ${ms(num(mqttCrash, 'p99'))}), against ${ms(num(httpCrash, 'max'))} for the slowest HTTP event that got through — ` +
        'over HTTP the events sent during the outage never got that far.',
    );
  }
  return findings;
}
