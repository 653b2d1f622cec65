// Shipped scenario `gate`: what `npm run gate` runs in CI. Short and low-rate so that its p99 is
// stable across replicates on a 2-core machine; its faults keep the no-loss promise.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/**
 * The short scenario of the CI performance gate (`npm run gate -- --scenario gate`, run by .ci/run
 * against baselines/gate.json): a few seconds, valid on a loaded 2-core machine, with faults
 * that keep the no-loss promise so that the correctness gate has something to hold — duplicates
 * (now and later, same and other connection) and a sink whose commit time jitters (seeded, so
 * every run and replicate gets the same jitter) — and so that p99 is made of commits, not of idle
 * timers. No crash and no stalls: their few hundred milliseconds would swamp the p99 and make it
 * a measure of one event's timing. Six seconds at 300 ev/s: with 3 s the p99 of ~900 events is
 * made by a single scheduling hiccup of ~30 ms and its CV across replicates was ~17 %; with 6 s, ~9 %
 * (2 cores, docs/lab/2026-11-25-gate.md).
 */
export const gate = {
  name: 'gate',
  description: 'short (~7 s), for the CI performance gate: duplicates and a jittery sink, p99 made of commits',
  seed: 41,
  load: { ...DEFAULT_LOAD },
  phases: [
    { name: 'warmup', duration_s: 1, rate: 200, faults: [] },
    {
      name: 'steady',
      duration_s: 6,
      rate: 300,
      faults: [
        { kind: 'duplicate', fraction: 0.2, immediate_share: 0.5, delay_ms: 200, other_connection_share: 0.5 },
        { kind: 'slow-sink', delay_ms: 2, jitter_ms: 6, stall_every_s: 0, stall_ms: 0 },
      ],
    },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 20,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED, { metric: 'committed_ratio', op: '>=', value: 1 }],
} satisfies Scenario;
