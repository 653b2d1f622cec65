// Fuzzing the reference aggregator end to end: fast-check (fixed seed) makes batches of random and
// adversarial messages interleaved with valid events and their repeats; each batch is published at
// QoS 1 through a real embedded broker to the aggregator in its own process, with a real SQLite
// sink and dedup store. After each batch: the aggregator is still the same live process, every
// invalid message is in the DLQ exactly once with a reason, every valid event is in the sink
// exactly once (repeats absorbed), and nothing else is anywhere.
//
// Which messages are valid is decided by construction, from the wire-v1 rules (docs/aggregator.md),
// never by asking the parser under test.

import { join } from 'node:path';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../engine/broker/embedded.ts';
import { AggregatorProcess } from '../engine/aggregator-process.ts';
import { DEFAULT_AGGREGATOR_CONFIG } from './config.ts';
import { serializeEvent } from './event/parse.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type Event } from './event/types.ts';
import { readDeadLetters, readSinkRows } from './sink/sqlite.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

const SEED = 20_261_203;
const RUNS = 5;
const CASES_PER_RUN = 480;
const LIMIT = DEFAULT_MAX_PAYLOAD_BYTES;
const MAX_SOURCE_CHARS = 128;
const SETTLE_TIMEOUT_MS = 30_000;

type Draft = Omit<Event, 'event_id'>;
/** A case before its event id is given: valid (raw text of the event, made from its id), invalid (bytes and what is wrong), or a repeat of an earlier valid one. */
type Case =
  | { kind: 'valid'; what: string; make: (eventId: string) => string }
  | { kind: 'invalid'; what: string; make: (eventId: string) => Buffer }
  | { kind: 'repeat'; pick: number };

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let nextId = 0;
/** A valid, unique ULID: a fixed time part and a counter. */
function freshId(): string {
  let n = nextId++;
  let tail = '';
  for (let i = 0; i < 16; i++, n = Math.floor(n / 32)) tail = CROCKFORD[n % 32] + tail;
  return `01JF0000AA${tail}`;
}

const base = (draft: Partial<Draft> = {}): Draft => ({
  v: 1,
  source: 'fuzz',
  seq: 0,
  topic: 'events/fuzz',
  ts: '2026-12-03T10:00:00.123456Z',
  payload: null,
  bench: { intended_us: 1_764_756_000_000_000 },
  ...draft,
});
const text = (draft: Draft, eventId: string) => serializeEvent({ ...draft, event_id: eventId });
const noNul = (value: unknown) => !JSON.stringify(value).includes('\\u0000');
/** Adds raw `"key":value` pairs to an event's JSON text. */
const withKeys = (json: string, pairs: string) => `${json.slice(0, -1)},${pairs}}`;

const draft = fc.record({
  source: fc.oneof(fc.constant('fuzz'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\u0000'))),
  seq: fc.nat(),
  payload: fc.jsonValue({ maxDepth: 4 }).filter(noNul),
}).map((fields) => base(fields));

const valid: fc.Arbitrary<Case> = fc.oneof(
  draft.map((d) => ({ kind: 'valid' as const, what: 'plain', make: (id: string) => text(d, id) })),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }).filter((s) => !s.includes('\u0000')).map((s) => ({
    kind: 'valid' as const,
    what: 'unicode payload',
    make: (id: string) => text(base({ payload: { s, [s]: s } }), id),
  })),
  fc.integer({ min: 0, max: 50 }).map((k) => ({
    kind: 'valid' as const,
    what: 'payload just under the limit',
    make: (id: string) => text(base({ payload: 'x'.repeat(LIMIT - 2 - k) }), id),
  })),
  fc.constant<Case>({ kind: 'valid', what: 'source of exactly the most characters', make: (id) => text(base({ source: '€'.repeat(MAX_SOURCE_CHARS) }), id) }),
  fc.constant<Case>({
    kind: 'valid',
    what: 'prototype-pollution keys beside valid fields',
    make: (id) => withKeys(text(base({ payload: { safe: true } }), id), '"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}'),
  }),
);

/** A valid event's text changed by `change` so that it breaks a rule. */
const broken = (what: string, change: (json: string, eventId: string) => string | Buffer): Case => ({
  kind: 'invalid',
  what,
  make: (id) => {
    const out = change(text(base(), id), id);
    return typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
  },
});

const wrongType = fc.oneof(fc.constant(null), fc.boolean(), fc.constant([]), fc.constant({}), fc.string({ maxLength: 20 }), fc.double());
const invalid: fc.Arbitrary<Case> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'invalid' as const, what: 'random bytes', make: () => Buffer.from(bytes) })),
  fc.string({ unit: 'binary', maxLength: 300 }).map((s) => ({ kind: 'invalid' as const, what: 'random text', make: () => Buffer.from(s, 'utf8') })),
  fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => ({
    kind: 'invalid' as const,
    what: 'JSON that is not an object',
    make: () => Buffer.from(JSON.stringify(v)),
  })),
  fc.double({ min: 0, max: 0.999 }).map((at) => broken('truncated JSON', (json) => json.slice(0, Math.floor(at * json.length)))),
  fc.double({ min: 0, max: 0.999 }).map((at) =>
    broken('invalid UTF-8', (json) => {
      const bytes = Buffer.from(json);
      const cut = Math.floor(at * bytes.length);
      return Buffer.concat([bytes.subarray(0, cut), Buffer.from([0xff]), bytes.subarray(cut)]);
    }),
  ),
  fc.tuple(fc.constantFrom('v', 'event_id', 'source', 'seq', 'topic', 'ts'), wrongType).map(([field, value]) =>
    broken(`wrong type of ${field}`, (json) => {
      const object = JSON.parse(json) as Record<string, unknown>;
      // A string is the right type for event_id, source, topic and ts: make it one that breaks their rule.
      // A number is the right type for v and seq: make it one no rule allows (not 1, negative, not whole).
      const numeric = field === 'v' || field === 'seq';
      object[field] = typeof value === 'string' && !numeric ? `${value.slice(0, 10)}\u0000` : typeof value === 'number' && numeric ? -1.5 : value;
      return JSON.stringify(object);
    }),
  ),
  fc.constantFrom('v', 'event_id', 'source', 'seq', 'topic', 'ts', 'payload').map((field) =>
    broken(`missing ${field}`, (json) => {
      const object = JSON.parse(json) as Record<string, unknown>;
      delete object[field];
      return JSON.stringify(object);
    }),
  ),
  fc.constantFrom(-1, 1.5, 2 ** 53, -0.5).map((seq) => broken(`seq ${seq}`, (json) => JSON.stringify({ ...JSON.parse(json), seq }))),
  fc.integer({ min: 1, max: 3_000 }).map((k) => broken('payload over the limit', (_json, id) => text(base({ payload: 'x'.repeat(LIMIT - 2 + k) }), id))),
  fc.integer({ min: 1, max: 60 }).map((k) => broken('source over the limit', (_json, id) => text(base({ source: 'é'.repeat(MAX_SOURCE_CHARS + k) }), id))),
  fc.string({ maxLength: 30 }).map((s) => broken('NUL in the payload', (_json, id) => text(base({ payload: { note: `${s}\u0000${s}` } }), id))),
  fc.integer({ min: 1_000, max: 30_000 }).map((depth) =>
    broken('deep nesting (and v 2)', (json) => withKeys(json.replace('"v":1', '"v":2'), `"deep":${'['.repeat(depth)}${']'.repeat(depth)}`)),
  ),
  fc.constant(broken('every field only inside __proto__', (json) => `{"__proto__":${json}}`)),
  fc.constant(broken('a repeated key, the last one wrong', (json) => withKeys(json, '"v":2'))),
  fc.constantFrom('yesterday', '2026-12-03T10:00:00', '2026-13-01T00:00:00Z', '2026-12-03T10:00:00.1234567Z').map((ts) =>
    broken(`ts ${ts}`, (json) => JSON.stringify({ ...JSON.parse(json), ts })),
  ),
  fc.constantFrom((id: string) => id.toLowerCase(), (id: string) => `8${id.slice(1)}`, (id: string) => id.slice(1), (id: string) => `${id.slice(0, 25)}U`).map((bad) =>
    broken('event_id not a ULID', (json, id) => json.replace(id, bad(id))),
  ),
);

const cases = fc.array(fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: invalid, weight: 5 }, { arbitrary: fc.nat().map((pick) => ({ kind: 'repeat' as const, pick })), weight: 1 }), {
  minLength: CASES_PER_RUN,
  maxLength: CASES_PER_RUN,
});

const newDir = tempDirs('fuzz');
let broker: EmbeddedBroker;
let aggregator: AggregatorProcess;
let publisher: MqttClient;
let sinkFile: string;

beforeAll(async () => {
  sinkFile = join(newDir(), 'sink.db');
  broker = await EmbeddedBroker.start({ persistence: 'memory' });
  aggregator = new AggregatorProcess({
    ...DEFAULT_AGGREGATOR_CONFIG,
    broker_url: broker.url,
    client_id: 'fuzz-aggregator',
    topic: 'events/#',
    dedup: 'sqlite',
    sink: `sqlite:${sinkFile}`,
    batch_wait_ms: 2,
  });
  await aggregator.start();
  publisher = await mqtt.connectAsync(broker.url, { clientId: 'fuzz-publisher', reconnectPeriod: 0 });
}, 30_000);

afterAll(async () => {
  await publisher?.endAsync();
  await aggregator?.stop();
  await broker?.stop();
});

async function settle(expected: { rows: number; letters: number }): Promise<void> {
  const until = Date.now() + SETTLE_TIMEOUT_MS;
  while (Date.now() < until) {
    if (readSinkRows(sinkFile).length >= expected.rows && readDeadLetters(sinkFile).length >= expected.letters) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('fuzz: random and adversarial messages through a real broker into the reference aggregator', () => {
  it(`never crashes; dead-letters every invalid message with a reason; commits every valid event exactly once (${RUNS} × ${CASES_PER_RUN} cases, seed ${SEED})`, async () => {
    const pid = aggregator.pid;
    expect(pid).toBeDefined();
    const validIds = new Set<string>();
    const invalidTopics = new Map<string, string>();
    const kinds = new Map<string, number>();
    let n = 0;
    const details = await fc.check(
      fc.asyncProperty(cases, async (batch) => {
        const published: Promise<unknown>[] = [];
        const thisRun: string[] = [];
        for (const c of batch) {
          const topic = `events/fuzz/${n++}`;
          if (c.kind === 'repeat') {
            const id = thisRun[c.pick % Math.max(1, thisRun.length)];
            if (id === undefined) continue;
            published.push(publisher.publishAsync(topic, text(base(), id), { qos: 1 }));
            kinds.set('repeat', (kinds.get('repeat') ?? 0) + 1);
            continue;
          }
          const id = freshId();
          kinds.set(c.what, (kinds.get(c.what) ?? 0) + 1);
          if (c.kind === 'valid') {
            validIds.add(id);
            thisRun.push(id);
            // A repeat's text is the plain event: the first copy's decides what is kept.
            published.push(publisher.publishAsync(topic, c.make(id), { qos: 1 }));
          } else {
            invalidTopics.set(topic, c.what);
            published.push(publisher.publishAsync(topic, c.make(id), { qos: 1 }));
          }
        }
        await Promise.all(published);
        await settle({ rows: validIds.size, letters: invalidTopics.size });

        // The same process, alive: no crash, no restart.
        expect(aggregator.pid).toBe(pid);
        expect(() => process.kill(pid!, 0)).not.toThrow();
        const letters = readDeadLetters(sinkFile);
        const byTopic = new Map<string, number>();
        for (const letter of letters) {
          expect(letter.reason.trim(), `reason of the dead letter on ${letter.topic}`).not.toBe('');
          byTopic.set(letter.topic, (byTopic.get(letter.topic) ?? 0) + 1);
        }
        const missing = [...invalidTopics].filter(([topic]) => byTopic.get(topic) !== 1);
        expect(missing, 'invalid messages not dead-lettered exactly once').toEqual([]);
        expect(letters).toHaveLength(invalidTopics.size);
        const rows = readSinkRows(sinkFile);
        const stored = rows.map((row) => row.event_id);
        expect(new Set(stored).size, 'each event id once').toBe(stored.length);
        expect(new Set(stored)).toEqual(validIds);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The batch itself (480 closures) says little: the failed expectation names the messages.
    if (details.failed) throw new Error(`batch ${details.numRuns} of seed ${SEED} failed: ${String(details.errorInstance)}`);
    expect(n).toBe(RUNS * CASES_PER_RUN);
    // Every kind of case was made, valid and invalid.
    expect(kinds.size).toBeGreaterThanOrEqual(25);
    expect(validIds.size).toBeGreaterThan(500);
    expect(invalidTopics.size).toBeGreaterThan(1_000);
  }, 120_000);
});
