// The ledger: per-event accounting of a run, Jepsen style, from the harness's own publish records
// against a final read of the sink. It never trusts the system under test: loss and sink
// duplicates come from these two sources only. Pure data in, data out; no I/O.

import type { SinkRow } from '../../aggregator/sink/index.ts';
import type { PublishedEvent } from '../load/log.ts';
import { LatencyRecorder } from '../metrics/histogram.ts';

export interface LedgerTotals {
  /** Original events the harness published (each once, copies not counted). */
  published: number;
  /** Originals whose publish the broker acknowledged. */
  acked_by_broker: number;
  /** Copies with the same event_id injected by a fault, and how many of them the broker acked. */
  copies_published: number;
  copies_acked: number;
  /** Published events found in the sink (each counted once). */
  unique_committed: number;
  /** Acked by the broker but never committed: the pipeline lost them. */
  lost: number;
  /** Never acked by the broker and never committed: lost before the pipeline had them. */
  lost_unacked: number;
  /** Extra rows of an event in the sink (append sinks only; an idempotent sink cannot hold them). */
  sink_duplicates: number;
  /** Deliveries of already-committed events that reached the sink and were absorbed by its key. */
  absorbed_by_sink: number;
  /** Rows in the sink whose event_id was never published by this run. */
  unexpected: number;
  /** Events committed after a later event of the same source (per-source seq order broken). */
  reordered: number;
  /** Largest seq displacement among reordered events. */
  max_reorder_displacement: number;
  /** Dead letters in the DLQ (all, including poison the harness sent on purpose). */
  dlq: number;
  /** Published events that are not in the sink but in the DLQ: accounted for, not lost. */
  dead_lettered: number;
  publish_errors: number;
}

export interface LedgerPhase {
  name: string;
  published: number;
  unique_committed: number;
  lost: number;
  latency: LatencyRecorder;
}

export interface Ledger {
  totals: LedgerTotals;
  /** End-to-end latency: first commit − intended send time, for events of phases not excluded. */
  latency: LatencyRecorder;
  /** Publish → PUBACK latency, from the actual send time. */
  publish_ack: LatencyRecorder;
  phases: LedgerPhase[];
  /** Last first-commit time of any event (µs), 0 if none. */
  last_commit_us: number;
}

export interface LedgerInput {
  published: readonly PublishedEvent[];
  /** Sink rows in commit order (insertion order). */
  sink: Iterable<SinkRow>;
  /** event_id of every dead letter (null where the message was too broken to have one). */
  dead_letters: readonly (string | null)[];
  phase_names: readonly string[];
  /** Phase indexes left out of the overall latency (warm-up). */
  excluded_phases?: ReadonlySet<number>;
}

export function buildLedger(input: LedgerInput): Ledger {
  const byId = new Map<string, number>();
  input.published.forEach((event, index) => byId.set(event.event_id, index));

  const rowsSeen = new Uint32Array(input.published.length);
  const firstCommit = new Float64Array(input.published.length).fill(-1);
  let unexpected = 0;
  let sinkDuplicates = 0;
  let absorbedBySink = 0;
  let reordered = 0;
  let maxDisplacement = 0;
  let lastCommit = 0;
  const highestSeq = new Map<string, number>();

  for (const row of input.sink) {
    const index = byId.get(row.event_id);
    if (index === undefined) {
      unexpected++;
      continue;
    }
    absorbedBySink += Math.max(0, row.deliveries - 1);
    if (rowsSeen[index]! > 0) {
      sinkDuplicates++;
      rowsSeen[index]!++;
      continue;
    }
    rowsSeen[index] = 1;
    firstCommit[index] = row.committed_us;
    if (row.committed_us > lastCommit) lastCommit = row.committed_us;
    const highest = highestSeq.get(row.source);
    if (highest !== undefined && row.seq < highest) {
      reordered++;
      maxDisplacement = Math.max(maxDisplacement, highest - row.seq);
    } else highestSeq.set(row.source, row.seq);
  }

  const latency = new LatencyRecorder();
  const publishAck = new LatencyRecorder();
  const phases: LedgerPhase[] = input.phase_names.map((name) => ({
    name,
    published: 0,
    unique_committed: 0,
    lost: 0,
    latency: new LatencyRecorder(),
  }));
  const totals: LedgerTotals = {
    published: input.published.length,
    acked_by_broker: 0,
    copies_published: 0,
    copies_acked: 0,
    unique_committed: 0,
    lost: 0,
    lost_unacked: 0,
    sink_duplicates: sinkDuplicates,
    absorbed_by_sink: absorbedBySink,
    unexpected,
    reordered,
    max_reorder_displacement: maxDisplacement,
    dlq: input.dead_letters.length,
    dead_lettered: 0,
    publish_errors: 0,
  };

  const deadLettered = new Set<number>();
  for (const id of input.dead_letters) {
    const index = id === null ? undefined : byId.get(id);
    if (index !== undefined) deadLettered.add(index);
  }

  input.published.forEach((event, index) => {
    const phase = phases[event.phase];
    const acked = event.acked_us >= 0;
    totals.copies_published += event.copies_sent;
    totals.copies_acked += event.copies_acked;
    totals.publish_errors += event.publish_errors;
    if (acked) {
      totals.acked_by_broker++;
      publishAck.record(event.acked_us - event.sent_us);
    }
    if (phase) phase.published++;
    const committed = firstCommit[index]!;
    if (committed >= 0) {
      totals.unique_committed++;
      const micros = committed - event.intended_us;
      if (phase) {
        phase.unique_committed++;
        phase.latency.record(micros);
      }
      if (!input.excluded_phases?.has(event.phase)) latency.record(micros);
    } else if (deadLettered.has(index)) {
      totals.dead_lettered++;
    } else if (acked) {
      totals.lost++;
      if (phase) phase.lost++;
    } else totals.lost_unacked++;
  });

  return { totals, latency, publish_ack: publishAck, phases, last_commit_us: lastCommit };
}
