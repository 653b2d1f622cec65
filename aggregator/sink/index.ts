// Sink: where committed events end up. commit() must be idempotent on event_id (ON CONFLICT: a
// repeated id only counts one more delivery on the row it first wrote) so that a redelivery after a
// crash between commit and PUBACK cannot create a duplicate, except in 'append' mode, which exists
// only to show what duplicates do to a naive sink.
// The consumer acks (PUBACK) only after commit() has returned.

import type { Event } from '../event/types.ts';
import type { ClaimResult } from '../dedup/claim.ts';

export interface SinkRow {
  event_id: string;
  source: string;
  seq: number;
  /**
   * When the COMMIT that first wrote this event returned in the aggregator, µs since the epoch on
   * the aggregator's host clock (aggregator/clock.ts). Each batch's rows carry its key (the time its
   * transaction started, `batch_started_us`), and the time its COMMIT returned is written to the
   * `commits` table by the sink's next transaction or at close; the readers join the two. Where that
   * record was never written (the aggregator died between the COMMIT and the record), this is the
   * start of the transaction instead: a lower bound, flagged by commit_unrecorded.
   */
  committed_us: number;
  /** 1 when committed_us is the start of the transaction because its COMMIT's return was never recorded; 0 or absent otherwise. */
  commit_unrecorded?: 0 | 1;
  /** Intended send time from the bench stamp (µs), or null for events without one. */
  intended_us: number | null;
  /** How many deliveries of this event_id reached the sink (1 unless duplicates got through). */
  deliveries: number;
}

/** A dead letter keeps at most this many bytes of its message; a longer one is named by its size and SHA-256 in the reason. */
export const DLQ_RAW_PREFIX_BYTES = 4096;
/** The dead-letter queue's default byte budget (setting dlq_max_bytes): past it the aggregator stalls. */
export const DEFAULT_DLQ_MAX_BYTES = 64 * 1024 * 1024;

export interface DeadLetter {
  /** The raw message as received (UTF-8, lossy for binary), at most its first DLQ_RAW_PREFIX_BYTES bytes. */
  raw: string;
  topic: string;
  reason: string;
  /** event_id if the message parsed far enough to have one. */
  event_id: string | null;
  at_us: number;
}

export interface CommitOutcome {
  /** Events written for the first time. */
  inserted: number;
  /** Events already present (absorbed by the sink's idempotency). */
  already_present: number;
}

export type SinkMode = 'idempotent' | 'append';

/**
 * A dedup claim that runs *inside* the sink's write transaction, so that claim and commit happen
 * together or not at all. Returned by DedupStore.claimerFor(sink) when the store shares the sink's
 * database. Only events whose claim is 'new' are written.
 */
export type TransactionalClaim = (
  eventIds: readonly string[],
  ttlMs: number,
  /** The sink's open transaction, for a claim that runs its statements on it (PostgresSink). */
  transaction?: SinkTransaction,
) => ClaimResult[] | Promise<ClaimResult[]>;

/**
 * A database transaction a sink has open and lends to a transactional claim. The SQLite sink lends
 * none: its claim is synchronous and uses the shared handle, and the SQLite sink refuses an async
 * claim (it cannot await inside its transaction). PostgresSink lends its connection and awaits.
 */
export interface SinkTransaction {
  query<Row extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: Row[]; rowCount: number | null }>;
}

export type SinkKind = 'sqlite' | 'postgres';

export interface Sink {
  readonly kind: SinkKind;
  readonly mode: SinkMode;
  /**
   * Write events durably. With `claim`, the claim runs in the same transaction and only 'new' events
   * are written; `claims` then holds its result per event, in order.
   */
  commit(
    events: readonly Event[],
    claim?: { run: TransactionalClaim; ttlMs: number },
  ): Promise<CommitOutcome & { claims?: ClaimResult[] }>;
  deadLetter(entries: readonly DeadLetter[]): Promise<void>;
  close(): Promise<void>;
}

/** Thrown for failures worth retrying (busy database, lost connection). Anything else is permanent. */
export class TransientError extends Error {
  override name = 'TransientError';
}
