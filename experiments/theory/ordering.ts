// Table 4: ordering. Several sources publish causally linked events over MQTT QoS 1 through a real
// broker, with one source's clock skewed behind, one ahead, and a seeded fraction of events held
// back (the harness's own clock-skew and reorder faults). A consumer records the arrival order;
// ordering-pairs.ts then judges each rule (arrival, event timestamp, per-source seq, Lamport
// clock, vector clock) on every causally related pair. This module runs; it never grades.

import { ulid } from 'ulid';
import mqtt, { type MqttClient } from 'mqtt';
import { isoMicros, nowMicros, sleep } from '../../aggregator/clock.ts';
import { parseEvent, serializeEvent, type Event } from '../../aggregator/event/index.ts';
import { deriveSeed, seededRandom, type Random } from '../../aggregator/random.ts';
import { startBroker, type BrokerHandle } from '../../engine/broker/index.ts';
import { clockSkewFault } from '../../engine/faults/clock-skew.ts';
import type { PublishFault, PublishFaultContext } from '../../engine/faults/index.ts';
import { reorderFault } from '../../engine/faults/reorder.ts';
import { SourceRecord } from '../../engine/load/log.ts';
import type { Outgoing } from '../../engine/load/publishers.ts';
import { ORDERING_RULES, summariseOrdering, wrongCell, type ObservedEvent, type OrderingRule, type OrderingSummary } from './ordering-pairs.ts';
import type { TheoryCell, TheoryContext, TheoryExperiment, TheoryTable } from './types.ts';

export interface OrderingOptions {
  sources: number;
  events_per_source: number;
  /** Mean gap between two events of one source. */
  interval_ms: number;
  /** Chance that a source's next event reacts to one it received since its previous event. */
  reaction_probability: number;
  /** Clock skews given to distinct, seeded-chosen sources (the rest keep the true clock). */
  skews_ms: number[];
  reorder: { fraction: number; window: number };
  /** How long the consumer may take to receive everything after the last publish is acked. */
  drain_timeout_ms: number;
}

export const DEFAULT_ORDERING_OPTIONS: OrderingOptions = {
  sources: 4,
  events_per_source: 100,
  interval_ms: 30,
  reaction_probability: 0.3,
  skews_ms: [-2_000, 500],
  reorder: { fraction: 0.2, window: 3 },
  drain_timeout_ms: 5_000,
};

/** What travels in an event's payload: the clocks and the causal link under test. */
interface OrderingPayload {
  lamport: number;
  vector: Record<string, number>;
  caused_by: string | null;
}

function isOrderingPayload(value: unknown): value is OrderingPayload {
  if (typeof value !== 'object' || value === null) return false;
  const payload = value as Record<string, unknown>;
  return (
    typeof payload.lamport === 'number' &&
    typeof payload.vector === 'object' &&
    payload.vector !== null &&
    Object.values(payload.vector).every((count) => typeof count === 'number') &&
    (payload.caused_by === null || typeof payload.caused_by === 'string')
  );
}

/** µs since the epoch of an ISO 8601 `ts` with up to microsecond fraction and a Z or ±hh:mm offset. */
export function tsMicros(ts: string): number {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (match === null) throw new Error(`ts ${JSON.stringify(ts)} is not ISO 8601 with at most microseconds`);
  const wholeSecondsMs = Date.parse(`${match[1]}${match[3]}`);
  return wholeSecondsMs * 1000 + Number((match[2] ?? '').padEnd(6, '0'));
}

export interface OrderingRun {
  observed: ObservedEvent[];
  published: number;
  duplicates_delivered: number;
  not_delivered: number;
  invalid_delivered: number;
  reactions_sent: number;
  /** Source id → clock skew given to it (ms). */
  skews: Record<string, number>;
  /** What the reorder fault counted: held, reordered (released after a later event), in_order, max_hold. */
  reorder: Record<string, number>;
  elapsed_ms: number;
  options: OrderingOptions;
}

/** A PublishFaultContext with just what the clock-skew and reorder faults use; the rest is refused loudly. */
function faultContext(random: Random, hooks: { intercepts: Parameters<PublishFaultContext['intercept']>[0][]; reshapes: Parameters<PublishFaultContext['reshape']>[0][] }): PublishFaultContext {
  const unsupported = (what: string) => () => {
    throw new Error(`the ordering experiment does not support ${what}`);
  };
  return {
    random,
    onPublished: unsupported('onPublished'),
    republish: unsupported('republish'),
    publishRaw: unsupported('publishRaw'),
    later: unsupported('later'),
    intercept(hook) {
      hooks.intercepts.push(hook);
      return () => hooks.intercepts.splice(hooks.intercepts.indexOf(hook), 1);
    },
    reshape(hook) {
      hooks.reshapes.push(hook);
      return () => hooks.reshapes.splice(hooks.reshapes.indexOf(hook), 1);
    },
  };
}

interface SourceState {
  id: string;
  index: number;
  client: MqttClient;
  record: SourceRecord;
  seq: number;
  lamport: number;
  vector: Record<string, number>;
  /** Events of other sources received since this source's previous event. */
  inbox: { event_id: string; payload: OrderingPayload }[];
}

async function connect(url: string, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, connectTimeout: 5_000, reconnectPeriod: 0 });
}

/**
 * One real run: sources publish on a seeded schedule, react to each other through the broker,
 * and a separate consumer records what arrives in which order. Every random choice comes from
 * `seed`; what the network does with the timing does not, so two runs differ slightly.
 */
export async function runOrdering(seed: number, options: OrderingOptions, brokerUrl?: string, log: (line: string) => void = () => {}): Promise<OrderingRun> {
  if (options.skews_ms.length > options.sources) throw new Error(`${options.skews_ms.length} skews for ${options.sources} sources`);
  const started = Date.now();
  const random = seededRandom(deriveSeed(seed, 'ordering/schedule'));
  const tag = `${seed}-${process.pid}-${started}`;
  const root = `chaosbench-theory/ordering/${tag}`;
  const sourceIds = Array.from({ length: options.sources }, (_, i) => `source-${i}`);

  // Which sources get which skew: a seeded shuffle, like a scenario naming its skewed publisher.
  const order = sourceIds.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const skews: Record<string, number> = Object.fromEntries(sourceIds.map((id) => [id, 0]));
  const hooks: Parameters<typeof faultContext>[1] = { intercepts: [], reshapes: [] };
  const faults: PublishFault[] = [];
  options.skews_ms.forEach((skew_ms, k) => {
    const publisher = order[k]!;
    skews[sourceIds[publisher]!] = skew_ms;
    faults.push(clockSkewFault({ kind: 'clock-skew', publisher, skew_ms }));
  });
  const reorder = reorderFault({ kind: 'reorder', ...options.reorder });
  faults.push(reorder);
  for (const fault of faults) fault.start(faultContext(seededRandom(deriveSeed(seed, `ordering/fault/${fault.kind}`)), hooks));

  // The schedule: each source's k-th event at k·interval plus a seeded offset and jitter, merged in time order.
  const slots: { at_ms: number; source: number }[] = [];
  for (let s = 0; s < options.sources; s++) {
    const offset = random() * options.interval_ms;
    for (let k = 0; k < options.events_per_source; k++) {
      slots.push({ at_ms: offset + k * options.interval_ms + (random() - 0.5) * options.interval_ms * 0.5, source: s });
    }
  }
  slots.sort((a, b) => a.at_ms - b.at_ms);

  let broker: BrokerHandle | undefined;
  const clients: MqttClient[] = [];
  try {
    if (brokerUrl === undefined) broker = await startBroker('embedded', { persistence: 'memory', error_output: log });
    const url = brokerUrl ?? broker!.url;
    log(`  broker ${url}${broker ? ' (embedded Aedes)' : ''}`);

    const arrivals: ObservedEvent[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    let invalid = 0;
    const consumer = await connect(url, `chaosbench-ordering-consumer-${tag}`);
    clients.push(consumer);
    consumer.on('message', (_topic, message) => {
      const parsed = parseEvent(message);
      if (!parsed.ok || !isOrderingPayload(parsed.event.payload)) {
        invalid++;
        return;
      }
      const event = parsed.event;
      if (seen.has(event.event_id)) {
        duplicates++;
        return;
      }
      seen.add(event.event_id);
      const payload = event.payload as OrderingPayload;
      arrivals.push({
        event_id: event.event_id,
        source: event.source,
        seq: event.seq,
        ts_us: tsMicros(event.ts),
        lamport: payload.lamport,
        vector: payload.vector,
        caused_by: payload.caused_by,
        arrival: arrivals.length,
      });
    });
    await consumer.subscribeAsync(`${root}/+`, { qos: 1 });

    const sources: SourceState[] = [];
    for (const [index, id] of sourceIds.entries()) {
      const client = await connect(url, `chaosbench-ordering-${id}-${tag}`);
      clients.push(client);
      const state: SourceState = { id, index, client, record: new SourceRecord(id), seq: 0, lamport: 0, vector: Object.fromEntries(sourceIds.map((other) => [other, 0])), inbox: [] };
      client.on('message', (_topic, message) => {
        const parsed = parseEvent(message);
        if (!parsed.ok || parsed.event.source === id || !isOrderingPayload(parsed.event.payload)) return;
        state.inbox.push({ event_id: parsed.event.event_id, payload: parsed.event.payload });
      });
      await client.subscribeAsync(`${root}/+`, { qos: 1 });
      sources.push(state);
    }

    const acks: Promise<unknown>[] = [];
    let published = 0;
    let reactions = 0;
    const t0 = Date.now();
    for (const slot of slots) {
      const wait = t0 + slot.at_ms - Date.now();
      if (wait > 0) await sleep(wait);
      const source = sources[slot.source]!;
      // Both draws are made whether or not there is anything to react to, so the seeded stream
      // does not shift with what the network delivered in time.
      const reactDraw = random();
      const pickDraw = random();
      let caused_by: string | null = null;
      if (source.inbox.length > 0 && reactDraw < options.reaction_probability) {
        const cause = source.inbox[Math.floor(pickDraw * source.inbox.length)]!;
        caused_by = cause.event_id;
        reactions++;
        // Receiving the cause is an event of this source: Lamport max(local, received) + 1, vector element-wise max.
        source.lamport = Math.max(source.lamport, cause.payload.lamport) + 1;
        for (const [other, count] of Object.entries(cause.payload.vector)) source.vector[other] = Math.max(source.vector[other] ?? 0, count);
      }
      // A source reads only what it reacts to; the rest of its inbox is ignored, so the declared
      // links are the whole happens-before relation.
      source.inbox = [];
      source.lamport++;
      source.vector[source.id] = (source.vector[source.id] ?? 0) + 1;

      const intended_us = nowMicros();
      const seq = source.seq++;
      const topic = `${root}/${source.id}`;
      let event: Event = {
        v: 1,
        event_id: ulid(),
        source: source.id,
        seq,
        topic,
        ts: isoMicros(intended_us),
        payload: { lamport: source.lamport, vector: { ...source.vector }, caused_by } satisfies OrderingPayload,
        bench: { intended_us },
      };
      for (const reshape of hooks.reshapes) event = reshape(event, source.index);
      source.record.add(seq, intended_us);
      const item: Outgoing = { record: source.record, seq, topic, payload: Buffer.from(serializeEvent(event)), copy: false };
      const send = () => {
        acks.push(source.client.publishAsync(item.topic, item.payload, { qos: 1 }));
      };
      published++;
      if (!hooks.intercepts.some((intercept) => intercept(item, source.index, send))) send();
    }
    // Held events go out now, then every PUBACK, then the consumer gets the time it needs.
    for (const fault of faults) await fault.stop();
    await Promise.all(acks);
    const drainDeadline = Date.now() + options.drain_timeout_ms;
    while (seen.size < published && Date.now() < drainDeadline) await sleep(20);

    const run: OrderingRun = {
      observed: arrivals,
      published,
      duplicates_delivered: duplicates,
      not_delivered: published - seen.size,
      invalid_delivered: invalid,
      reactions_sent: reactions,
      skews,
      reorder: reorder.injected(),
      elapsed_ms: Date.now() - started,
      options,
    };
    log(`  ${published} events published, ${arrivals.length} received, ${reactions} reactions, ${run.reorder.reordered ?? 0} reordered`);
    return run;
  } finally {
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => {})));
    await broker?.stop();
  }
}

const RULES = {
  arrival: { label: 'arrival order', needs: 'nothing' },
  timestamp: { label: 'event timestamp (ts)', needs: 'synchronised clocks' },
  'source-seq': { label: 'per-source seq', needs: 'a per-source counter' },
  lamport: { label: 'Lamport clock (ties by source)', needs: 'one counter piggybacked on every message' },
  'vector-clock': { label: 'vector clock', needs: 'one counter per source piggybacked on every message' },
} as const satisfies Record<OrderingRule, { label: string; needs: string }>;

export function orderingRows(summary: OrderingSummary): Record<string, TheoryCell>[] {
  return summary.scores.map((score) => ({
    rule: RULES[score.rule].label,
    same_source_wrong: wrongCell(score.same_source),
    cross_source_wrong: wrongCell(score.cross_source),
    concurrent_ordered: score.concurrent.pairs === 0 ? null : score.concurrent.ordered / score.concurrent.pairs,
    needs: RULES[score.rule].needs,
  }));
}

function percent(cell: TheoryCell | undefined): string {
  if (typeof cell !== 'number') return String(cell ?? '—');
  const value = cell * 100;
  return `${value === 0 || value >= 10 ? value.toFixed(0) : value.toFixed(1)}%`;
}

function signedMs(ms: number): string {
  return `${ms > 0 ? '+' : ms < 0 ? '−' : ''}${Math.abs(ms).toLocaleString('en-US')} ms`;
}

/** Sentences from the measured rows (looked up by rule) and the run's own counts. */
export function orderingFindings(rows: readonly Record<string, TheoryCell>[], summary: OrderingSummary, run: OrderingRun): string[] {
  const row = (rule: OrderingRule) => rows.find((candidate) => candidate.rule === RULES[rule].label);
  const findings: string[] = [];
  const arrival = row('arrival');
  if (arrival) {
    const cross = arrival.cross_source_wrong;
    findings.push(
      `Arrival order put ${percent(arrival.same_source_wrong)} of consecutive same-source pairs in the wrong order: the reorder fault held back ${run.reorder.held ?? 0} of ${run.published} events ` +
        `and ${run.reorder.reordered ?? 0} of them went out only after a later event of their own source; arrival order inherits every such swap. ` +
        `It put ${percent(cross)} of reaction pairs wrong` +
        (cross === 0 ? ': a reaction is sent only after its cause reached the reacting source, and a single broker hands the cause to the consumer at about the same moment; with several brokers or network paths that no longer holds.' : '.'),
    );
  }
  const ts = row('timestamp');
  const skewText = Object.entries(run.skews).filter(([, skew]) => skew !== 0).map(([source, skew]) => `${source} ${signedMs(skew)}`).join(', ');
  if (ts) {
    findings.push(
      `Sorting by event timestamp put ${percent(ts.same_source_wrong)} of same-source pairs wrong` +
        (ts.same_source_wrong === 0 ? ' (a skewed clock shifts all of its source\'s events alike, so their order survives)' : '') +
        ` but ${percent(ts.cross_source_wrong)} of reaction pairs wrong, with clocks skewed by ${skewText || 'nothing'}: a reaction goes out within about one send interval (~${run.options.interval_ms} ms) of receiving its cause, ` +
        'so whenever the reacting source\'s clock is behind the cause\'s by more than that, the effect is stamped before its cause.',
    );
  }
  const seq = row('source-seq');
  if (seq) {
    findings.push(
      `Per-source seq put ${percent(seq.same_source_wrong)} of same-source pairs wrong whatever the skew and reordering, ` +
        `but it ${seq.cross_source_wrong === 'cannot order' ? 'cannot order' : `got ${percent(seq.cross_source_wrong)} wrong of`} the ${summary.cross_source_pairs} reaction pairs: two counters of different sources are not comparable.`,
    );
  }
  const lamport = row('lamport');
  if (lamport) {
    const zero = lamport.same_source_wrong === 0 && lamport.cross_source_wrong === 0;
    findings.push(
      `The Lamport clock put ${percent(lamport.same_source_wrong)} of same-source and ${percent(lamport.cross_source_wrong)} of reaction pairs wrong` +
        (zero ? ', as it must: every event carries a clock above its predecessor\'s and above the one it reacts to. ' : ' — it must be 0, so this run has a bug. ') +
        `It still gave an order to ${percent(lamport.concurrent_ordered)} of the ${summary.concurrent_pairs.toLocaleString('en-US')} concurrent pairs ` +
        `(${percent(summary.concurrent_pairs / Math.max(1, summary.concurrent_pairs + summary.causal_pairs))} of all pairs): a lower Lamport clock does not mean "happened before".`,
    );
  }
  const vector = row('vector-clock');
  if (vector) {
    findings.push(
      `Vector clocks put ${percent(vector.same_source_wrong)} of same-source and ${percent(vector.cross_source_wrong)} of reaction pairs wrong and ordered ${percent(vector.concurrent_ordered)} of the concurrent pairs: ` +
        `they tell "happened before" from "concurrent", at the price of ${Object.keys(run.skews).length} counters on every message (one per source) instead of one.`,
    );
  }
  if (run.not_delivered > 0 || run.duplicates_delivered > 0 || summary.causes_missing > 0) {
    findings.push(`${run.not_delivered} events were not delivered to the consumer, ${run.duplicates_delivered} were delivered twice (first delivery counted), and ${summary.causes_missing} reactions lost their cause; pairs with a missing event are left out.`);
  }
  return findings;
}

export const ordering: TheoryExperiment = {
  id: 4,
  slug: 'ordering',
  title: 'Ordering: per-source seq, event timestamp and Lamport clock under clock skew and reordering',
  async run(context: TheoryContext): Promise<TheoryTable> {
    const started = Date.now();
    const options = DEFAULT_ORDERING_OPTIONS;
    const run = await runOrdering(context.seed, options, context.broker_url, context.log);
    const summary = summariseOrdering(run.observed, ORDERING_RULES);
    const rows = orderingRows(summary);
    const skewed = Object.entries(run.skews).filter(([, skew]) => skew !== 0);
    return {
      id: 4,
      slug: 'ordering',
      title: this.title,
      intro:
        'An aggregator that merges several sources has to decide which event came first, and some orders matter: an event that reacts to another must not be shown before it. ' +
        'Each row is one rule for putting events in order: as they arrived; by the timestamp each source stamped with its own clock; by each source\'s counter (seq); ' +
        'by a Lamport clock (a counter every source piggybacks on its messages and raises past any it receives); and, for comparison, by a vector clock (one such counter per source). ' +
        'Two kinds of causally related pairs are judged: consecutive events of one source (the second happened after the first) and reactions (an event a source sent in response to ' +
        'another source\'s event). A cell is the fraction of those pairs the rule puts the wrong way round; "cannot order" means the rule has no answer for such a pair. ' +
        'The last number column is the share of concurrent pairs (neither could have influenced the other) to which the rule still gives an order — an order that means nothing.',
      method:
        `${options.sources} sources published ${options.events_per_source} events each over MQTT QoS 1, one every ~${options.interval_ms} ms per source, through ${context.broker_url ? `the broker at ${context.broker_url}` : 'an embedded Aedes broker'}. ` +
        `Every source subscribed to the others; before each event, if it had received any since its previous one, it reacted with probability ${options.reaction_probability} to one of them (seeded pick) ` +
        `(${run.reactions_sent} reactions in all), and each event names the event it reacts to. The clock-skew fault shifted the timestamps of ${skewed.map(([source, skew]) => `${source} by ${signedMs(skew)}`).join(' and ') || 'no source'}; ` +
        `the reorder fault held back ${options.reorder.fraction * 100}% of events (seeded) until 1–${options.reorder.window} later events of their source had been sent ` +
        `(${run.reorder.held ?? 0} held, ${run.reorder.reordered ?? 0} sent after a later one). A separate consumer subscribed at QoS 1 recorded the arrival order of ${run.observed.length} of ${run.published} events. ` +
        `The true happens-before relation is the declared one: program order within a source plus the reaction links, ${summary.same_source_pairs} same-source and ${summary.cross_source_pairs} reaction pairs judged directly; ` +
        `its transitive closure gives ${summary.causal_pairs.toLocaleString('en-US')} causally related and ${summary.concurrent_pairs.toLocaleString('en-US')} concurrent pairs. ` +
        'Ties are broken as a sort would: timestamp by source then seq, Lamport by source id. Every random choice (skewed sources, schedule jitter, reactions, held events) comes from the seed; the network\'s timing does not, so reruns differ slightly.',
      command: 'npm run theory -- --only 4',
      seed: context.seed,
      columns: [
        { key: 'rule', label: 'rule', format: 'text' },
        { key: 'same_source_wrong', label: 'same-source pairs wrong', format: 'pct' },
        { key: 'cross_source_wrong', label: 'reaction pairs wrong', format: 'pct' },
        { key: 'concurrent_ordered', label: 'concurrent pairs given an order', format: 'pct' },
        { key: 'needs', label: 'needs', format: 'text' },
      ],
      rows,
      findings: orderingFindings(rows, summary, run),
      duration_ms: Date.now() - started,
    };
  },
};
