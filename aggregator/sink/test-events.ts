// Events for the sink tests (sqlite.test.ts and the shared contract suite): one shape, so both
// suites write the same rows.

import type { Event } from '../event/types.ts';

export function event(seq: number, overrides: Partial<Event> = {}): Event {
  return {
    v: 1,
    event_id: `01JEVENT${String(seq).padStart(18, '0')}`,
    source: 'pub-0',
    seq,
    topic: 'events/pub-0',
    ts: '2026-01-01T00:00:00.000001Z',
    payload: { n: seq },
    bench: { intended_us: 1_767_225_600_000_000 + seq },
    ...overrides,
  };
}

/** An event every sink refuses (source NOT NULL): a write that fails after the claim, or part-way through a batch. */
export function unwritable(seq: number): Event {
  return event(seq, { source: null as unknown as string });
}
