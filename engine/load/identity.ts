// Event identity: the event_id of (source, seq) is a ULID whose time is the intended send time
// and whose random part comes from the run's seed and (source, seq) alone. Any worker can mint
// it, a replay mints the same one, and the ledger can tell a row the harness published from one
// it did not without keeping a map of every id.

import { ulid } from 'ulid';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';

export function eventIdFor(seed: number, source: string, seq: number, intended_us: number): string {
  return ulid(Math.floor(intended_us / 1000), seededRandom(deriveSeed(seed, `${source}#${seq}`)));
}
