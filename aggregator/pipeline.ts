// The aggregator's per-message path: parse/validate → dedup + sink commit → PUBACK, in batches.
//
// What it must never do:
// - ack a message before the event (or its dead letter) is durably written: a crash before the
//   ack means redelivery, never loss;
// - let a dedup claim outlive a sink write that did not happen: a durable claim recorded before a
//   failed or interrupted commit turns the redelivery into a "duplicate" and drops it (silent loss);
// - dead-letter (and so ack) a valid event for a fault that is not the event's own: a full disk, a
//   read-only database or a missing grant fails every event alike, and is a stall, retried until it
//   clears (aggregator/failure.ts decides which is which).
//
// So the order of claim and commit depends on the store (see commitWithRetry):
// - 'transactional': the store shares the sink's database; claim and write in one transaction.
// - 'claim-first': the store is volatile (memory, none); a crash forgets the claims along with
//   the process, and a failed commit releases exactly the claims it made.
// - 'commit-first': a durable store outside the sink's transaction; write everything to the
//   idempotent sink, claim afterwards (the claim then only counts what the sink absorbed).
//
// Why ~460 lines: the counters the aggregator reports (their type, combineCounters for several
// incarnations, ~90 lines) and the Pipeline class. The class is kept whole on purpose: batching,
// the three claim orders, retries, dead letters and the ack chain are the invariants above, and
// they are checked by reading processBatch and commitWithRetry together.

import { describeErrors, parseEvent } from './event/parse.ts';
import type { Event, ParseOptions } from './event/types.ts';
import type { ClaimResult, DedupStore } from './dedup/index.ts';
import { createHash } from 'node:crypto';
import { DLQ_RAW_PREFIX_BYTES, TransientError, type CommitOutcome, type DeadLetter, type Sink } from './sink/index.ts';
import { nowMicros } from './clock.ts';
import { RetriesExhaustedError, withRetry, type RetryPolicy } from './retry.ts';
import { classifyFailure, isEventFault } from './failure.ts';
import type { Random } from './random.ts';
import type { Mutation } from './config.ts';

export type ClaimOrder = 'transactional' | 'claim-first' | 'commit-first';

/** Counters the aggregator reports about itself. The harness labels them as self-reported. */
export interface AggregatorCounters {
  received: number;
  /** Packets the broker flagged DUP (its own redeliveries). Aedes 1.x never sets the flag; Mosquitto does. */
  broker_redeliveries: number;
  /** Deliveries of an event_id that was already committed (seen again), whatever stopped it. */
  redelivered: number;
  /** Of those, stopped by the dedup store (before the sink). */
  duplicates_absorbed: number;
  /**
   * Of those, stopped by the sink's own idempotency (ON CONFLICT). In commit-first order every
   * repeat reaches the sink, so this is where they are counted; the claim afterwards only records.
   */
  duplicates_absorbed_by_sink: number;
  committed: number;
  dlq: number;
  retries: number;
  /** Failures seen (each retry is caused by one). */
  errors: number;
  /**
   * Commit-first stores: events already in the sink whose claim the store refused for a fault of the
   * event itself. They are acked as committed (never written again, never dead-lettered); a
   * redelivery of one reaches the sink's key, which absorbs it.
   */
  claim_failures: number;
  /** Dead-letter writes refused because the DLQ's byte budget (dlq_max_bytes) was spent: each a retry of a stalled batch. */
  dlq_over_budget: number;
  batches: number;
  acked: number;
  /**
   * Size of the dedup store (DedupStore.footprint), sampled after batches and at the drain. Absent
   * when the store cannot tell cheaply (redis, postgres) and for a bare subscriber.
   */
  dedup_store?: DedupStoreSize;
}

export interface DedupStoreSize {
  /** Claims held at the last sample; after a graceful stop, the final size. */
  entries: number;
  entries_peak: number;
  /** Estimated bytes of the claims (memory store only; null for the others). */
  bytes_estimate: number | null;
  bytes_peak: number | null;
}

/** Sampling the store's size may take this share of the aggregator's time at most (a sqlite count is O(rows)). */
const STORE_SAMPLE_TIME_SHARE = 0.02;

type CountKey = Exclude<keyof AggregatorCounters, 'dedup_store'>;

/**
 * The counters of several incarnations of one aggregator (before and after a kill) as one: counts
 * add up; the store's size is the last incarnation's, its peaks the highest of any.
 */
export function combineCounters(all: readonly AggregatorCounters[]): AggregatorCounters {
  const total = emptyCounters();
  const countKeys = Object.keys(total) as CountKey[];
  for (const counters of all) {
    for (const key of countKeys) total[key] += counters[key] ?? 0; // a counter newer than the file (dlq_over_budget) is 0 in it
    const store = counters.dedup_store;
    if (!store) continue;
    const before = total.dedup_store;
    total.dedup_store = {
      entries: store.entries,
      entries_peak: Math.max(before?.entries_peak ?? 0, store.entries_peak),
      bytes_estimate: store.bytes_estimate,
      bytes_peak: store.bytes_peak === null ? (before?.bytes_peak ?? null) : Math.max(before?.bytes_peak ?? 0, store.bytes_peak),
    };
  }
  return total;
}

export function emptyCounters(): AggregatorCounters {
  return {
    received: 0,
    broker_redeliveries: 0,
    redelivered: 0,
    duplicates_absorbed: 0,
    duplicates_absorbed_by_sink: 0,
    committed: 0,
    dlq: 0,
    retries: 0,
    errors: 0,
    claim_failures: 0,
    dlq_over_budget: 0,
    batches: 0,
    acked: 0,
  };
}

export interface PipelineMessage {
  topic: string;
  payload: Buffer;
  dup: boolean;
  /** Called once the message's outcome is durable (committed, absorbed or dead-lettered). */
  ack: (outcome: MessageOutcome) => void;
  /**
   * Called instead of ack when its batch could not be made durable (only when retries were abandoned
   * at shutdown, or a dead letter the store refuses): it stays un-acked.
   */
  nack?: (error: unknown) => void;
}

/** What became of a message, told to its ack (the HTTP ingest answers with it; MQTT needs only the PUBACK). */
export type MessageOutcome =
  /** duplicate: the dedup store recognised the event_id as already committed. */
  | { status: 'committed' | 'duplicate'; event_id: string }
  | { status: 'dead-lettered'; reason: string; event_id: string | null };

export interface PipelineOptions {
  batch_size: number;
  batch_wait_ms: number;
  dedup_ttl_ms: number;
  retry: RetryPolicy;
  parse: ParseOptions;
  random: Random;
  /** The dead-letter queue's byte budget for this process (raw, topic and reason of each letter); undefined: none. */
  dlq_max_bytes?: number;
  /** Told each batch's seconds from its turn at the sink to its last ack (the metrics' histogram). */
  observeBatch?: (seconds: number) => void;
  /** Test only: a planted break (config.ts MUTATIONS); never set in production. */
  mutation?: Mutation;
}

interface Valid {
  event: Event;
  message: PipelineMessage;
}

export class Pipeline {
  readonly counters = emptyCounters();
  readonly order: ClaimOrder;
  private pending: PipelineMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Settles when the newest batch no longer needs the sink: the next batch's sink write may start. */
  private sinkFree: Promise<void> = Promise.resolve();
  /** Settles when the newest batch's messages have been acked (or given up): acks go out in batch order. */
  private acked: Promise<void> = Promise.resolve();
  private queuedFlushes = 0;
  /** Batches cut and not yet finished (writing, claiming, or waiting for the one before). */
  private committing = 0;
  /** Batches cut whose sink write has not finished yet (queued for the sink or writing). */
  private writing = 0;
  /** performance.now() before which the store's size is not sampled again. */
  private nextStoreSample = 0;
  /** Set when the aggregator gives up on its in-flight work (shutting down): transient failures stop being retried. */
  private abandoned = false;
  /** performance.now() of the first message of the batch being filled (undefined: empty). */
  private pendingSince: number | undefined;
  /** The same for each batch cut and not yet finished. */
  private readonly cutSince = new Set<{ since: number }>();
  /** Bytes this pipeline has dead-lettered (raw, topic and reason), against options.dlq_max_bytes. */
  private dlqBytes = 0;

  constructor(
    private readonly store: DedupStore,
    private readonly sink: Sink,
    private readonly options: PipelineOptions,
    /**
     * Told of a batch that could not be made durable, after its messages were nacked. They stay
     * un-acked: a broker resends them only on a new connection, so a consumer that is not shutting
     * down must reconnect (MQTT) or its messages are stuck for ever.
     */
    private readonly onBatchFailure: (error: unknown) => void = () => {},
  ) {
    if (store.claimerFor?.(sink)) this.order = 'transactional';
    else if (store.durable) this.order = 'commit-first';
    else this.order = 'claim-first';
    // Planted break (test only): a durable claim in its own transaction before the sink's.
    if (options.mutation === 'claim-outside-transaction' && this.order === 'transactional') this.order = 'claim-first';
    if (this.order === 'commit-first' && sink.mode !== 'idempotent') {
      throw new Error(
        `dedup store '${store.kind}' keeps claims outside the sink's transaction, so the sink must be idempotent (got sink mode '${sink.mode}')`,
      );
    }
  }

  /** Messages accepted but not yet acked (in the current batch or being committed). */
  get backlog(): number {
    return this.pending.length + this.queuedFlushes;
  }

  /** Seconds since the oldest message not yet acked (or given up) was received; 0 when none is. */
  lagSeconds(now = performance.now()): number {
    let oldest = this.pendingSince ?? now;
    for (const { since } of this.cutSince) oldest = Math.min(oldest, since);
    return (now - oldest) / 1000;
  }

  push(message: PipelineMessage): void {
    this.counters.received++;
    if (this.pending.length === 0) this.pendingSince = performance.now();
    if (message.dup) this.counters.broker_redeliveries++;
    if (this.options.mutation === 'ack-on-receipt') {
      // Planted break (test only): acked before anything is durable; the later ack does nothing.
      message.ack({ status: 'committed', event_id: '' });
      message = { ...message, ack: () => {} };
    }
    this.pending.push(message);
    if (this.pending.length >= this.options.batch_size) this.flushNow();
    // While a commit is in progress the batch keeps filling (group commit): it is cut when that
    // commit ends, so a slow sink gets bigger batches, not a queue of small ones each paying the
    // full commit cost.
    else if (!this.timer && this.writing === 0) {
      this.timer = setTimeout(() => this.flushNow(), this.options.batch_wait_ms);
    }
  }

  /**
   * Stop retrying transient failures (the aggregator is shutting down and cannot wait for the sink or
   * store to come back): a batch still failing is left un-acked, for the broker to redeliver.
   */
  abandonRetries(): void {
    this.abandoned = true;
  }

  /** Commit whatever is pending and wait until every accepted message has been handled. */
  async drain(): Promise<void> {
    do {
      this.flushNow();
      await this.acked;
    } while (this.pending.length > 0 || this.committing > 0);
    this.sampleStoreSize(true);
  }

  /** Records the store's size and peaks, unless sampled too recently (force: sample anyway). */
  private sampleStoreSize(force = false): void {
    const started = performance.now();
    if (!this.store.footprint || (!force && started < this.nextStoreSample)) return;
    const { entries, bytes_estimate } = this.store.footprint();
    const tookMs = performance.now() - started;
    this.nextStoreSample = started + tookMs / STORE_SAMPLE_TIME_SHARE;
    const before = this.counters.dedup_store;
    this.counters.dedup_store = {
      entries,
      entries_peak: Math.max(before?.entries_peak ?? 0, entries),
      bytes_estimate,
      bytes_peak: bytes_estimate === null ? null : Math.max(before?.bytes_peak ?? 0, bytes_estimate),
    };
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const cut = { since: this.pendingSince ?? performance.now() };
    this.pendingSince = undefined;
    this.cutSince.add(cut);
    this.queuedFlushes += batch.length;
    this.committing++;
    this.writing++;
    // Batches write to the sink one after another (the sink sees one writer) and ack in the order
    // they were cut (MQTT wants PUBACKs in the order of the PUBLISHes). A commit-first batch frees
    // the sink as soon as its write is durable, so the next batch's write overlaps this one's claim
    // round trip to the dedup store; the other orders free it when they are done.
    let freeSink!: () => void;
    const sinkFree = new Promise<void>((resolve) => (freeSink = resolve));
    let freed = false;
    const markWritten = () => {
      if (freed) return;
      freed = true;
      this.writing--;
      freeSink();
      // What arrived meanwhile goes now, as one batch (group commit).
      if (this.writing === 0 && this.pending.length > 0 && !this.timer) this.timer = setTimeout(() => this.flushNow(), 0);
    };
    const previousAcked = this.acked;
    let turn = 0;
    const done = this.sinkFree
      .then(() => {
        turn = performance.now();
        return this.processBatch(batch, markWritten, previousAcked);
      })
      .catch(async (error: unknown) => {
        this.counters.errors++;
        // The batches cut before this one ack first, so that a reconnect for this failure does not void their acks.
        await previousAcked;
        for (const message of batch) message.nack?.(error);
        this.onBatchFailure(error);
      })
      .finally(() => {
        this.cutSince.delete(cut);
        if (turn > 0) this.options.observeBatch?.((performance.now() - turn) / 1000);
        this.queuedFlushes -= batch.length;
        this.committing--;
        markWritten();
      });
    this.sinkFree = sinkFree;
    this.acked = done;
  }

  /**
   * markWritten: called once the batch no longer needs the sink (commit-first: right after the
   * sink write; otherwise at the end). previousAcked: the batch before has acked its messages.
   */
  private async processBatch(batch: PipelineMessage[], markWritten: () => void, previousAcked: Promise<void>): Promise<void> {
    this.counters.batches++;
    const valid: Valid[] = [];
    const deadLetters: { letter: DeadLetter; message: PipelineMessage }[] = [];
    const outcomes = new Map<PipelineMessage, MessageOutcome>();
    const verdict = (event: Event, claim: ClaimResult | undefined): MessageOutcome => ({
      status: claim === 'duplicate' ? 'duplicate' : 'committed',
      event_id: event.event_id,
    });
    for (const message of batch) {
      const parsed = parseEvent(message.payload, this.options.parse);
      if (parsed.ok) valid.push({ event: parsed.event, message });
      else {
        const reason = `invalid event: ${describeErrors(parsed.errors)}`;
        deadLetters.push({ letter: this.deadLetter(message, reason, eventIdOf(message.payload)), message });
      }
    }

    try {
      const claims = await this.commitWithRetry(valid.map((v) => v.event), markWritten);
      valid.forEach((v, i) => outcomes.set(v.message, verdict(v.event, claims[i])));
    } catch (error) {
      // Anything but a fault of an event (untilDone only lets those out, or any failure once the
      // aggregator gave up at shutdown): nothing is acked, the broker redelivers.
      if (!isEventFault(error)) throw error;
      // Find the events that fail on their own and dead-letter only those, so one bad event does not
      // take its batch-mates with it. An event alone meets a fault of the store as its batch did: a stall.
      for (const item of valid) {
        try {
          const [claim] = await this.commitWithRetry([item.event], markWritten);
          outcomes.set(item.message, verdict(item.event, claim));
        } catch (single) {
          if (!isEventFault(single)) throw single;
          const reason = `sink rejected event (${classifyFailure(single).code}): ${messageOf(single)}`;
          deadLetters.push({ letter: this.deadLetter(item.message, reason, item.event.event_id), message: item.message });
        }
      }
    }

    if (deadLetters.length > 0) {
      // The DLQ write is itself a durable commit: retried like one until it clears (a full disk
      // under the DLQ stalls the batch, it does not freeze it).
      // Past the DLQ's byte budget the write is refused as a fault of the store: the batch stalls (no
      // ack, no dead letter, retries counted) rather than the DLQ filling the disk.
      const letters = deadLetters.map((d) => d.letter);
      const bytes = letters.reduce((sum, l) => sum + Buffer.byteLength(l.raw) + Buffer.byteLength(l.topic) + Buffer.byteLength(l.reason), 0);
      const budget = this.options.dlq_max_bytes ?? Number.POSITIVE_INFINITY;
      await this.untilDone(async () => {
        if (this.dlqBytes + bytes > budget) {
          this.counters.dlq_over_budget++;
          throw new TransientError(`dead-letter queue budget spent: ${this.dlqBytes} of ${budget} bytes written, ${bytes} more refused (dlq_max_bytes)`);
        }
        await this.sink.deadLetter(letters);
      });
      this.dlqBytes += bytes;
      this.counters.dlq += deadLetters.length;
    }
    for (const { message, letter } of deadLetters) outcomes.set(message, { status: 'dead-lettered', reason: letter.reason, event_id: letter.event_id });
    markWritten();
    await previousAcked;
    for (const message of batch) {
      // Every message of the batch is either valid (committed or absorbed) or dead-lettered.
      message.ack(outcomes.get(message)!);
      this.counters.acked++;
    }
    this.sampleStoreSize();
  }

  /** Every retried attempt, of a commit, a claim or a dead-letter write, is a retry and an error. */
  private readonly countRetry = (): void => {
    this.counters.retries++;
    this.counters.errors++;
  };

  /**
   * Runs a durable step (a sink write, a claim, both, a dead-letter write) with capped backoff until
   * it succeeds. An infrastructure fault (aggregator/failure.ts: the store busy, unreachable, full,
   * read-only, refusing a grant; any error it cannot name) never dead-letters a valid event: it is
   * tried again for as long as it takes. Meanwhile nothing is acked, the in-flight limit stops
   * reading, and the broker holds the rest: the run shows a stall, not a loss. Only a shutdown
   * (abandonRetries) gives up, leaving it un-acked. A fault of the event itself is thrown at once.
   */
  private async untilDone<T>(step: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await withRetry(step, this.options.retry, this.options.random, this.countRetry, undefined, isInfrastructureFault);
      } catch (error) {
        if (!(error instanceof RetriesExhaustedError) || this.abandoned) throw error;
        this.countRetry();
      }
    }
  }

  /** The dedup verdict per event, in order ('new' where the claim order gives none). */
  private async commitWithRetry(events: Event[], markWritten: () => void): Promise<ClaimResult[]> {
    if (events.length === 0) return [];
    const ids = events.map((e) => e.event_id);
    const ttlMs = this.options.dedup_ttl_ms;
    switch (this.order) {
      case 'transactional':
        return this.untilDone(async () => {
          const run = this.store.claimerFor!(this.sink)!;
          const outcome = await this.sink.commit(events, { run, ttlMs });
          this.countCommit(outcome);
          this.countClaims(outcome.claims ?? []);
          return outcome.claims ?? events.map(() => 'new' as const);
        });
      case 'claim-first':
        return this.untilDone(async () => {
          const claims = await this.store.claimMany(ids, ttlMs);
          const fresh = events.filter((_, i) => claims[i] === 'new');
          try {
            this.countCommit(await this.sink.commit(fresh));
          } catch (error) {
            await this.store.release(fresh.map((e) => e.event_id));
            throw error;
          }
          this.countClaims(claims);
          return claims;
        });
      case 'commit-first': {
        // Counted as soon as it is durable; a claim that fails afterwards is retried on its own
        // (the write is not repeated). The claim only records: the sink's key already absorbed
        // every repeat.
        await this.untilDone(async () => this.countCommit(await this.sink.commit(events)));
        markWritten();
        return this.claimAfterCommit(ids, ttlMs);
      }
    }
  }

  /**
   * The claims of events already in the sink. Nothing here may throw a fault of an event: the caller
   * would write them again and dead-letter them. A store fault is retried until it clears; an id
   * whose claim fails on its own is stored all the same, so it is 'new' (counted in claim_failures).
   */
  private async claimAfterCommit(ids: string[], ttlMs: number): Promise<ClaimResult[]> {
    try {
      return await this.untilDone(() => this.store.claimMany(ids, ttlMs));
    } catch (error) {
      if (!isEventFault(error)) throw error;
    }
    const claims: ClaimResult[] = [];
    for (const id of ids) {
      try {
        claims.push(...(await this.untilDone(() => this.store.claimMany([id], ttlMs))));
      } catch (single) {
        if (!isEventFault(single)) throw single;
        this.counters.claim_failures++;
        claims.push('new');
      }
    }
    return claims;
  }

  private countCommit(outcome: CommitOutcome): void {
    this.counters.committed += outcome.inserted;
    this.counters.duplicates_absorbed_by_sink += outcome.already_present;
    this.counters.redelivered += outcome.already_present;
  }

  private countClaims(claims: readonly ClaimResult[]): void {
    const absorbed = claims.filter((c) => c === 'duplicate').length;
    this.counters.duplicates_absorbed += absorbed;
    this.counters.redelivered += absorbed;
  }

  /** A message's dead letter: its first DLQ_RAW_PREFIX_BYTES bytes, and for a longer one its size and SHA-256 in the reason. */
  private deadLetter(message: PipelineMessage, reason: string, eventId: string | null): DeadLetter {
    const { payload } = message;
    if (payload.length <= DLQ_RAW_PREFIX_BYTES) return { raw: payload.toString('utf8'), topic: message.topic, reason, event_id: eventId, at_us: nowMicros() };
    const sha256 = createHash('sha256').update(payload).digest('hex');
    return {
      raw: payload.subarray(0, DLQ_RAW_PREFIX_BYTES).toString('utf8'),
      topic: message.topic,
      reason: `${reason} [raw: the first ${DLQ_RAW_PREFIX_BYTES} of ${payload.length} bytes kept, sha256 ${sha256}]`,
      event_id: eventId,
      at_us: nowMicros(),
    };
  }
}

function isInfrastructureFault(error: unknown): boolean {
  return !isEventFault(error);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Best effort: the event_id of a message that failed validation, for the DLQ record. */
function eventIdOf(payload: Buffer): string | null {
  const match = /"event_id"\s*:\s*"([^"]{1,64})"/.exec(payload.subarray(0, 512).toString('utf8'));
  return match?.[1] ?? null;
}
