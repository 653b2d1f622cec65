// What the harness published, as its own record (the ledger never trusts the system under test).
// Memory stays bounded for hour-long runs: per source, one flag byte and one intended time per
// seq in typed arrays (9 bytes an event, ~65 MB for an hour at 2,000 ev/s), never an object per
// event. Injected copies are counted, not stored. Pure data: no sockets, no timers. Workers fill
// their own log and hand it to the main thread with snapshot() (buffers are transferred, not copied).

/** Handed to a connection (it may still wait for a window slot); every published seq has it. */
export const QUEUED = 16;
export const SENT = 1;
export const ACKED = 2;
/** The publish failed or its PUBACK did not arrive in time. */
export const FAILED = 4;
export const TIMED_OUT = 8;
/**
 * Bits 5–7 count the copies of the event the broker acknowledged (saturating at 7; a duplicate
 * fault sends one copy per event), so the ledger can tell which copies belong to events that
 * reached the sink exactly once: the copies absorbed, measured by the harness.
 */
export const COPIES_ACKED_SHIFT = 5;
const COPIES_ACKED_MAX = 7;

export class SourceRecord {
  count = 0;
  flags: Uint8Array;
  intended_us: Float64Array;

  constructor(
    readonly source: string,
    capacity = 1024,
  ) {
    this.flags = new Uint8Array(capacity);
    this.intended_us = new Float64Array(capacity);
  }

  /** Record event `seq` of this source, due at `intended_us`. Seqs need not arrive in order. */
  add(seq: number, intended_us: number): void {
    if (seq >= this.flags.length) this.grow(seq + 1);
    this.intended_us[seq] = intended_us;
    if (seq >= this.count) this.count = seq + 1;
  }

  private grow(atLeast: number): void {
    let capacity = Math.max(1, this.flags.length);
    while (capacity < atLeast) capacity *= 2;
    const flags = new Uint8Array(capacity);
    flags.set(this.flags);
    const intended = new Float64Array(capacity);
    intended.set(this.intended_us);
    this.flags = flags;
    this.intended_us = intended;
  }
}

export interface PublishCounters {
  /** Original events handed to a connection. */
  published: number;
  /** Publishes (originals and copies) the broker acknowledged. */
  acked: number;
  copies_sent: number;
  copies_acked: number;
  publish_errors: number;
  puback_timeouts: number;
  /** Raw messages (poison) the broker acknowledged: not events, but part of the broker's backlog. */
  raw_acked: number;
}

export interface PublishLogSnapshot {
  sources: { source: string; count: number; flags: Uint8Array; intended_us: Float64Array }[];
  counters: PublishCounters;
}

export function emptyPublishCounters(): PublishCounters {
  return { published: 0, acked: 0, copies_sent: 0, copies_acked: 0, publish_errors: 0, puback_timeouts: 0, raw_acked: 0 };
}

export class PublishLog {
  readonly sources = new Map<string, SourceRecord>();
  readonly counters: PublishCounters = emptyPublishCounters();

  record(source: string): SourceRecord {
    let record = this.sources.get(source);
    if (!record) {
      record = new SourceRecord(source);
      this.sources.set(source, record);
    }
    return record;
  }

  add(record: SourceRecord, seq: number, intended_us: number): void {
    record.add(seq, intended_us);
    // Flagged at once: an event still queued behind a full window when the run stops is published
    // and unacked (lost_unacked), not a gap the ledger skips.
    record.flags[seq]! |= QUEUED;
    this.counters.published++;
  }

  sent(record: SourceRecord, seq: number, copy: boolean): void {
    if (copy) this.counters.copies_sent++;
    else record.flags[seq]! |= SENT;
  }

  acked(record: SourceRecord, seq: number, copy: boolean): void {
    this.counters.acked++;
    if (!copy) {
      record.flags[seq]! |= ACKED;
      return;
    }
    this.counters.copies_acked++;
    const flags = record.flags[seq]!;
    if (flags >> COPIES_ACKED_SHIFT < COPIES_ACKED_MAX) record.flags[seq] = flags + (1 << COPIES_ACKED_SHIFT);
  }

  failed(record: SourceRecord, seq: number, copy: boolean, timedOut: boolean): void {
    if (timedOut) this.counters.puback_timeouts++;
    else this.counters.publish_errors++;
    if (!copy) record.flags[seq]! |= timedOut ? TIMED_OUT : FAILED;
  }

  /** Total number of events recorded (all sources). */
  get events(): number {
    let total = 0;
    for (const record of this.sources.values()) total += record.count;
    return total;
  }

  /**
   * The log's data, ready to post to another thread with `transferList`: the buffers themselves
   * are handed over (not copied, so a long run's log is never held twice); this log must not be
   * used afterwards. Readers go by `count`, not by the buffers' length.
   */
  snapshot(): { snapshot: PublishLogSnapshot; transferList: ArrayBuffer[] } {
    const sources = [...this.sources.values()].map((r) => ({ source: r.source, count: r.count, flags: r.flags, intended_us: r.intended_us }));
    return {
      snapshot: { sources, counters: { ...this.counters } },
      transferList: sources.flatMap((s) => [s.flags.buffer as ArrayBuffer, s.intended_us.buffer as ArrayBuffer]),
    };
  }

  /** One log from the snapshots of several workers (each source belongs to one worker). */
  static merge(snapshots: readonly PublishLogSnapshot[]): PublishLog {
    const log = new PublishLog();
    for (const snapshot of snapshots) {
      for (const key of Object.keys(log.counters) as (keyof PublishCounters)[]) log.counters[key] += snapshot.counters[key];
      for (const s of snapshot.sources) {
        if (log.sources.has(s.source)) throw new Error(`source ${s.source} was published by more than one worker`);
        // Adopt the arrays as they are: copying them would double a long run's log for a moment.
        const record = new SourceRecord(s.source, 0);
        record.flags = s.flags;
        record.intended_us = s.intended_us;
        record.count = s.count;
        log.sources.set(s.source, record);
      }
    }
    return log;
  }
}
