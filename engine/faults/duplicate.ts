// duplicate: publish a seeded fraction of events again with the same event_id — right away or
// after a delay, from the original publisher's connection or from another one — the way retrying
// producers and redelivering brokers do. A delayed copy's delay is fixed, or drawn per copy from a
// uniform or exponential distribution (seeded), so a dedup window can be tested against a spread of
// late copies rather than one delay.
//
// It must never drop a copy it decided to send: stop() waits for every pending delayed copy, and
// exponential delays are capped (DUPLICATE_EXPONENTIAL_CAP means) so that wait is bounded.

import type { Random } from '../../aggregator/random.ts';
import { DUPLICATE_EXPONENTIAL_CAP, type DuplicateFault } from '../../scenarios/schema.ts';
import type { Outgoing } from '../load/publishers.ts';
import type { PublishFault, PublishFaultContext } from './index.ts';

/**
 * The delay of one delayed copy, in ms. 'fixed' draws nothing from `random`, so scenarios written
 * before delay distributions existed replay the same copies from the same seed.
 */
export function sampleDuplicateDelay(spec: Pick<DuplicateFault, 'delay_ms' | 'delay_distribution'>, random: Random): number {
  switch (spec.delay_distribution ?? 'fixed') {
    case 'fixed':
      return spec.delay_ms;
    case 'uniform':
      return random() * spec.delay_ms;
    case 'exponential':
      // Inverse CDF; 1 - u is in (0, 1], so the log is finite.
      return Math.min(-spec.delay_ms * Math.log(1 - random()), DUPLICATE_EXPONENTIAL_CAP * spec.delay_ms);
  }
}

/** P(delay > ms) for a delayed copy under the spec's distribution (with the exponential cap). */
export function duplicateDelayBeyond(spec: Pick<DuplicateFault, 'delay_ms' | 'delay_distribution'>, ms: number): number {
  const d = spec.delay_ms;
  switch (spec.delay_distribution ?? 'fixed') {
    case 'fixed':
      return d > ms ? 1 : 0;
    case 'uniform':
      if (ms < 0) return 1;
      return ms >= d ? 0 : (d - ms) / d;
    case 'exponential':
      if (ms < 0) return 1;
      return ms >= DUPLICATE_EXPONENTIAL_CAP * d ? 0 : Math.exp(-ms / d);
  }
}

export function duplicateFault(spec: DuplicateFault): PublishFault {
  let unsubscribe: () => void = () => {};
  /** Delayed copies decided but not yet sent (they wait in the worker's wake-up queue, not a timer each). */
  let pending = 0;
  const pendingDone = new Set<() => void>();
  const counts = { copies: 0, immediate: 0, delayed: 0, same_connection: 0, other_connection: 0 };
  /** `via` for a copy from publisher p's own connection: one object per publisher, not per copy. */
  const sameConnection: { publisher: number }[] = [];

  return {
    kind: 'duplicate',
    start(context: PublishFaultContext) {
      const random = context.random;
      unsubscribe = context.onPublished((item, publisher) => {
        if (random() >= spec.fraction) return;
        const immediate = random() < spec.immediate_share;
        const other = random() < spec.other_connection_share;
        counts.copies++;
        counts[immediate ? 'immediate' : 'delayed']++;
        counts[other ? 'other_connection' : 'same_connection']++;
        const copy: Outgoing = { record: item.record, seq: item.seq, topic: item.topic, payload: item.payload, copy: true };
        if (item.raw !== undefined) copy.raw = item.raw;
        const via = other ? ('other-connection' as const) : (sameConnection[publisher] ??= { publisher });
        if (immediate) return context.republish(copy, via);
        pending++;
        context.later(sampleDuplicateDelay(spec, random), () => {
          context.republish(copy, via);
          if (--pending === 0) for (const done of pendingDone) done();
        });
      });
    },
    async stop() {
      unsubscribe();
      if (pending === 0) return;
      await new Promise<void>((resolve) => pendingDone.add(resolve));
    },
    injected: () => ({ ...counts }),
  };
}
