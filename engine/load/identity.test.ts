// eventIdFor writes the ULID's bytes itself (no ulid() call, no closure per event): it must give
// exactly the ids ulid(time, seededRandom(deriveSeed(...))) gave, or a replay and the ledger of a
// result from before it would no longer agree with the events' ids.

import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';
import { eventIdFor } from './identity.ts';

const reference = (seed: number, source: string, seq: number, intended_us: number) => ulid(Math.floor(intended_us / 1000), seededRandom(deriveSeed(seed, `${source}#${seq}`)));

describe('eventIdFor', () => {
  it('is the ulid of (intended time, seeded random of source#seq) for seeded random inputs, times up to the ULID maximum', () => {
    const random = seededRandom(20261203);
    for (let i = 0; i < 20_000; i++) {
      const seed = Math.floor(random() * 2 ** 32);
      const source = `pub-${Math.floor(random() * 100)}`;
      const seq = Math.floor(random() * 1e9);
      // Anything from 1 ms after the epoch to the largest time a ULID holds (2^48 − 1 ms).
      const intended_us = i % 2 === 0 ? 1_764_700_000_000_000 + Math.floor(random() * 1e12) : 1000 + Math.floor(random() * (2 ** 48 - 2)) * 1000;
      expect(eventIdFor(seed, source, seq, intended_us)).toBe(reference(seed, source, seq, intended_us));
    }
  });

  it('known ids stay the same (as written by the ulid package before)', () => {
    expect(eventIdFor(1, 'pub-0', 0, 1_764_700_000_000_000)).toBe('01KBG523R0CMFPP0K7ENBBVCBT');
    expect(eventIdFor(7, 'pub-3', 12_345, 1_764_700_000_123_456)).toBe('01KBG523VVZNTETN6J9D7ABMRH');
  });
});
