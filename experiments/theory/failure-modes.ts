// Table 5: failure modes. One short run per class of failure, each with its fault injected in the
// middle of a steady stream: what the reference aggregator does about it, and what the ledger
// measured.

import type { FaultSpec, Phase } from '../../scenarios/schema.ts';
import type { RunResult } from '../../engine/result.ts';
import { WARMUP_PHASE } from '../../engine/run.ts';
import { theoryRun, theoryScenario } from './runs.ts';
import type { TheoryCell, TheoryContext, TheoryExperiment, TheoryTable } from './types.ts';

const RATE = 1_000;
const KILL = { at_s: 2, every_s: 0, downtime_ms: 1_500 } as const;

export interface FailureClass {
  name: string;
  mitigation: string;
  fault: FaultSpec;
  /** Length of the phase the fault acts in (a partition lasts as long as its phase). */
  fault_s: number;
  persistence?: 'memory' | 'redis';
}

export const FAILURE_CLASSES: readonly FailureClass[] = [
  {
    name: 'delivery duplicate (30% of events sent again)',
    mitigation: 'dedup by event_id, idempotent sink (key on event_id)',
    fault: { kind: 'duplicate', fraction: 0.3, immediate_share: 0.5, delay_ms: 500, other_connection_share: 0.5 },
    fault_s: 6,
  },
  {
    name: 'transient sink error (20% of commits fail)',
    mitigation: 'retry with exponential backoff and full jitter; ack only after the commit',
    fault: { kind: 'slow-sink', delay_ms: 0, jitter_ms: 0, stall_every_s: 0, stall_ms: 0, error_rate: 0.2 },
    fault_s: 6,
  },
  {
    name: 'permanent bad event (2% poison: not JSON, oversized, bad schema)',
    mitigation: 'validate every field; dead-letter queue with the reason; ack',
    fault: { kind: 'poison', fraction: 0.02, shapes: ['not-json', 'oversized', 'schema'] },
    fault_s: 6,
  },
  {
    name: 'broker crash, queue in memory',
    mitigation: 'persistent session, producers resend un-acked publishes; nothing for what the broker held',
    fault: { kind: 'broker-kill', ...KILL },
    fault_s: 6,
    persistence: 'memory',
  },
  {
    name: 'broker crash, queue in Redis',
    mitigation: 'as above, and the broker keeps sessions and queued messages in Redis',
    fault: { kind: 'broker-kill', ...KILL },
    fault_s: 6,
    persistence: 'redis',
  },
  {
    name: 'consumer crash (SIGKILL mid-batch)',
    mitigation: 'ack after commit, persistent session (the broker redelivers), idempotent commit',
    fault: { kind: 'consumer-crash', ...KILL },
    fault_s: 6,
  },
  {
    name: 'network partition (aggregator cut off 3 s)',
    mitigation: 'keepalive and reconnect with backoff; the broker queues for the session meanwhile',
    fault: { kind: 'partition', target: 'aggregator', direction: 'both', toxicity: 1, close_after_ms: 0 },
    fault_s: 3,
  },
];

/** What the fault did, from its own counts: "copies 1,812 · delayed 903". */
export function describeInjected(result: RunResult): string {
  const parts: string[] = [];
  for (const record of result.faults) {
    for (const [key, value] of Object.entries(record.injected)) {
      if (value > 0) parts.push(`${key.replace(/_/g, ' ')} ${value.toLocaleString('en-US')}`);
    }
  }
  return parts.length > 0 ? parts.join(' · ') : '—';
}

export const failureModes: TheoryExperiment = {
  id: 5,
  slug: 'failure-modes',
  title: 'Failure modes and their mitigations',
  async run(context: TheoryContext): Promise<TheoryTable> {
    const started = Date.now();
    const rows: TheoryTable['rows'] = [];
    for (const [i, failure] of FAILURE_CLASSES.entries()) {
      const phases: Phase[] = [
        { name: WARMUP_PHASE, duration_s: 1, rate: 500, faults: [] },
        { name: 'before', duration_s: 3, rate: RATE, faults: [] },
        { name: 'fault', duration_s: failure.fault_s, rate: RATE, faults: [failure.fault] },
        { name: 'after', duration_s: 5, rate: RATE, faults: [] },
      ];
      const scenario = theoryScenario('theory-failure-modes', context.seed, phases, { drain_timeout_s: 30 });
      if (failure.persistence) scenario.broker = { persistence: failure.persistence };
      const result = await theoryRun(context, `${i + 1}-${failure.fault.kind}${failure.persistence ? `-${failure.persistence}` : ''}`, scenario);
      const t = result.totals;
      const faultPhase = result.phases.find((p) => p.name === 'fault');
      rows.push({
        failure: failure.name,
        mitigation: failure.mitigation,
        injected: failure.fault.kind === 'slow-sink' ? `${result.aggregator.self_reported.retries.toLocaleString('en-US')} failed commits (each retried)` : describeInjected(result),
        why: result.findings.find((f) => /lost|never committed/.test(f)) ?? null,
        events: t.published,
        lost: t.lost + t.lost_unacked + t.never_sent,
        duplicate_rows: t.sink_duplicates,
        dlq: t.dlq,
        retries: result.aggregator.self_reported.retries,
        p99: faultPhase?.latency.p99_ms ?? null,
        recovery: faultPhase?.recovery ? result.recovery_s : null,
      });
    }
    return {
      id: 5,
      slug: 'failure-modes',
      title: this.title,
      intro:
        'Every class of failure a log pipeline meets, each injected into a steady stream, next to the mechanism that is meant to contain it. ' +
        '"Lost" counts events that never reached the sink (or the dead-letter queue, for events that were bad on purpose); "duplicate rows" counts extra rows of an event in the sink; ' +
        '"DLQ" counts messages parked in the dead-letter queue with their reason; "retries" counts commits the aggregator had to try again; p99 is the end-to-end latency ' +
        'of the events sent while the fault was active; "recovery" is how long after the fault p99 and the backlog were back to the level before it.',
      method:
        `One run per row: embedded Aedes broker, the reference aggregator with SQLite dedup and sink, ${RATE} events/s from 4 publishers; ` +
        '3 s before the fault, the fault phase, 5 s after. Broker and consumer crashes are SIGKILLs 2 s into the phase with 1.5 s of downtime. ' +
        'The injected column is the fault\'s own count of what it did.',
      command: 'npm run theory -- --only 5',
      seed: context.seed,
      columns: [
        { key: 'failure', label: 'failure', format: 'text' },
        { key: 'mitigation', label: 'mitigation', format: 'text' },
        { key: 'injected', label: 'injected', format: 'text' },
        { key: 'events', label: 'events', format: 'int' },
        { key: 'lost', label: 'lost', format: 'int' },
        { key: 'duplicate_rows', label: 'duplicate rows', format: 'int' },
        { key: 'dlq', label: 'DLQ', format: 'int' },
        { key: 'retries', label: 'retries', format: 'int' },
        { key: 'p99', label: 'p99 during ms', format: 'ms' },
        { key: 'recovery', label: 'recovery s', format: 'float' },
      ],
      rows,
      findings: failureFindings(rows),
      duration_ms: Date.now() - started,
    };
  },
};

export function failureFindings(rows: readonly Record<string, TheoryCell>[]): string[] {
  const n = (v: TheoryCell | undefined) => (typeof v === 'number' ? v : 0);
  const clean = rows.filter((r) => n(r.lost) === 0 && n(r.duplicate_rows) === 0);
  const lossy = rows.filter((r) => n(r.lost) > 0);
  const findings = [`${clean.length} of ${rows.length} failure classes ended with nothing lost and nothing doubled.`];
  for (const row of lossy) {
    findings.push(
      `${String(row.failure)}: ${n(row.lost).toLocaleString('en-US')} of ${n(row.events).toLocaleString('en-US')} events lost, so the mitigation does not cover this failure.` +
        (typeof row.why === 'string' ? ` The run's own explanation: ${row.why}` : ''),
    );
  }
  const slowest = rows.reduce((a, b) => (n(b.p99) > n(a.p99) ? b : a));
  findings.push(`The costliest failure in latency was "${String(slowest.failure)}": p99 ${n(slowest.p99).toFixed(0)} ms while it lasted. Containment is not free: the mitigations trade latency for correctness.`);
  return findings;
}
