// The generator writes each event's JSON from per-publisher templates (event-encoder.ts) and the
// timestamp from a per-second cache (aggregator/clock.ts): the bytes must be exactly what
// serializeEvent writes for the same event, and the timestamp what toISOString-based formatting gave.

import { describe, expect, it } from 'vitest';
import { isoMicros, writeIsoMicros } from '../../aggregator/clock.ts';
import { parseEvent, serializeEvent } from '../../aggregator/event/parse.ts';
import { seededRandom } from '../../aggregator/random.ts';
import { EventEncoder } from './event-encoder.ts';
import { eventIdFor } from './identity.ts';

/** How isoMicros was written before its per-second cache. */
function isoMicrosReference(micros: number): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, '0')}Z`;
}

describe('EventEncoder', () => {
  it("writes serializeEvent's bytes for any source, topic (non-ASCII too), seq and intended time", () => {
    const random = seededRandom(3);
    const payload = { data: 'x'.repeat(256) };
    const encoder = new EventEncoder(42, payload);
    const sources = ['pub-0', 'pub-17', 'pübl"isher\\'];
    for (let i = 0; i < 5_000; i++) {
      const source = sources[i % sources.length]!;
      const topic = i % 5 === 0 ? `events/ünïcode "run"/${source}/${i % 3}` : `events/run-1/${source}`;
      const seq = i < 20 ? i : Math.floor(random() * 10 ** Math.floor(random() * 10));
      const intended_us = 1_764_700_000_000_000 + Math.floor(random() * 1e13);
      const event = { v: 1 as const, event_id: eventIdFor(42, source, seq, intended_us), source, seq, topic, ts: isoMicros(intended_us), payload, bench: { intended_us } };
      const bytes = encoder.encode(source, seq, topic, intended_us);
      expect(bytes.toString()).toBe(serializeEvent(event));
      expect(bytes.equals(Buffer.from(serializeEvent(event)))).toBe(true);
    }
    // And the aggregator reads it back as that event.
    const bytes = encoder.encode('pub-1', 7, 'events/x/pub-1', 1_764_700_000_123_456);
    const parsed = parseEvent(bytes);
    expect(parsed.ok && parsed.event.seq).toBe(7);
  });

  it('never writes over an event it returned: each keeps its bytes across slabs and digit-count changes', () => {
    const encoder = new EventEncoder(5, { data: 'y'.repeat(300) });
    const kept: { buffer: Buffer; text: string }[] = [];
    // ~1,000 events of ~450 bytes: several 64 KB slabs; seq crosses 9→10, 99→100 and 999→1000.
    for (let seq = 0; seq < 1_000; seq++) {
      const intended_us = seq === 500 ? 999_999_999_999_999 : 1_764_700_000_000_000 + seq * 137;
      const buffer = encoder.encode(`pub-${seq % 3}`, seq, `events/r/pub-${seq % 3}`, intended_us);
      kept.push({ buffer, text: buffer.toString() });
    }
    for (const { buffer, text } of kept) expect(buffer.toString()).toBe(text);
    // Numbers at the edges of the 8-digit steps the digits are written in.
    const payload = { data: 'y'.repeat(300) };
    for (const seq of [9, 10, 99_999_999, 100_000_000, 100_000_001, 1_234_567_890_123, 2 ** 53 - 1]) {
      for (const intended_us of [1_000_000, 99_999_999_999_999, 100_000_000_000_000, 1_764_700_000_000_000, 9_007_199_254_740_991]) {
        const event = { v: 1 as const, event_id: eventIdFor(5, 'pub-1', seq, intended_us), source: 'pub-1', seq, topic: 'events/r/pub-1', ts: isoMicros(intended_us), payload, bench: { intended_us } };
        expect(encoder.encode('pub-1', seq, 'events/r/pub-1', intended_us).toString()).toBe(serializeEvent(event));
      }
    }
    expect(new Set(kept.map((k) => k.text)).size).toBe(kept.length);
  });
});

describe('isoMicros / writeIsoMicros', () => {
  it('format every microsecond as before, across second, day and year boundaries, in any order', () => {
    const random = seededRandom(9);
    const buffer = Buffer.alloc(40);
    const edges = [1_767_225_599_999_999, 1_767_225_600_000_000, 1_767_225_600_000_001, 1_764_700_000_099_999, 1_764_700_000_100_000, 1_000_000, 999_999_999];
    for (let i = 0; i < 20_000; i++) {
      const micros = i < edges.length ? edges[i]! : i % 2 === 0 ? 1_764_700_000_000_000 + Math.floor(random() * 3e6) : Math.floor(random() * 4e15);
      expect(isoMicros(micros)).toBe(isoMicrosReference(micros));
      writeIsoMicros(buffer, 5, micros);
      expect(buffer.toString('latin1', 5, 32)).toBe(isoMicrosReference(micros));
    }
  });
});
