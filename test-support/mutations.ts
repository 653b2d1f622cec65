// What the control runs share (tests/mutations.test.ts lists them): turning planted breaks on, and
// showing that a kill landed on messages received and not yet durable.

import type { AggregatorProcess } from '../engine/aggregator-process.ts';
import type { AggregatorCounters } from '../aggregator/pipeline.ts';

/** Runs `body` with planted breaks allowed (aggregator/config.ts `mutation`, engine/run.ts `mutation`); forked aggregators inherit it. */
export async function withMutations<T>(body: () => Promise<T>): Promise<T> {
  process.env.CHAOSBENCH_ALLOW_MUTATIONS = '1';
  try {
    return await body();
  } finally {
    delete process.env.CHAOSBENCH_ALLOW_MUTATIONS;
  }
}

/** Received and not yet durable: neither committed, absorbed as a duplicate nor dead-lettered. What a kill puts at risk. */
export function notYetDurable(counters: AggregatorCounters): number {
  return counters.received - counters.committed - counters.duplicates_absorbed - counters.duplicates_absorbed_by_sink - counters.dlq;
}

/** The next counters report of `aggregator` that satisfies `test` (its last report if none does within `timeout_ms`). */
export function reportWith(aggregator: AggregatorProcess, test: (counters: AggregatorCounters) => boolean, timeout_ms: number): Promise<AggregatorCounters | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve(aggregator.counters);
    }, timeout_ms);
    const unsubscribe = aggregator.onCounters((counters) => {
      if (!test(counters)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(counters);
    });
  });
}
