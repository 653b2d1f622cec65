// The ledger: per-event accounting of a run, Jepsen style, from the harness's own publish records
// against a final read of the sink. It never trusts the system under test: loss and sink
// duplicates come from these two sources only. The DLQ only says where a lost event went: a valid
// event that is not in the sink is lost, whatever the DLQ holds. Pure data in, data out; no I/O.
// Memory is one byte per published event (a per-source state byte beside the publish log's
// arrays; latency is recorded as the sink streams by), so an hour-long run is accounted for
// without an object per event.

import { createHash } from 'node:crypto';
import type { SinkRow } from '../../aggregator/sink/index.ts';
import { ACKED, COPIES_ACKED_SHIFT, SENT, type PublishLog } from '../load/log.ts';
import { LatencyRecorder } from '../metrics/histogram.ts';

export interface LedgerTotals {
  /** Original events the harness published (each once, copies not counted). */
  published: number;
  /** Originals whose publish the broker acknowledged. */
  acked_by_broker: number;
  /** Copies with the same event_id injected by a fault, and how many of them the broker acked. */
  copies_published: number;
  copies_acked: number;
  /**
   * Acked copies of events that are in the sink exactly once: absorbed by dedup or by the sink's
   * key, measured from the harness's copy records and the sink's rows (not the aggregator's word).
   */
  copies_absorbed: number;
  /** Published events found in the sink (each counted once). */
  unique_committed: number;
  /**
   * Valid events the pipeline had (the broker acked them, or they reached the DLQ) that are not in
   * the sink: lost for the user, wherever the aggregator put them.
   */
  lost: number;
  /** Of `lost`: valid events this run published that sit only in the DLQ. */
  dead_lettered: number;
  /** Handed to the MQTT client but never acked by the broker, and never committed. */
  lost_unacked: number;
  /** Never handed to the MQTT client (queued behind a full window when the run stopped), never committed. */
  never_sent: number;
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
  /**
   * Distinct messages in the DLQ (all, including poison the harness sent on purpose): a message the
   * broker redelivered and the aggregator dead-lettered again counts once.
   */
  dlq: number;
}

export interface LedgerPhase {
  name: string;
  published: number;
  unique_committed: number;
  /** As the totals' `lost`: dead-lettered valid events included. */
  lost: number;
  /** Extra sink rows of this phase's events (append mode). */
  sink_duplicates: number;
  latency: LatencyRecorder;
}

/** One second of first commits, by commit time: how many, and how slow (for the timeline and recovery). */
export interface LedgerSecond {
  /** Seconds since `per_second_origin_us` (the start of the schedule). */
  t_s: number;
  committed: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface Ledger {
  totals: LedgerTotals;
  /** End-to-end latency: first commit − intended send time, for events of phases not excluded. */
  latency: LatencyRecorder;
  phases: LedgerPhase[];
  /** Last first-commit time of any event (µs), 0 if none. */
  last_commit_us: number;
  /**
   * Published events whose first commit's return time was never recorded (SinkRow.commit_unrecorded):
   * their latency ends at the start of that transaction, a lower bound.
   */
  commit_time_unrecorded: number;
  /** Per second of commit time, from the sink read in commit order; empty without per_second_origin_us. */
  per_second: LedgerSecond[];
}

/** What a dead letter says about which event it was (null where the message was too broken to say). */
export interface DeadLetterKey {
  event_id: string | null;
  source: string | null;
  seq: number | null;
  /** The message's identity (its topic and bytes): the same message dead-lettered twice has one. */
  message: string;
}

export interface LedgerInput {
  log: PublishLog;
  /** Phase windows; an event belongs to the phase its intended time falls in. */
  phases: readonly { name: string; start_us: number; end_us: number }[];
  /** Sink rows in commit order (insertion order); read once, as a stream. */
  sink: Iterable<SinkRow>;
  dead_letters: readonly DeadLetterKey[];
  /** Phase indexes left out of the overall latency (warm-up). */
  excluded_phases?: ReadonlySet<number>;
  /** Bucket first commits by second from this time (µs): the timeline's p99 per second. */
  per_second_origin_us?: number;
  /**
   * False when the sink's rows carry no commit time (a target's query without one): no latency and
   * no per-second commits are recorded, so latency reads as not measured. Default true.
   */
  measures_latency?: boolean;
  /** The event_id the harness gave event (source, seq); a row with another id is unexpected. */
  expected_id?: (source: string, seq: number, intended_us: number) => string;
}

const COMMITTED = 1;
const DEAD_LETTERED = 2;
/** A second row of the event reached the sink (append mode): its copies were not absorbed. */
const DUPLICATED = 4;

export function buildLedger(input: LedgerInput): Ledger {
  const ledger = ledgerBuilder(input);
  for (const row of input.sink) ledger.add(row);
  return ledger.finish();
}

/**
 * buildLedger for a sink read asynchronously (a database server), row by row as it arrives, so that
 * memory stays as flat as with the SQLite file's stream. A synchronous iterable is read without an
 * await per row.
 */
export async function buildLedgerAsync(input: Omit<LedgerInput, 'sink'> & { sink: Iterable<SinkRow> | AsyncIterable<SinkRow> }): Promise<Ledger> {
  const ledger = ledgerBuilder(input);
  const { sink } = input;
  if (Symbol.asyncIterator in sink) {
    for await (const row of sink) ledger.add(row);
  } else {
    for (const row of sink) ledger.add(row);
  }
  return ledger.finish();
}

/** The ledger's state: add() each sink row in commit order, then finish() once. */
function ledgerBuilder(input: Omit<LedgerInput, 'sink'>): { add: (row: SinkRow) => void; finish: () => Ledger } {
  const { log } = input;
  const state = new Map<string, Uint8Array>();
  for (const [source, record] of log.sources) state.set(source, new Uint8Array(record.count));
  const latency = new LatencyRecorder();
  const phases: LedgerPhase[] = input.phases.map((phase) => ({
    name: phase.name,
    published: 0,
    unique_committed: 0,
    lost: 0,
    sink_duplicates: 0,
    latency: new LatencyRecorder(),
  }));
  // The sink is read in commit order, so one recorder per second at a time is enough: memory stays
  // flat however long the run.
  const perSecond: LedgerSecond[] = [];
  const origin = input.per_second_origin_us;
  const second = new LatencyRecorder();
  let currentSecond = -1;
  let currentCount = 0;
  const closeSecond = () => {
    if (currentSecond < 0 || currentCount === 0) return;
    const summary = second.summary();
    perSecond.push({ t_s: currentSecond, committed: currentCount, p50_ms: summary.p50_ms, p99_ms: summary.p99_ms, max_ms: summary.max_ms });
    second.reset();
    currentCount = 0;
  };
  const phaseOf = (intended: number): number => {
    for (let i = input.phases.length - 1; i > 0; i--) if (intended >= input.phases[i]!.start_us) return i;
    return 0;
  };

  /** The log's record of (source, seq) if the harness published it under this event_id. */
  const known = (eventId: string | null, source: string | null, seq: number | null): boolean => {
    if (source === null || seq === null || !Number.isInteger(seq) || seq < 0) return false;
    const record = log.sources.get(source);
    if (!record || seq >= record.count || record.flags[seq] === 0) return false;
    // A dead letter too broken to name its event_id still names its (source, seq) when it parses.
    return !input.expected_id || eventId === null || eventId === input.expected_id(source, seq, record.intended_us[seq]!);
  };

  let unexpected = 0;
  let sinkDuplicates = 0;
  let absorbedBySink = 0;
  let reordered = 0;
  let maxDisplacement = 0;
  let lastCommit = 0;
  let commitTimeUnrecorded = 0;
  const highestSeq = new Map<string, number>();

  const add = (row: SinkRow): void => {
    if (!known(row.event_id, row.source, row.seq)) {
      unexpected++;
      return;
    }
    absorbedBySink += Math.max(0, row.deliveries - 1);
    const flags = state.get(row.source)!;
    if (flags[row.seq]! & COMMITTED) {
      flags[row.seq]! |= DUPLICATED;
      sinkDuplicates++;
      const duplicatePhase = phases[phaseOf(log.sources.get(row.source)!.intended_us[row.seq]!)];
      if (duplicatePhase) duplicatePhase.sink_duplicates++;
      return;
    }
    flags[row.seq]! |= COMMITTED;
    const phaseIndex = phaseOf(log.sources.get(row.source)!.intended_us[row.seq]!);
    if (phases[phaseIndex]) phases[phaseIndex].unique_committed++;
    const highest = highestSeq.get(row.source);
    if (highest !== undefined && row.seq < highest) {
      reordered++;
      maxDisplacement = Math.max(maxDisplacement, highest - row.seq);
    } else highestSeq.set(row.source, row.seq);
    if (input.measures_latency === false) return;
    if (row.commit_unrecorded === 1) commitTimeUnrecorded++;
    // Latency is recorded at the first commit, so no per-event commit time has to be kept.
    const intended = log.sources.get(row.source)!.intended_us[row.seq]!;
    const micros = row.committed_us - intended;
    phases[phaseIndex]?.latency.record(micros);
    if (!input.excluded_phases?.has(phaseIndex)) latency.record(micros);
    if (origin !== undefined) {
      const t = Math.max(0, Math.floor((row.committed_us - origin) / 1e6));
      if (t > currentSecond) {
        closeSecond();
        currentSecond = t;
      }
      second.record(micros);
      currentCount++;
    }
    if (row.committed_us > lastCommit) lastCommit = row.committed_us;
  };

  const finish = (): Ledger => {
    closeSecond();

    for (const letter of input.dead_letters) {
      if (known(letter.event_id, letter.source, letter.seq)) state.get(letter.source!)![letter.seq!]! |= DEAD_LETTERED;
    }

    const totals: LedgerTotals = {
      published: 0,
      acked_by_broker: 0,
      copies_published: log.counters.copies_sent,
      copies_acked: log.counters.copies_acked,
      copies_absorbed: 0,
      unique_committed: 0,
      lost: 0,
      dead_lettered: 0,
      lost_unacked: 0,
      never_sent: 0,
      sink_duplicates: sinkDuplicates,
      absorbed_by_sink: absorbedBySink,
      unexpected,
      reordered,
      max_reorder_displacement: maxDisplacement,
      dlq: new Set(input.dead_letters.map((letter) => letter.message)).size,
    };
    for (const [source, record] of log.sources) {
      const flags = state.get(source)!;
      for (let seq = 0; seq < record.count; seq++) {
        const published = record.flags[seq]!;
        if (published === 0) continue; // a gap: never handed to a connection
        const intended = record.intended_us[seq]!;
        const phaseIndex = phaseOf(intended);
        const phase = phases[phaseIndex];
        const acked = (published & ACKED) !== 0;
        totals.published++;
        if (acked) totals.acked_by_broker++;
        if (phase) phase.published++;
        const fate = flags[seq]!;
        if (fate & COMMITTED) {
          totals.unique_committed++;
          if (!(fate & DUPLICATED)) totals.copies_absorbed += published >> COPIES_ACKED_SHIFT;
        } else if (fate & DEAD_LETTERED || acked) {
          // A valid event in the DLQ reached the pipeline, which did not store it: lost all the same.
          totals.lost++;
          if (fate & DEAD_LETTERED) totals.dead_lettered++;
          if (phase) phase.lost++;
        } else if (published & SENT) totals.lost_unacked++;
        else totals.never_sent++;
      }
    }

    return { totals, latency, phases, last_commit_us: lastCommit, commit_time_unrecorded: commitTimeUnrecorded, per_second: perSecond };
  };

  return { add, finish };
}

/** Which event a dead letter was, from its raw text where it parses far enough, and which message (pure). */
/** The leading scalar fields of a JSON object cut short (wire order: v, event_id, source, seq, …): source and seq when both come, whole, before anything nested. */
export function leadingIdentity(raw: string): { source: string | null; seq: number | null } {
  const lead = /^\s*\{((?:\s*"[A-Za-z_]+"\s*:\s*(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)\s*,)*)/.exec(raw)?.[1] ?? '';
  const source = /"source"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(lead)?.[1];
  const seq = /"seq"\s*:\s*(\d+)\s*,/.exec(lead)?.[1];
  let name: string | null = null;
  try {
    name = source === undefined ? null : (JSON.parse(source) as string);
  } catch {
    name = null;
  }
  // Both or neither: a seq at the very end of the cut may have lost digits (no comma after it).
  return name === null || seq === undefined ? { source: null, seq: null } : { source: name, seq: Number(seq) };
}

export function deadLetterKey(letter: { event_id: string | null; raw: string; topic: string }): DeadLetterKey {
  let source: string | null = null;
  let seq: number | null = null;
  try {
    const parsed = JSON.parse(letter.raw) as { source?: unknown; seq?: unknown };
    if (typeof parsed.source === 'string') source = parsed.source;
    if (typeof parsed.seq === 'number') seq = parsed.seq;
  } catch {
    // Not JSON: a poison message with no identity (it still counts in the DLQ total), or a long one
    // the aggregator kept only the first bytes of (aggregator/pipeline.ts deadLetter): its leading
    // scalar fields still name it, as the whole text did.
    ({ source, seq } = leadingIdentity(letter.raw));
  }
  // A hash, not the text: a dead letter can be a megabyte, and only its identity is needed.
  const message = createHash('sha256').update(letter.topic).update('\0').update(letter.raw).digest('base64');
  return { event_id: letter.event_id, source, seq, message };
}
