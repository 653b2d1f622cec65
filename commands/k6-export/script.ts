// A scenario as a k6 script in TypeScript, for k6 with the xk6-mqtt extension (docs/k6.md): one
// k6 scenario per phase with an arrival-rate executor (constant-arrival-rate, or
// ramping-arrival-rate for a ramp), each iteration one event of our wire format (v1) with the id
// the harness would give it (engine/load/identity.ts: a ULID whose time is the intended send time
// and whose random part comes from the seed and (source, seq) alone), published at QoS 1; the
// scenario's duplicate and clock-skew faults; thresholds from the checks k6 can measure. What it
// cannot (the sink's side: lost, duplicates in the sink, the DLQ, end-to-end latency) is named in
// the notes and in the script. Pure: scenario in, text out.

import type { Check, DuplicateFault, Scenario } from '../../scenarios/schema.ts';
import { DUPLICATE_EXPONENTIAL_CAP, WARMUP_PHASE } from '../../scenarios/schema.ts';
import { k6ThresholdOf } from '../../scenarios/k6-threshold.ts';
import { meanRate, rateFrom, rateTo } from '../../engine/load/schedule.ts';

export interface K6Script {
  /** The script's text (TypeScript, type-checked against @types/k6 and k6/types/xk6-mqtt.d.ts). */
  text: string;
  /** What the script does not do that the scenario asks for: each check and fault left to the harness, in words. */
  notes: string[];
}

/**
 * Where each check goes in k6: the metric the script records for it (and with which tag filter),
 * or why it cannot be measured there. One entry per kind of check metric; latency checks all go to
 * the one publish-side Trend.
 */
const CHECK_IN_K6: Record<'counter-sink' | 'never_sent' | 'lost_unacked' | 'latency' | 'sink-ratio' | 'recovery', { metric: string; note: string } | { unmeasurable: string }> = {
  never_sent: { metric: 'dropped_iterations', note: "k6's own count of iterations it could not start in time (no free VU): events never sent" },
  lost_unacked: { metric: 'publishes_unacked', note: 'publishes the broker did not acknowledge (error or no PUBACK within load.puback_timeout_ms): an upper bound of lost_unacked, which also needs the event missing from the sink' },
  latency: {
    metric: `publish_latency_ms{measured:yes}`,
    note: 'intended send time → PUBACK of the measured phases: the publish side only; end-to-end latency ends at the sink\'s COMMIT, which k6 cannot see, so the harness\'s audit judges the check itself',
  },
  'counter-sink': { unmeasurable: 'counted from the sink (and the DLQ) after the run; k6 sees only the publish side' },
  'sink-ratio': { unmeasurable: 'committed events ÷ published: counted from the sink after the run' },
  recovery: { unmeasurable: 'recovery time needs the sink\'s commits per second' },
};

function checkInK6(check: Check) {
  if (check.metric === 'never_sent' || check.metric === 'lost_unacked') return CHECK_IN_K6[check.metric];
  if (check.metric === 'committed_ratio') return CHECK_IN_K6['sink-ratio'];
  if (check.metric === 'recovery_s') return CHECK_IN_K6.recovery;
  return k6ThresholdOf(check).type === 'trend' ? CHECK_IN_K6.latency : CHECK_IN_K6['counter-sink'];
}

/** Faults the script reproduces; every other kind acts on the system under test (or reshapes the stream) and is the harness's. */
const EXPORTED_FAULTS = ['duplicate', 'clock-skew'];

/** k6 scenario names allow [0-9A-Za-z_-]: p<index>-<phase name>. */
export function k6ScenarioName(index: number, phase: string): string {
  return `p${index}-${phase.replace(/[^0-9A-Za-z_-]/g, '_')}`;
}

const duration = (seconds: number) => `${Math.round(seconds * 1000)}ms`;

/**
 * The script for a validated scenario. `command` is the export's own command line, written into the
 * header so that the script says where it came from. Throws for a closed-model scenario (the
 * arrival-rate executors are the open model; the caller checks first: closedModelProblem).
 */
export function renderK6Script(scenario: Scenario, command: string): K6Script {
  const problem = closedModelProblem(scenario);
  if (problem) throw new Error(problem);
  const notes: string[] = [];
  const load = scenario.load;
  // Fractional rates: k6's rates are whole iterations per timeUnit, so such a scenario counts per 1000 s.
  const perUnit = scenario.phases.every((phase) => Number.isInteger(rateFrom(phase.rate)) && Number.isInteger(rateTo(phase.rate))) ? 1 : 1000;
  const timeUnit = perUnit === 1 ? '1s' : '1000s';
  const k6Rate = (rate: number) => Math.round(rate * perUnit);
  // VUs: one per iteration in flight. An iteration connects, publishes and waits for its PUBACK
  // (tens of ms), and holds its connection open for a delayed copy's delay.
  const holdS = (phase: Scenario['phases'][number]) =>
    0.05 + phase.faults.reduce((s, f) => (f.kind === 'duplicate' ? Math.max(s, f.fraction * (1 - f.immediate_share) * maxDelayMs(f) / 1000) : s), 0);

  let first = 0;
  let start = 0;
  const phases: Record<string, unknown> = {};
  const scenarios: Record<string, unknown> = {};
  scenario.phases.forEach((phase, i) => {
    const name = k6ScenarioName(i, phase.name);
    const count = Math.round(meanRate(phase.rate) * phase.duration_s);
    const from = rateFrom(phase.rate);
    const to = rateTo(phase.rate);
    const measured = phase.name !== WARMUP_PHASE;
    const inFlight = Math.max(from, to) * holdS(phase);
    const vus = { preAllocatedVUs: Math.max(2, Math.ceil(inFlight)), maxVUs: Math.max(10, Math.ceil(inFlight * 4)) };
    const common = { exec: 'publishEvent', startTime: duration(start), gracefulStop: duration(Math.max(5, (load.puback_timeout_ms + maxDelay(phase)) / 1000)), tags: { phase: phase.name, measured: measured ? 'yes' : 'no' } };
    scenarios[name] =
      from === to
        ? { executor: 'constant-arrival-rate', rate: k6Rate(from), timeUnit, duration: duration(phase.duration_s), ...vus, ...common }
        : { executor: 'ramping-arrival-rate', startRate: k6Rate(from), timeUnit, stages: [{ target: k6Rate(to), duration: duration(phase.duration_s) }], ...vus, ...common };
    const found = phase.faults.find((f): f is DuplicateFault => f.kind === 'duplicate');
    const duplicate = found === undefined ? null : (({ kind: _kind, ...rest }) => rest)(found);
    const skew = Object.fromEntries(phase.faults.flatMap((f) => (f.kind === 'clock-skew' ? [[String(f.publisher), f.skew_ms]] : [])));
    phases[name] = { name: phase.name, first, count, from, to, duration_s: phase.duration_s, duplicate, skew_ms: skew };
    phase.faults.forEach((fault, j) => {
      if (!EXPORTED_FAULTS.includes(fault.kind)) notes.push(`phases[${i}].faults[${j}] ${fault.kind} (phase ${phase.name}): not in the script; it acts on the system under test or reshapes the stream, which the harness does (npm run bench)`);
    });
    if (phase.faults.filter((f) => f.kind === 'duplicate').length > 1) notes.push(`phases[${i}]: only the first duplicate fault is in the script`);
    first += count;
    start += phase.duration_s;
  });

  const thresholds: Record<string, string[]> = {};
  const checkLines: string[] = [];
  scenario.checks.forEach((check, i) => {
    const said = `checks[${i}] ${check.metric} ${check.op} ${check.value}`;
    const where = checkInK6(check);
    if ('unmeasurable' in where) {
      notes.push(`${said}: not measurable inside k6 (${where.unmeasurable}); needs an audit of the sink after the run: npm run audit`);
      checkLines.push(`//   ${said}: not here (${where.unmeasurable})`);
      return;
    }
    const expression = k6ThresholdOf(check).expression;
    (thresholds[where.metric] ??= []).push(expression);
    checkLines.push(`//   ${said} → ${where.metric}: '${expression}' (${where.note})`);
    if (where === CHECK_IN_K6.latency) notes.push(`${said}: thresholded on ${where.metric} (${where.note})`);
  });

  const text = `// ${scenario.name}: ${scenario.description}
// Generated by chaosbench (${command}); do not edit: export again. docs/k6.md says how to run it.
//
// For k6 with the xk6-mqtt extension (k6/x/mqtt), which runs TypeScript directly:
//   MQTT_URL=mqtt://broker:1883 TOPIC_ROOT=events/k6-run1 k6 run THIS_FILE.ts
// One k6 scenario per phase, each iteration one event: connect, publish at QoS ${load.qos ?? 1}, wait for the
// PUBACK, close. Events are our wire format v1 with the harness's ids (seed ${scenario.seed}): event (source
// pub-P, seq S) of a run has the id the harness would give it for the same intended send time.
// The consumer under test subscribes to TOPIC_ROOT/# (the reference aggregator's default is events/#).
//
// Checks (scenario → k6 threshold):
${checkLines.length > 0 ? checkLines.join('\n') : '//   (none)'}
// What k6 cannot see (the sink: lost, duplicated, unexpected, dead-lettered events) is audited after
// the run: npm run audit with this scenario and its load flags (docs/k6.md).

import { Client, type MQTTError } from 'k6/x/mqtt';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import { clearTimeout, setTimeout } from 'k6/timers';
import type { Options } from 'k6/options';

const SEED = ${scenario.seed};
const LOAD = ${JSON.stringify({ publishers: load.publishers, topics: load.topics, payload_bytes: load.payload_bytes, qos: load.qos ?? 1, puback_timeout_ms: load.puback_timeout_ms })} as const;
const BROKER_URL = __ENV.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const TOPIC_ROOT = __ENV.TOPIC_ROOT ?? ${JSON.stringify(`events/k6-${scenario.name}`)};

interface Duplicate {
  fraction: number;
  immediate_share: number;
  delay_ms: number;
  other_connection_share: number;
  delay_distribution?: 'fixed' | 'uniform' | 'exponential';
}
interface Phase {
  name: string;
  /** The phase's first event over the whole run (global index g: publisher g mod P, seq ⌊g / P⌋), and how many. */
  first: number;
  count: number;
  /** Arrival rate at the start and end of the phase, events/s. */
  from: number;
  to: number;
  duration_s: number;
  duplicate: Duplicate | null;
  /** Publisher → clock skew of its events' ts (ms). */
  skew_ms: Record<string, number>;
}
const PHASES: Record<string, Phase> = ${JSON.stringify(phases, null, 2)};

export const options: Options = {
  scenarios: ${JSON.stringify(scenarios, null, 2).replace(/\n/g, '\n  ')},
  thresholds: ${JSON.stringify(thresholds, null, 2).replace(/\n/g, '\n  ')},
};

const publishLatency = new Trend('publish_latency_ms', true);
const unacked = new Counter('publishes_unacked');
const copies = new Counter('duplicate_copies');
const mqttErrors = new Counter('mqtt_errors');
const surplus = new Counter('surplus_iterations');

// Event identity, as engine/load/identity.ts: mulberry32 seeded by an FNV-style hash of the seed and
// a label (aggregator/random.ts), and a ULID of the intended time (ms) with 16 random characters.
function deriveSeed(seed: number, label: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function ulid(ms: number, random: () => number): string {
  let time = '';
  for (let n = ms, i = 0; i < 10; i++) {
    const mod = n % 32;
    time = CROCKFORD.charAt(mod) + time;
    n = (n - mod) / 32;
  }
  let rest = '';
  for (let i = 0; i < 16; i++) rest = CROCKFORD.charAt(Math.floor(random() * 32) % 32) + rest;
  return time + rest;
}
export function eventIdFor(source: string, seq: number, intended_us: number): string {
  return ulid(Math.floor(intended_us / 1000), seededRandom(deriveSeed(SEED, \`\${source}#\${seq}\`)));
}

/** ISO 8601 with microseconds (aggregator/clock.ts). */
function isoMicros(micros: number): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return \`\${iso.slice(0, -1)}\${String(micros % 1000).padStart(3, '0')}Z\`;
}

/** Offset (s) of a phase's k-th event from its start (engine/load/schedule.ts offsetOf). */
export function offsetOf(k: number, from: number, to: number, duration_s: number): number {
  if (k <= 0) return 0;
  const root = Math.sqrt(Math.max(0, from * from + 2 * ((to - from) / duration_s) * k));
  return (2 * k) / (from + root);
}

const FILLER = 'x'.repeat(LOAD.payload_bytes);

/** The event the harness would publish as (source, seq) at intended_us: wire v1, fields in wire order. */
export function eventJson(source: string, seq: number, intended_us: number, topic: string, skew_ms: number): string {
  const ts = isoMicros(Math.round(intended_us + skew_ms * 1000));
  return JSON.stringify({ v: 1, event_id: eventIdFor(source, seq, intended_us), source, seq, topic, ts, payload: { data: FILLER }, bench: { intended_us } });
}

/** Whether (source, seq) gets a copy, when and from which connection: drawn from the seed, so a rerun copies the same events. */
function copyOf(duplicate: Duplicate, source: string, seq: number): { delay_ms: number; other_connection: boolean } | null {
  const random = seededRandom(deriveSeed(SEED, \`k6.duplicate#\${source}#\${seq}\`));
  if (random() >= duplicate.fraction) return null;
  const immediate = random() < duplicate.immediate_share;
  const other_connection = random() < duplicate.other_connection_share;
  if (immediate) return { delay_ms: 0, other_connection };
  const d = duplicate.delay_ms;
  const delay_ms = duplicate.delay_distribution === 'uniform' ? random() * d : duplicate.delay_distribution === 'exponential' ? Math.min(-d * Math.log(1 - random()), ${DUPLICATE_EXPONENTIAL_CAP} * d) : d;
  return { delay_ms, other_connection };
}

const sleep = (ms: number) => new Promise<void>((resolve) => void setTimeout(resolve, ms));

/**
 * Publishes at QoS 1 and waits for the PUBACK, at most load.puback_timeout_ms: true when acknowledged.
 * The timer is cleared on the PUBACK: k6 ends an iteration only when nothing is pending in it.
 */
function publishAcked(client: Client, topic: string, body: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), LOAD.puback_timeout_ms);
    client.publishAsync(topic, body, { qos: LOAD.qos }).then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

/** A copy from a connection of its own: connect, publish, close. */
function publishFromOtherConnection(topic: string, body: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const other = new Client();
    other.on('error', (error: MQTTError) => {
      mqttErrors.add(1, { method: error.method });
      resolve(false);
    });
    other.on('connect', async () => {
      resolve(await publishAcked(other, topic, body));
      other.end();
    });
    other.connect(BROKER_URL);
  });
}

/** One iteration: the phase's next event, its copy if it gets one. */
export function publishEvent(): void {
  const phase = PHASES[exec.scenario.name];
  if (phase === undefined) throw new Error(\`no phase for k6 scenario \${exec.scenario.name}\`);
  const k = exec.scenario.iterationInTest;
  if (k >= phase.count) {
    surplus.add(1); // past the harness's count for the phase: no event of the run
    return;
  }
  const g = phase.first + k;
  const publisher = g % LOAD.publishers;
  const source = \`pub-\${publisher}\`;
  const seq = Math.floor(g / LOAD.publishers);
  const intended_us = exec.scenario.startTime * 1000 + Math.round(offsetOf(k, phase.from, phase.to, phase.duration_s) * 1e6);
  const topic = LOAD.topics === 1 ? \`\${TOPIC_ROOT}/\${source}\` : \`\${TOPIC_ROOT}/\${source}/\${seq % LOAD.topics}\`;
  const body = eventJson(source, seq, intended_us, topic, phase.skew_ms[String(publisher)] ?? 0);
  const copy = phase.duplicate === null ? null : copyOf(phase.duplicate, source, seq);

  const client = new Client();
  // An error before the publish (the connection failed): the event is not sent, counted as unacknowledged.
  let started = false;
  client.on('error', (error: MQTTError) => {
    mqttErrors.add(1, { method: error.method });
    if (!started) {
      started = true;
      unacked.add(1);
    }
  });
  client.on('connect', async () => {
    if (started) return client.end(); // given up on, or a reconnect after the publish
    started = true;
    if (await publishAcked(client, topic, body)) publishLatency.add(Date.now() - intended_us / 1000);
    else unacked.add(1);
    if (copy !== null) {
      if (copy.delay_ms > 0) await sleep(copy.delay_ms);
      const sent = copy.other_connection ? await publishFromOtherConnection(topic, body) : await publishAcked(client, topic, body);
      if (sent) copies.add(1);
    }
    client.end();
  });
  client.connect(BROKER_URL);
}
`;
  return { text, notes };
}

/** The closed model has no schedule to export: k6's arrival-rate executors are the open model. */
export function closedModelProblem(scenario: Scenario): string | undefined {
  return scenario.load.model === 'closed' ? "load.model: the closed model cannot be exported (k6's arrival-rate executors are the open model); use --model open" : undefined;
}

function maxDelayMs(fault: DuplicateFault): number {
  return fault.delay_distribution === 'exponential' ? DUPLICATE_EXPONENTIAL_CAP * fault.delay_ms : fault.delay_ms;
}

function maxDelay(phase: Scenario['phases'][number]): number {
  return phase.faults.reduce((longest, f) => (f.kind === 'duplicate' ? Math.max(longest, maxDelayMs(f)) : longest), 0);
}
