// Table 2: delivery semantics. The same stream under a consumer crash and under a broker kill, sent
// three ways: QoS 0 (at most once), QoS 1 with a plain appending sink (at least once), and QoS 1
// with dedup in front of an idempotent sink (effectively once). The ledger counts what each loses
// and doubles.

import type { FaultSpec, Scenario } from '../../scenarios/schema.ts';
import { WARMUP_PHASE } from '../../engine/run.ts';
import { theoryRun, theoryScenario } from './runs.ts';
import type { TheoryCell, TheoryContext, TheoryExperiment, TheoryTable } from './types.ts';

const RATE = 1_000;
// The consumer is killed three times (1, 4 and 7 s into the phase, far enough apart for the
// restarted process to be busy again): a duplicate needs a kill to land between a commit and its
// PUBACK reaching the broker, and a single kill may miss that window. The broker is killed once:
// repeated kills of Aedes with Redis persistence pile up its restarts and measure those instead.
const CONSUMER_KILLS = { at_s: 1, every_s: 3, downtime_ms: 1_000 } as const;
const BROKER_KILL = { at_s: 2, every_s: 0, downtime_ms: 1_500 } as const;
const FAULT_S = 9;

export const SEMANTICS = [
  {
    name: 'QoS 0 (at most once)',
    load: { qos: 0 },
    aggregator: { qos: 0, dedup: 'none', sink_mode: 'append' },
  },
  {
    name: 'QoS 1, no dedup (at least once)',
    load: { qos: 1 },
    aggregator: { qos: 1, dedup: 'none', sink_mode: 'append' },
  },
  {
    name: 'QoS 1 + dedup + idempotent sink (effectively once)',
    load: { qos: 1 },
    aggregator: { qos: 1, dedup: 'sqlite', sink_mode: 'idempotent' },
  },
] as const satisfies readonly { name: string; load: Partial<Scenario['load']>; aggregator: Partial<Scenario['aggregator']> }[];

export const FAULTS = [
  { name: 'consumer crash', fault: { kind: 'consumer-crash', ...CONSUMER_KILLS } },
  { name: 'broker kill', fault: { kind: 'broker-kill', ...BROKER_KILL } },
] as const satisfies readonly { name: string; fault: FaultSpec }[];

export const deliverySemantics: TheoryExperiment = {
  id: 2,
  slug: 'delivery-semantics',
  title: 'Delivery semantics: at most once, at least once, effectively once',
  async run(context: TheoryContext): Promise<TheoryTable> {
    const started = Date.now();
    const rows: TheoryTable['rows'] = [];
    for (const fault of FAULTS) {
      for (const semantics of SEMANTICS) {
        const scenario = theoryScenario(
          `theory-delivery`,
          context.seed,
          [
            { name: WARMUP_PHASE, duration_s: 1, rate: 500, faults: [] },
            { name: 'before', duration_s: 2, rate: RATE, faults: [] },
            { name: 'fault', duration_s: FAULT_S, rate: RATE, faults: [fault.fault] },
            { name: 'after', duration_s: 2, rate: RATE, faults: [] },
          ],
          { load: semantics.load, aggregator: semantics.aggregator, drain_timeout_s: 30 },
        );
        // For the kill, the broker keeps its queue in Redis: the kill tests the delivery contract, not the broker's memory.
        if (fault.fault.kind === 'broker-kill') scenario.broker = { persistence: 'redis' };
        const label = `${fault.name}-${semantics.aggregator.dedup}-qos${semantics.load.qos}`.replace(/ /g, '-');
        const result = await theoryRun(context, label, scenario);
        const t = result.totals;
        rows.push({
          semantics: semantics.name,
          fault: fault.name,
          published: t.published,
          lost: t.lost + t.lost_unacked + t.never_sent,
          duplicate_rows: t.sink_duplicates,
          absorbed: result.aggregator.self_reported.duplicates_absorbed + t.absorbed_by_sink,
          exactly_once: t.lost + t.lost_unacked + t.never_sent === 0 && t.sink_duplicates === 0 ? 'yes' : 'no',
          // Not a column: the run's own account of a loss, for the findings.
          why: result.findings.find((f) => /drain/.test(f)) ?? null,
        });
      }
    }
    return {
      id: 2,
      slug: 'delivery-semantics',
      title: this.title,
      intro:
        'MQTT offers QoS 0 (the broker gets each message at most once: nothing is acknowledged or resent) and QoS 1 (each message is resent until acknowledged: at least once). ' +
        'Neither is "exactly once" end to end. A consumer gets the effect of exactly once from QoS 1 by acknowledging only after it has committed, ' +
        'and by making the commit idempotent (a dedup store keyed by the producer\'s event id, and a sink that ignores a row it already has). ' +
        'Each row is one run: the same stream with a crash in the middle, sent one of three ways. "Lost" counts events that never reached the sink; ' +
        '"duplicate rows" counts extra rows of an event in the sink; "absorbed" counts redeliveries that dedup or the sink\'s key stopped.',
      method:
        `Embedded Aedes broker (for the broker kill with its sessions and queue in Redis, so that the kill tests the delivery contract rather than the broker's memory), ` +
        `the reference aggregator, ${RATE} events/s from 4 publishers: 2 s before, a ${FAULT_S} s phase with the fault, then 2 s after. ` +
        `The consumer is SIGKILLed ${CONSUMER_KILLS.at_s} s into the phase and every ${CONSUMER_KILLS.every_s} s after that (${Math.floor((FAULT_S - CONSUMER_KILLS.at_s) / CONSUMER_KILLS.every_s) + 1} kills), ` +
        `each time restarted ${CONSUMER_KILLS.downtime_ms / 1000} s later; the broker is SIGKILLed once, ${BROKER_KILL.at_s} s in, and restarted ${BROKER_KILL.downtime_ms / 1000} s later. QoS 0 means QoS 0 on both legs: producer to broker, and the aggregator's subscription. ` +
        'The no-dedup variant writes to an appending sink so that every redelivery shows; the effectively-once variant uses the default SQLite dedup inside the sink\'s transaction. ' +
        'Loss includes events the producer could not hand to the broker while it was down (QoS 0 publishes fail while disconnected; QoS 1 publishes wait and are resent).',
      command: 'npm run theory -- --only 2',
      seed: context.seed,
      columns: [
        { key: 'semantics', label: 'delivery', format: 'text' },
        { key: 'fault', label: 'fault', format: 'text' },
        { key: 'published', label: 'events', format: 'int' },
        { key: 'lost', label: 'lost', format: 'int' },
        { key: 'duplicate_rows', label: 'duplicate rows', format: 'int' },
        { key: 'absorbed', label: 'absorbed', format: 'int' },
        { key: 'exactly_once', label: 'every event exactly once?', format: 'text' },
      ],
      rows,
      findings: deliveryFindings(rows),
      duration_ms: Date.now() - started,
    };
  },
};

export function deliveryFindings(rows: readonly Record<string, TheoryCell>[]): string[] {
  const n = (v: TheoryCell | undefined) => (typeof v === 'number' ? v : 0);
  const findings = SEMANTICS.map((semantics) => {
    const mine = rows.filter((r) => r.semantics === semantics.name);
    const lost = mine.reduce((s, r) => s + n(r.lost), 0);
    const dup = mine.reduce((s, r) => s + n(r.duplicate_rows), 0);
    const events = mine.reduce((s, r) => s + n(r.published), 0);
    return `${semantics.name}: over both faults, ${lost.toLocaleString('en-US')} of ${events.toLocaleString('en-US')} events lost and ${dup.toLocaleString('en-US')} duplicate rows.`;
  });
  const lucky = rows.filter((r) => r.semantics === SEMANTICS[1].name && n(r.duplicate_rows) === 0).map((r) => String(r.fault));
  if (lucky.length > 0) {
    findings.push(
      `Without dedup, the ${lucky.join(' and the ')} run${lucky.length > 1 ? 's' : ''} happened to leave no duplicate row: a duplicate needs a kill to land after a commit and before its ` +
        'acknowledgement reaches the broker, and these kills missed that window. At-least-once delivery allows duplicates rather than promising them; only the dedup variant rules them out.',
    );
  }
  const lossyOnce = rows.filter((r) => r.semantics === SEMANTICS[2].name && n(r.lost) > 0);
  for (const row of lossyOnce) {
    const events = `${n(row.lost)} event${n(row.lost) === 1 ? '' : 's'}`;
    findings.push(
      row.fault === 'broker kill'
        ? `Even the effectively-once pipeline lost ${events} under the broker kill: acknowledged to the producer, never delivered. Two Aedes behaviours fit, both seen in the broker tests: ` +
            'it sends the PUBACK before its Redis persistence has stored the message for an offline subscriber, so a kill in that gap loses it; and a restarted broker numbers packets afresh, so a new packet can take the id of a stored un-acked one and the ack for one deletes the other (the embedded broker guards against that only within one process). ' +
            'The consumer cannot fix a broker that acknowledges before it is durable.'
        : `Even the effectively-once pipeline lost ${events} under the ${String(row.fault)}: acknowledged by the broker, never committed by the end of the run.` +
            (typeof row.why === 'string' ? ` The run's own account: ${row.why}` : ''),
    );
  }
  return findings;
}
