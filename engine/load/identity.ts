// Event identity: the event_id of (source, seq) is a ULID whose time is the intended send time
// and whose random part comes from the run's seed and (source, seq) alone. Any worker can mint
// it, a replay mints the same one, and the ledger can tell a row the harness published from one
// it did not without keeping a map of every id.

import { ulid } from 'ulid';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';

/** Crockford's base 32, as ulid encodes. */
const ULID_ALPHABET = Buffer.from('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 'latin1');
const ULID_TIME_MAX = 2 ** 48 - 1;
export const EVENT_ID_BYTES = 26;
const scratch = Buffer.allocUnsafe(EVENT_ID_BYTES);

export function eventIdFor(seed: number, source: string, seq: number, intended_us: number): string {
  writeEventId(scratch, 0, seed, source, seq, intended_us);
  return scratch.toString('latin1', 0, EVENT_ID_BYTES);
}

/**
 * eventIdFor's 26 ASCII bytes written into `buffer` at `at`, with no string or closure made: the
 * generator writes them straight into the event's JSON (engine/load/event-encoder.ts). The same
 * characters ulid(time, seededRandom(deriveSeed(seed, `${source}#${seq}`))) gives (identity.test.ts
 * holds them equal): the time in 10 characters, then 16 drawn from mulberry32, the first draw last.
 */
export function writeEventId(buffer: Buffer, at: number, seed: number, source: string, seq: number, intended_us: number): void {
  const ms = Math.floor(intended_us / 1000);
  if (!(ms > 0 && ms <= ULID_TIME_MAX)) {
    // What ulid does with 0 (the current time) or a time it refuses (it throws): its own answer.
    buffer.write(ulid(ms, seededRandom(deriveSeed(seed, `${source}#${seq}`))), at, EVENT_ID_BYTES, 'latin1');
    return;
  }
  // 48 bits in 10 characters of 5 bits: the low 30 bits, then the high 18, in integer arithmetic.
  let low = ms % 0x40000000 | 0;
  let high = ((ms - low) / 0x40000000) | 0;
  for (let i = 9; i >= 4; i--) {
    buffer[at + i] = ULID_ALPHABET[low & 31]!;
    low >>>= 5;
  }
  for (let i = 3; i >= 0; i--) {
    buffer[at + i] = ULID_ALPHABET[high & 31]!;
    high >>>= 5;
  }
  // seededRandom (mulberry32) inlined: the same state steps, no closure per event.
  let state = seedOf(seed, source, seq);
  for (let i = EVENT_ID_BYTES - 1; i >= 10; i--) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    // ulid's floor(random() × 32) of mulberry32's u / 2^32: the top 5 bits of u, exactly.
    buffer[at + i] = ULID_ALPHABET[(t ^ (t >>> 14)) >>> 27]!;
  }
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

/** deriveSeed(seed, `${source}#${seq}`) without making the label (seq: a whole number below 2^53). */
function seedOf(seed: number, source: string, seq: number): number {
  if (!Number.isSafeInteger(seq) || seq < 0) return deriveSeed(seed, `${source}#${seq}`);
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < source.length; i++) h = Math.imul(h ^ source.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ 35, 0x01000193) >>> 0; // '#'
  let power = 1;
  while (power * 10 <= seq) power *= 10;
  for (; power >= 1; power /= 10) h = Math.imul(h ^ (48 + (Math.floor(seq / power) % 10)), 0x01000193) >>> 0;
  return h;
}
