// Backlog over time and the overload verdict. Brokers PUBACK on receipt, so a publish window does
// not bound the path: above the subscriber's capacity the broker queue grows for the whole phase
// and p99 only measures how long that queue is. This module turns a per-second timeline of
// "acknowledged by the broker" vs "acknowledged by the subscriber" into a per-phase verdict —
// overloaded at N ev/s, sustaining M — distinct from generator saturation. Publishes still waiting
// for their PUBACK count as accepted: a slow broker moves the queue into the harness, not away.
// Pure: no clocks, no I/O.

import { linearRegression } from 'simple-statistics';

export interface TimelineSample {
  /** Seconds since the schedule started. */
  t_s: number;
  phase: string;
  /** Original events handed to a connection so far. */
  published: number;
  /** Publishes (originals and copies) the broker has acknowledged so far. */
  broker_acked: number;
  /**
   * Messages the subscriber has acknowledged so far (committed, absorbed or dead-lettered), as
   * counted by the run's backlog source (BacklogSource): the broker's PUBACKs from its subscriber,
   * or the subscriber's own word.
   */
  subscriber_acked: number;
  /**
   * broker_acked + pending − subscriber_acked: messages handed to the harness's connections and not
   * yet finished by the subscriber, wherever they wait (harness window, broker queue, subscriber).
   */
  backlog: number;
  /** Original events per second handed to connections in the second before this sample. */
  offered_per_s: number;
  /** Messages per second the subscriber acknowledged in the second before this sample. */
  consumed_per_s: number;
  /** Publishes queued in the harness or waiting for their PUBACK. */
  pending: number;
  /** The aggregator's retries and repeat deliveries so far (self-reported, all incarnations). */
  retries: number;
  redelivered: number;
}

/**
 * Who counted subscriber_acked, and so the backlog: 'broker', the PUBACKs the broker received from
 * its subscriber (the embedded broker counts them; the harness's own evidence), or 'subscriber
 * (self-reported)', the aggregator's or bare subscriber's own acked counter, for a broker whose
 * counts the harness cannot read.
 */
export const BACKLOG_SOURCES = ['broker', 'subscriber (self-reported)'] as const;
export type BacklogSource = (typeof BACKLOG_SOURCES)[number];

export interface PhaseLoad {
  phase: string;
  overloaded: boolean;
  /** Slope of the backlog over the phase, messages per second (least squares). */
  backlog_growth_per_s: number;
  backlog_at_end: number;
  /** Messages per second handed to the broker (acked or pending) / finished by the subscriber over the phase. */
  accepted_per_s: number;
  consumed_per_s: number;
  /** consumed / accepted: the share of the offered load the system kept up with. */
  sustained_share: number;
}

/** A backlog growing faster than this share of the accepted rate, for the whole phase, is overload. */
export const OVERLOAD_GROWTH_SHARE = 0.05;
/** …and it must end the phase above this many seconds' worth of accepted messages (noise floor). */
export const OVERLOAD_MIN_BACKLOG_S = 0.25;
/** Fewer samples than this in a phase: no verdict (too short to tell growth from a blip). */
export const OVERLOAD_MIN_SAMPLES = 3;

export function phaseLoad(samples: readonly TimelineSample[], phase: string): PhaseLoad | undefined {
  // The first second of a phase still carries the previous phase's rate; leave it out.
  const inPhase = samples.filter((s) => s.phase === phase).slice(1);
  if (inPhase.length < OVERLOAD_MIN_SAMPLES) return undefined;
  const first = inPhase[0]!;
  const last = inPhase[inPhase.length - 1]!;
  const seconds = last.t_s - first.t_s;
  if (seconds <= 0) return undefined;
  // Handed off = acknowledged by the broker or still waiting for it: a broker slow to PUBACK
  // queues the backlog in the harness's windows instead of its own queue.
  const accepted = (last.broker_acked + last.pending - first.broker_acked - first.pending) / seconds;
  const consumed = (last.subscriber_acked - first.subscriber_acked) / seconds;
  const { m: slope } = linearRegression(inPhase.map((s) => [s.t_s, s.backlog]));
  const growth = Number.isFinite(slope) ? slope : 0;
  // All three: the backlog grows, it ends the phase sizeable, and the subscriber finished clearly
  // less than was accepted (a one-off step, such as messages a killed broker lost, is not overload).
  const overloaded =
    growth > OVERLOAD_GROWTH_SHARE * Math.max(accepted, 1) &&
    last.backlog > OVERLOAD_MIN_BACKLOG_S * Math.max(accepted, 1) &&
    consumed < (1 - OVERLOAD_GROWTH_SHARE) * accepted;
  return {
    phase,
    overloaded,
    backlog_growth_per_s: round(growth),
    backlog_at_end: last.backlog,
    accepted_per_s: round(accepted),
    consumed_per_s: round(consumed),
    sustained_share: accepted > 0 ? round(consumed / accepted, 3) : 1,
  };
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

type Count = 'published' | 'broker_acked' | 'subscriber_acked';

/**
 * A running count at time `t_s` (seconds since the schedule's start), interpolated linearly between
 * the samples either side of it; every count is 0 at t = 0, and past the last sample it stays at
 * the last. Lets a rate be taken over a phase's own bounds rather than over the samples that fall
 * inside it (which miss the phase's first and last part: a second or more at 1-s ticks).
 */
export function countAt(samples: readonly TimelineSample[], count: Count, t_s: number): number {
  let before = { t_s: 0, value: 0 };
  for (const sample of samples) {
    if (sample.t_s >= t_s) {
      const span = sample.t_s - before.t_s;
      return span <= 0 ? sample[count] : before.value + ((t_s - before.t_s) / span) * (sample[count] - before.value);
    }
    before = { t_s: sample.t_s, value: sample[count] };
  }
  return before.value;
}

/**
 * The bare subscriber's throughput in events per second over the given windows (the measured
 * phases, seconds since the schedule's start): the messages it acknowledged inside them, times the
 * share of originals among the messages the broker acknowledged inside the same windows (the
 * subscriber's messages include the injected copies). Over the same windows as an aggregator's
 * committed rate, so the two compare; 0 without samples.
 */
export function bareEventsPerS(samples: readonly TimelineSample[], windows: readonly { from_s: number; to_s: number }[]): number {
  if (samples.length === 0) return 0;
  let seconds = 0;
  let acked = 0;
  let originals = 0;
  let messages = 0;
  for (const { from_s, to_s } of windows) {
    if (!(to_s > from_s)) continue;
    seconds += to_s - from_s;
    const delta = (count: Count) => countAt(samples, count, to_s) - countAt(samples, count, from_s);
    acked += delta('subscriber_acked');
    originals += delta('published');
    messages += delta('broker_acked');
  }
  if (seconds === 0) return 0;
  const share = messages > 0 ? Math.min(1, originals / messages) : 1;
  return (acked * share) / seconds;
}
