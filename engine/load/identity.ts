// Event identity: the event_id of (source, seq) is a ULID whose time is the intended send time
// and whose random part comes from the run's seed and (source, seq) alone. Any worker can mint
// it, a replay mints the same one, and the ledger can tell a row the harness published from one
// it did not without keeping a map of every id.

import { ulid } from 'ulid';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';

export function eventIdFor(seed: number, source: string, seq: number, intended_us: number): string {
  return ulid(Math.floor(intended_us / 1000), seededRandom(deriveSeed(seed, `${source}#${seq}`)));
}

/**
 * Which published event an event id is, for a sink whose rows carry only the id (a target's own
 * query, engine/run-sink/query.ts): one map entry per event the log holds, built once after the load.
 */
export function eventLocator(
  sources: ReadonlyMap<string, { count: number; flags: Uint8Array; intended_us: Float64Array }>,
  seed: number,
): (event_id: string) => { source: string; seq: number; intended_us: number } | undefined {
  const index = new Map<string, { source: string; seq: number; intended_us: number }>();
  for (const [source, record] of sources) {
    for (let seq = 0; seq < record.count; seq++) {
      if (record.flags[seq] === 0) continue; // a gap: never published
      const intended_us = record.intended_us[seq]!;
      index.set(eventIdFor(seed, source, seq, intended_us), { source, seq, intended_us });
    }
  }
  return (eventId) => index.get(eventId);
}
