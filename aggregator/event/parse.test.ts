import { Buffer } from 'node:buffer';
import { ulid } from 'ulid';
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  ENVELOPE_ALLOWANCE_BYTES,
  describeErrors,
  isCommonTimestamp,
  isUlid,
  parseEvent,
  payloadJson,
  serializeEvent,
  timestampProblem,
  type Event,
  type EventFieldError,
  type ParseResult,
} from './index.ts';

function validEvent(overrides: Partial<Event> = {}): Event {
  return {
    v: 1,
    event_id: ulid(),
    source: 'pub-0',
    seq: 7,
    topic: 'events/pub-0',
    ts: '2026-11-25T06:25:00.123456Z',
    payload: { level: 'info', msg: 'hello' },
    bench: { intended_us: 1_795_000_000_000_000 },
    ...overrides,
  };
}

/** A wire message built from a valid event with some fields replaced or (value undefined) removed. */
function wire(changes: Record<string, unknown>): string {
  const message: Record<string, unknown> = { ...validEvent(), ...changes };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete message[key];
  }
  return JSON.stringify(message);
}

function errorsOf(result: ParseResult): EventFieldError[] {
  if (result.ok) throw new Error('expected the event to be rejected');
  return result.errors;
}

function only(result: ParseResult, field: string): string {
  const errors = errorsOf(result);
  expect(errors.map((e) => e.field)).toEqual([field]);
  return errors[0]!.message;
}

describe('parseEvent: valid events', () => {
  it('round-trips through serializeEvent, from a string and from a Buffer', () => {
    const event = validEvent();
    const text = serializeEvent(event);
    expect(parseEvent(text)).toEqual({ ok: true, event });
    expect(parseEvent(Buffer.from(text, 'utf8'))).toEqual({ ok: true, event });
  });

  it('accepts an event without bench, any JSON payload including null, and offsets or no fraction', () => {
    for (const payload of [null, 0, 'text', [1, 2], { nested: { deep: true } }]) {
      const event = validEvent({ payload, ts: '2026-01-01T00:00:00+05:30' });
      delete event.bench;
      expect(parseEvent(serializeEvent(event))).toEqual({ ok: true, event });
    }
    for (const ts of ['2026-01-01T00:00:00.1Z', '2024-02-29T23:59:59.999999-08:00']) {
      expect(parseEvent(wire({ ts })).ok).toBe(true);
    }
  });

  it('ignores unknown top-level fields and leaves them out of the event', () => {
    const result = parseEvent(wire({ added_in_v1_1: 'x', trace: { id: 1 } }));
    expect(result.ok).toBe(true);
    if (result.ok) expect(Object.keys(result.event)).not.toContain('added_in_v1_1');
  });

  it('serialises fields in wire order whatever order the object was built in', () => {
    const { bench, payload, ts, ...rest } = validEvent();
    const shuffled: Event = { bench, payload, ts, ...rest };
    expect(Object.keys(JSON.parse(serializeEvent(shuffled)) as object)).toEqual([
      'v', 'event_id', 'source', 'seq', 'topic', 'ts', 'payload', 'bench',
    ]);
  });
});

describe('parseEvent: whole-message errors', () => {
  it('reports invalid JSON against field ""', () => {
    expect(only(parseEvent('{"v":1,'), '')).toMatch(/not valid JSON/);
  });

  it('reports invalid UTF-8 instead of replacing it', () => {
    expect(only(parseEvent(Buffer.from([0x7b, 0xff, 0x7d])), '')).toMatch(/UTF-8/);
  });

  it.each([
    ['null', 'null'],
    ['[1,2]', 'an array'],
    ['"str"', 'string'],
    ['42', 'number 42'],
  ])('rejects %s as not an object', (text, described) => {
    const message = only(parseEvent(text), '');
    expect(message).toMatch(/must be a JSON object/);
    expect(message).toContain(described);
  });

  it('rejects an oversized raw message without parsing it', () => {
    const maxPayloadBytes = 100;
    // Not even JSON: a parse attempt would report invalid JSON instead of the size.
    const raw = Buffer.alloc(maxPayloadBytes + ENVELOPE_ALLOWANCE_BYTES + 1, 0x7b);
    const message = only(parseEvent(raw, { maxPayloadBytes }), '');
    expect(message).toContain(`${raw.length} bytes`);
    expect(message).toContain(`${maxPayloadBytes + ENVELOPE_ALLOWANCE_BYTES} bytes`);
    expect(message).toMatch(/not parsed/);
  });

  it('measures a string message in UTF-8 bytes, not characters', () => {
    const maxPayloadBytes = 10;
    const raw = 'é'.repeat((maxPayloadBytes + ENVELOPE_ALLOWANCE_BYTES) / 2 + 1);
    expect(only(parseEvent(raw, { maxPayloadBytes }), '')).toMatch(/not parsed/);
  });

  it('throws only for invalid options, which are configuration', () => {
    expect(() => parseEvent('{}', { maxPayloadBytes: -1 })).toThrow(RangeError);
    expect(() => parseEvent('{}', { maxPayloadBytes: Number.NaN })).toThrow(RangeError);
  });
});

describe('parseEvent: field errors', () => {
  it.each(['v', 'event_id', 'source', 'seq', 'topic', 'ts', 'payload'])('requires %s', (field) => {
    expect(only(parseEvent(wire({ [field]: undefined })), field)).toMatch(/required/);
  });

  it.each([
    ['v', '1'],
    ['event_id', 123],
    ['source', null],
    ['seq', '7'],
    ['topic', ['a']],
    ['ts', 1_700_000_000],
  ])('rejects %s of the wrong type (%j)', (field, value) => {
    expect(only(parseEvent(wire({ [field]: value })), field)).toMatch(/must be/);
  });

  it('rejects unsupported versions', () => {
    for (const v of [0, 2, 1.5]) {
      expect(only(parseEvent(wire({ v })), 'v')).toContain(`v ${v} is not supported (only v 1 is understood)`);
    }
  });

  describe('event_id', () => {
    it('must be 26 characters', () => {
      expect(only(parseEvent(wire({ event_id: ulid().slice(1) })), 'event_id')).toMatch(/26 characters, got 25/);
    });

    it('must be upper case, and says so', () => {
      expect(only(parseEvent(wire({ event_id: ulid().toLowerCase() })), 'event_id')).toMatch(/upper case/);
    });

    it('must use the Crockford alphabet, naming the offending characters', () => {
      const id = `${ulid().slice(0, 23)}ILU`;
      const message = only(parseEvent(wire({ event_id: id })), 'event_id');
      expect(message).toMatch(/Crockford/);
      expect(message).toContain('"I", "L", "U"');
    });

    it('must start with 0-7 (48-bit timestamp)', () => {
      expect(only(parseEvent(wire({ event_id: `8${ulid().slice(1)}` })), 'event_id')).toMatch(/overflows 48 bits/);
    });
  });

  it('isUlid agrees with the parser', () => {
    const id = ulid();
    expect(isUlid(id)).toBe(true);
    expect(isUlid('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(true);
    expect(isUlid(id.toLowerCase())).toBe(false);
    expect(isUlid(`8${id.slice(1)}`)).toBe(false);
    expect(isUlid(`${id}0`)).toBe(false);
    expect(isUlid(`${id.slice(0, 25)}O`)).toBe(false);
  });

  it('source must be non-empty and at most 128 characters (code points)', () => {
    expect(only(parseEvent(wire({ source: '' })), 'source')).toMatch(/must not be empty/);
    expect(only(parseEvent(wire({ source: 'x'.repeat(129) })), 'source')).toMatch(/at most 128 characters, got 129/);
    // 128 astral characters are 256 UTF-16 units but only 128 characters.
    expect(parseEvent(wire({ source: '😀'.repeat(128) })).ok).toBe(true);
  });

  it('topic must be non-empty', () => {
    expect(only(parseEvent(wire({ topic: '' })), 'topic')).toMatch(/must not be empty/);
  });

  it('refuses a NUL character (U+0000) in any text field, payload strings and keys included: PostgreSQL cannot store it', () => {
    expect(only(parseEvent(wire({ source: 'pub\u0000' })), 'source')).toMatch(/must not contain a NUL character \(U\+0000\): PostgreSQL/);
    expect(only(parseEvent(wire({ topic: 'events/\u0000' })), 'topic')).toMatch(/NUL character/);
    expect(only(parseEvent(wire({ payload: { msg: 'a\u0000b' } })), 'payload')).toMatch(/NUL character/);
    expect(only(parseEvent(wire({ payload: [[{ deep: ['x', 'y\u0000'] }]] })), 'payload')).toMatch(/NUL character/);
    expect(only(parseEvent(wire({ payload: { ['k\u0000']: 1 } })), 'payload')).toMatch(/NUL character/);
    expect(only(parseEvent(wire({ payload: '\u0000' })), 'payload')).toMatch(/NUL character/);
    // The six characters \u0000 (an escaped backslash on the wire) are text PostgreSQL stores.
    expect(parseEvent(wire({ payload: { msg: '\\u0000' } })).ok).toBe(true);
    expect(parseEvent(wire({ payload: { msg: 'no nul here' } })).ok).toBe(true);
  });

  it.each([-1, 1.5, 2 ** 53, Number.MAX_VALUE])('seq %s is not a non-negative safe integer', (seq) => {
    expect(only(parseEvent(wire({ seq })), 'seq')).toMatch(/non-negative safe integer/);
  });

  it('seq 0 is valid', () => {
    expect(parseEvent(wire({ seq: 0 })).ok).toBe(true);
  });

  describe('ts', () => {
    it.each([
      '2026-11-25T06:25:00.123456', // no timezone
      '2026-11-25 06:25:00Z', // space separator
      '2026-11-25T06:25:00.1234567Z', // nanoseconds
      '2026-11-25', // date only
      'yesterday',
      '2026-11-25T06:25:00+0100', // offset without colon
    ])('rejects the format of %s', (ts) => {
      expect(only(parseEvent(wire({ ts })), 'ts')).toMatch(/ISO 8601 with a timezone/);
    });

    it.each([
      ['2026-13-01T00:00:00Z', 'month 13'],
      ['2026-02-29T00:00:00Z', 'day 29'],
      ['2026-04-31T00:00:00Z', 'day 31'],
      ['2026-01-01T24:00:00Z', 'hour 24'],
      ['2026-01-01T00:60:00Z', 'minute 60'],
      ['2026-01-01T00:00:60Z', 'second 60'],
      ['2026-01-01T00:00:00+24:00', 'timezone offset'],
    ])('rejects the impossible date %s', (ts, part) => {
      const message = only(parseEvent(wire({ ts })), 'ts');
      expect(message).toMatch(/not a real date and time/);
      expect(message).toContain(part);
    });
  });

  describe('payload size', () => {
    it('accepts a payload of exactly the limit and rejects one byte more, stating size and limit', () => {
      const maxPayloadBytes = 1000;
      const fits = 'a'.repeat(maxPayloadBytes - 2); // the quotes are 2 bytes
      expect(parseEvent(wire({ payload: fits }), { maxPayloadBytes }).ok).toBe(true);
      const message = only(parseEvent(wire({ payload: `${fits}a` }), { maxPayloadBytes }), 'payload');
      expect(message).toContain('1001 bytes');
      expect(message).toContain('limit of 1000 bytes');
    });

    it('counts UTF-8 bytes, not characters', () => {
      const payload = 'é'.repeat(500); // 1000 bytes + 2 quotes
      expect(only(parseEvent(wire({ payload }), { maxPayloadBytes: 1000 }), 'payload')).toContain('1002 bytes');
    });

    it('uses DEFAULT_MAX_PAYLOAD_BYTES by default', () => {
      const payload = 'a'.repeat(DEFAULT_MAX_PAYLOAD_BYTES - 1);
      expect(only(parseEvent(wire({ payload })), 'payload')).toContain(`limit of ${DEFAULT_MAX_PAYLOAD_BYTES} bytes`);
    });

    it('rejects a payload nested too deeply to serialise, without throwing', () => {
      const depth = 60_000;
      const raw = wire({ payload: 0 }).replace('"payload":0', `"payload":${'['.repeat(depth)}${']'.repeat(depth)}`);
      expect(only(parseEvent(raw, { maxPayloadBytes: 2 * depth }), 'payload')).toMatch(/nested too deeply/);
    });
  });

  describe('bench', () => {
    it.each([null, 5, 'x', [1]])('must be an object, not %j', (bench) => {
      expect(only(parseEvent(wire({ bench })), 'bench')).toMatch(/must be an object/);
    });

    it('requires intended_us', () => {
      expect(only(parseEvent(wire({ bench: {} })), 'bench.intended_us')).toMatch(/required/);
    });

    it.each([0, -5, 1.5, 2 ** 53])('intended_us %s is not a positive safe integer', (intended_us) => {
      expect(only(parseEvent(wire({ bench: { intended_us } })), 'bench.intended_us')).toMatch(/positive safe integer/);
    });

    it('rejects intended_us of the wrong type', () => {
      expect(only(parseEvent(wire({ bench: { intended_us: '1' } })), 'bench.intended_us')).toMatch(/must be a number/);
    });
  });
});

describe('parseEvent: several problems at once', () => {
  it('reports every invalid field together, in wire order', () => {
    const raw = wire({
      v: 2,
      event_id: 'not-a-ulid',
      source: '',
      seq: -1,
      topic: undefined,
      ts: '2026-02-30T00:00:00Z',
      payload: 'x'.repeat(50),
      bench: { intended_us: 0 },
    });
    const errors = errorsOf(parseEvent(raw, { maxPayloadBytes: 10 }));
    expect(errors.map((e) => e.field)).toEqual([
      'v', 'event_id', 'source', 'seq', 'topic', 'ts', 'payload', 'bench.intended_us',
    ]);
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
    const reason = describeErrors(errors);
    for (const e of errors) expect(reason).toContain(e.message);
  });

  it('reports every missing field of an empty object', () => {
    const errors = errorsOf(parseEvent('{}'));
    expect(errors.map((e) => e.field)).toEqual(['v', 'event_id', 'source', 'seq', 'topic', 'ts', 'payload']);
  });
});

describe('payloadJson', () => {
  it('gives the payload text validation measured, and computes it for an event parseEvent did not return', () => {
    const sent = validEvent({ payload: { reading: 21.5, tags: ['a', 'é'], nested: { n: null } } });
    const parsed = parseEvent(serializeEvent(sent));
    if (!parsed.ok) throw new Error(describeErrors(parsed.errors));
    expect(payloadJson(parsed.event)).toBe(JSON.stringify(sent.payload));
    expect(payloadJson(validEvent({ payload: [1, 2] }))).toBe('[1,2]');
    expect(payloadJson({ ...validEvent(), payload: undefined })).toBe('null');
  });

  it('serialises a parsed event\'s payload once: the sink reads the text validation made, which no copy, spread or JSON of the event carries', () => {
    const sent = validEvent({ payload: { reading: 21.5 }, bench: { intended_us: 1_700_000_000_000_000 } });
    const parsed = parseEvent(serializeEvent(sent));
    if (!parsed.ok) throw new Error(describeErrors(parsed.errors));
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      expect(payloadJson(parsed.event)).toBe('{"reading":21.5}');
      expect(stringify).not.toHaveBeenCalled();
    } finally {
      stringify.mockRestore();
    }
    // The event is the wire fields and nothing else, in wire order.
    expect(parsed.event).toEqual(sent);
    expect(Object.keys(parsed.event)).toEqual(['v', 'event_id', 'source', 'seq', 'topic', 'ts', 'payload', 'bench']);
    expect(JSON.parse(JSON.stringify(parsed.event))).toEqual(sent);
    expect({ ...parsed.event }).toEqual(sent);
    // A changed copy is serialised again, not given the original's text.
    expect(payloadJson({ ...parsed.event, payload: { reading: 22 } })).toBe('{"reading":22}');
    const withoutBench = parseEvent(serializeEvent(validEvent({ bench: undefined })));
    expect(withoutBench.ok && Object.keys(withoutBench.event)).not.toContain('bench');
  });

  it('measures a multi-byte payload in bytes, not characters', () => {
    const payload = 'é'.repeat(60); // 120 bytes of UTF-8, 62 characters of JSON
    expect(parseEvent(serializeEvent(validEvent({ payload })), { maxPayloadBytes: 122 }).ok).toBe(true);
    const over = errorsOf(parseEvent(serializeEvent(validEvent({ payload })), { maxPayloadBytes: 121 }));
    expect(over.map((e) => e.field)).toEqual(['payload']);
  });
});

describe('the common timestamp form without the regular expression', () => {
  it('accepts exactly what the full check accepts, for any digits in YYYY-MM-DDTHH:MM:SS.ffffffZ', () => {
    const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
    // Each part from 0 to just past its limit, so that one part out of range is common.
    const part = (max: number) => fc.integer({ min: 0, max: max + 2 }).map((n) => String(n).padStart(2, '0'));
    const near = fc.tuple(digits(4), part(12), part(31), part(23), part(59), part(59), digits(6)).map(
      ([y, mo, d, h, mi, s, f]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.${f}Z`,
    );
    // Real dates too (most random digits are not), leap days and month ends among them.
    const real = fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2400-12-31T23:59:59Z'), noInvalidDate: true }).map((date) => date.toISOString().replace('Z', '123Z'));
    fc.assert(
      fc.property(fc.oneof(near, real), (ts) => {
        expect(isCommonTimestamp(ts)).toBe(timestampProblem(ts) === undefined);
      }),
      { numRuns: 20_000 },
    );
    for (const ts of ['2024-02-29T00:00:00.000000Z', '2100-02-29T00:00:00.000000Z', '2000-02-29T23:59:59.999999Z', '2026-04-31T00:00:00.000000Z']) {
      expect(isCommonTimestamp(ts), ts).toBe(timestampProblem(ts) === undefined);
    }
    // Other forms are left to the full check.
    expect(isCommonTimestamp('2026-11-25T06:25:00Z')).toBe(false);
    expect(isCommonTimestamp('2026-11-25T06:25:00.123456+01:00')).toBe(false);
  });
});
