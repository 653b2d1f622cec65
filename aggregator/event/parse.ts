// Edge validation of wire-v1 events: turns raw MQTT payload bytes into a typed Event or into the
// complete list of reasons it is not one. Every problem is reported at once, each with its field,
// so a DLQ record says everything that is wrong with a poison message in one go.
// It must never throw on any input bytes: an invalid event is a permanent failure routed to the DLQ,
// never a crash of the consumer (docs/aggregator.md, "Event (wire v1)").

import { Buffer } from 'node:buffer';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  WIRE_VERSION,
  type BenchStamp,
  type Event,
  type EventFieldError,
  type ParseOptions,
  type ParseResult,
} from './types.ts';

/**
 * Room allowed for everything around `payload` (the other fields, whitespace) when bounding the raw
 * message size. Generous: a valid envelope is a few hundred bytes.
 */
export const ENVELOPE_ALLOWANCE_BYTES = 4096;

export const MAX_SOURCE_CHARS = 128;

// Crockford base32 without I, L, O, U. Upper case only: the dedup key is compared byte for byte, so
// accepting 'abc…' and 'ABC…' as the same ULID would need normalising everywhere ids are stored.
// The first character carries the top 3 bits of the 48-bit timestamp, so only 0-7 fit.
const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const CROCKFORD_UPPER = /^[0-9A-HJKMNP-TV-Z]*$/;
const ULID_LENGTH = 26;

// RFC 3339 profile of ISO 8601: a timezone is mandatory because event time is compared across
// hosts; fractions beyond microseconds would be silently truncated by every consumer, so they are refused.
const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

// fatal: invalid UTF-8 must be reported, not replaced by U+FFFD and then accepted as different text.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True for a 26-character upper-case Crockford base32 ULID whose timestamp fits in 48 bits. */
export function isUlid(s: string): boolean {
  return ULID_PATTERN.test(s);
}

/**
 * Parses and validates one raw message. Never throws on any message content; returns every
 * problem found. Throws RangeError only for an invalid `maxPayloadBytes` option, which is
 * configuration (a programming error), not input.
 */
export function parseEvent(raw: Buffer | string, options?: Partial<ParseOptions>): ParseResult {
  const maxPayloadBytes = options?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 0) {
    throw new RangeError(`maxPayloadBytes must be a non-negative safe integer, got ${maxPayloadBytes}`);
  }

  // Bound the work a poison message can cause before paying for decoding and JSON.parse.
  const rawBytes = typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.length;
  if (rawBytes > maxPayloadBytes + ENVELOPE_ALLOWANCE_BYTES) return messageTooLarge(rawBytes, options);

  let text: string;
  if (typeof raw === 'string') {
    text = raw;
  } else {
    try {
      text = utf8.decode(raw);
    } catch {
      return fail('', 'message is not valid UTF-8');
    }
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail('', `message is not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) {
    return fail('', `message must be a JSON object, got ${describe(parsed)}`);
  }

  return validate(parsed, maxPayloadBytes);
}

/**
 * The verdict on a message of `rawBytes` over the raw limit (maxPayloadBytes + the envelope), given
 * its size alone: the consumer hands over an oversized message's size, never the message itself.
 */
export function messageTooLarge(rawBytes: number, options?: Partial<ParseOptions>): ParseResult {
  const maxPayloadBytes = options?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const maxRawBytes = maxPayloadBytes + ENVELOPE_ALLOWANCE_BYTES;
  return fail('', `message is ${rawBytes} bytes, larger than the limit of ${maxRawBytes} bytes ` +
    `(payload limit ${maxPayloadBytes} + ${ENVELOPE_ALLOWANCE_BYTES} for the envelope); not parsed`);
}

/** JSON text of an event, fields in wire order; parseEvent(serializeEvent(e)) gives back e. */
export function serializeEvent(e: Event): string {
  const wire: Record<string, unknown> = {
    v: e.v,
    event_id: e.event_id,
    source: e.source,
    seq: e.seq,
    topic: e.topic,
    ts: e.ts,
    payload: e.payload,
  };
  if (e.bench !== undefined) wire.bench = { intended_us: e.bench.intended_us };
  return JSON.stringify(wire);
}

/** One line per event, for a DLQ record's reason. */
export function describeErrors(errors: readonly EventFieldError[]): string {
  return errors.map((e) => e.message).join('; ');
}

// Unknown top-level fields are ignored, not rejected: a producer on a later, compatible revision of
// v1 may add a field, and rejecting it would send every one of its events to the DLQ during a
// rolling upgrade. Incompatible changes bump `v`, which *is* rejected. The returned Event is built
// from the known fields only, so nothing unvalidated travels on to the sink.
function validate(message: Record<string, unknown>, maxPayloadBytes: number): ParseResult {
  // Pushed to directly: a closure made per call costs a function object (and a name) per event.
  const errors: EventFieldError[] = [];

  if (!has(message, 'v')) {
    errors.push({ field: 'v', message: 'v is required' });
  } else if (typeof message.v !== 'number') {
    errors.push({ field: 'v', message: `v must be the number ${WIRE_VERSION}, got ${describe(message.v)}` });
  } else if (message.v !== WIRE_VERSION) {
    errors.push({ field: 'v', message: `v ${message.v} is not supported (only v ${WIRE_VERSION} is understood)` });
  }

  const eventIdProblem = checkEventId(message);
  if (eventIdProblem !== undefined) errors.push({ field: 'event_id', message: eventIdProblem });

  const sourceProblem = checkString(message, 'source', MAX_SOURCE_CHARS);
  if (sourceProblem !== undefined) errors.push({ field: 'source', message: sourceProblem });

  if (!has(message, 'seq')) {
    errors.push({ field: 'seq', message: 'seq is required' });
  } else if (typeof message.seq !== 'number') {
    errors.push({ field: 'seq', message: `seq must be a number, got ${describe(message.seq)}` });
  } else if (!Number.isSafeInteger(message.seq) || message.seq < 0) {
    errors.push({ field: 'seq', message: `seq must be a non-negative safe integer, got ${message.seq}` });
  }

  const topicProblem = checkString(message, 'topic', undefined);
  if (topicProblem !== undefined) errors.push({ field: 'topic', message: topicProblem });

  if (!has(message, 'ts')) {
    errors.push({ field: 'ts', message: 'ts is required' });
  } else if (typeof message.ts !== 'string') {
    errors.push({ field: 'ts', message: `ts must be a string, got ${describe(message.ts)}` });
  } else {
    const tsProblem = checkTimestamp(message.ts);
    if (tsProblem !== undefined) errors.push({ field: 'ts', message: `ts ${tsProblem}` });
  }

  const measured: { text?: string } = {};
  if (!has(message, 'payload')) {
    errors.push({ field: 'payload', message: 'payload is required (null is allowed)' });
  } else {
    const payloadProblem = checkPayloadSize(message.payload, maxPayloadBytes, measured);
    if (payloadProblem !== undefined) errors.push({ field: 'payload', message: payloadProblem });
  }

  let bench: BenchStamp | undefined;
  if (has(message, 'bench')) {
    const stamp = message.bench;
    if (!isPlainObject(stamp)) {
      errors.push({ field: 'bench', message: `bench must be an object, got ${describe(stamp)}` });
    } else if (!has(stamp, 'intended_us')) {
      errors.push({ field: 'bench.intended_us', message: 'bench.intended_us is required when bench is present' });
    } else if (typeof stamp.intended_us !== 'number') {
      errors.push({ field: 'bench.intended_us', message: `bench.intended_us must be a number, got ${describe(stamp.intended_us)}` });
    } else if (!Number.isSafeInteger(stamp.intended_us) || stamp.intended_us <= 0) {
      errors.push({ field: 'bench.intended_us', message: `bench.intended_us must be a positive safe integer (µs since the epoch), got ${stamp.intended_us}` });
    } else {
      bench = { intended_us: stamp.intended_us };
    }
  }

  if (errors.length > 0) return { ok: false, errors };

  // Every field was checked above; the casts only restate what the checks established.
  const event = new ParsedEvent(
    message.event_id as string,
    message.source as string,
    message.seq as number,
    message.topic as string,
    message.ts as string,
    message.payload,
    bench,
    // Always set here: a present payload was measured (JSON.stringify(null) is 'null', as
    // payloadJson gives for a missing payload).
    measured.text!,
  );
  return { ok: true, event };
}

function checkEventId(message: Record<string, unknown>): string | undefined {
  if (!has(message, 'event_id')) return 'event_id is required';
  const id = message.event_id;
  if (typeof id !== 'string') return `event_id must be a string (ULID), got ${describe(id)}`;
  if (id.length !== ULID_LENGTH) {
    return `event_id must be a ULID of ${ULID_LENGTH} characters, got ${id.length} (${describe(id)})`;
  }
  if (!CROCKFORD_UPPER.test(id)) {
    if (CROCKFORD_UPPER.test(id.toUpperCase())) {
      return `event_id must be upper case: lower-case ULIDs are not accepted, got ${describe(id)}`;
    }
    const bad = [...new Set([...id].filter((c) => !CROCKFORD_UPPER.test(c.toUpperCase())))];
    return `event_id has characters outside Crockford base32 (0-9, A-Z without I, L, O, U): ` +
      `${bad.map((c) => JSON.stringify(c)).join(', ')}`;
  }
  if (!isUlid(id)) {
    return `event_id timestamp overflows 48 bits: the first character must be 0-7, got ${JSON.stringify(id[0])}`;
  }
  return undefined;
}

function checkString(
  message: Record<string, unknown>,
  field: 'source' | 'topic',
  maxChars: number | undefined,
): string | undefined {
  if (!has(message, field)) return `${field} is required`;
  const value = message[field];
  if (typeof value !== 'string') return `${field} must be a string, got ${describe(value)}`;
  if (value.length === 0) return `${field} must not be empty`;
  if (value.includes('\u0000')) return `${field} ${NUL_REFUSED}`;
  // Code points, not UTF-16 units, so the limit means the same for any script. A string has at
  // most as many code points as UTF-16 units, so a short one needs no counting.
  if (maxChars !== undefined && value.length > maxChars) {
    const chars = [...value].length;
    if (chars > maxChars) return `${field} must be at most ${maxChars} characters, got ${chars}`;
  }
  return undefined;
}

/** Character code of '0'. */
const ZERO = 48;

/** Two decimal digits at `at`, or -1. */
function twoDigits(ts: string, at: number): number {
  const a = ts.charCodeAt(at) - ZERO;
  const b = ts.charCodeAt(at + 1) - ZERO;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The common form, YYYY-MM-DDTHH:MM:SS.ffffffZ with 6 fractional digits (what the harness and most
 * producers write), checked without the regular expression: true when it is that form and a real
 * date and time. False says nothing: the full check decides.
 */
export function isCommonTimestamp(ts: string): boolean {
  if (ts.length !== 27 || ts[4] !== '-' || ts[7] !== '-' || ts[10] !== 'T' || ts[13] !== ':' || ts[16] !== ':' || ts[19] !== '.' || ts[26] !== 'Z') {
    return false;
  }
  for (let i = 20; i < 26; i++) {
    const d = ts.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return false;
  }
  const century = twoDigits(ts, 0);
  const yy = twoDigits(ts, 2);
  const month = twoDigits(ts, 5);
  const day = twoDigits(ts, 8);
  const hour = twoDigits(ts, 11);
  const minute = twoDigits(ts, 14);
  const second = twoDigits(ts, 17);
  if (century < 0 || yy < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return false;
  }
  return day <= daysInMonth(century * 100 + yy, month);
}

/** Why `ts` is not an acceptable timestamp (without the field name), or undefined. */
function checkTimestamp(ts: string): string | undefined {
  return isCommonTimestamp(ts) ? undefined : timestampProblem(ts);
}

/** The full check of any form (the regular expression, then each part); exported for the test that the fast path agrees with it. */
export function timestampProblem(ts: string): string | undefined {
  const match = TIMESTAMP_PATTERN.exec(ts);
  if (match === null) {
    return `must be ISO 8601 with a timezone, like 2026-11-25T06:25:00.123456Z ` +
      `(at most 6 fractional digits), got ${describe(ts)}`;
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number, number, number, number, number, number,
  ];
  // Date.parse rolls impossible dates over (Feb 30 becomes Mar 1), so each part is checked here.
  const problems: string[] = [];
  if (month < 1 || month > 12) problems.push(`month ${month}`);
  else if (day < 1 || day > daysInMonth(year, month)) problems.push(`day ${day}`);
  if (hour > 23) problems.push(`hour ${hour}`);
  if (minute > 59) problems.push(`minute ${minute}`);
  // A leap second (60) is valid ISO 8601 but cannot be represented by Date or by our clocks.
  if (second > 59) problems.push(`second ${second}`);
  const [offsetHour, offsetMinute] = [match[9], match[10]].map(Number) as [number, number];
  if (match[8] !== undefined && (offsetHour > 23 || offsetMinute > 59)) problems.push('timezone offset');
  if (problems.length > 0) {
    return `is not a real date and time (${problems.join(', ')} out of range), got ${describe(ts)}`;
  }
  return undefined;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Proleptic Gregorian calendar, as Date uses. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

/**
 * An Event as parseEvent returns it: the wire fields, and the payload's JSON text as validation
 * measured it, kept for the sink (which stores that text) so that a valid event's payload is
 * serialised once, not twice. The text is a private field: not enumerable, not in JSON, not seen by
 * a spread or by toEqual. (It was a WeakMap keyed by the event, an object literal that got `bench`
 * added after: parseEvent of a dup-storm message, 256 bytes of payload, took 3.9 µs in a loop, now
 * 2.1–2.2; a WeakMap entry is also an ephemeron for the GC to trace.)
 */
class ParsedEvent implements Event {
  // Assigned in the constructor in wire order (v first), so that keys and JSON keep that order.
  declare v: 1;
  declare event_id: string;
  declare source: string;
  declare seq: number;
  declare topic: string;
  declare ts: string;
  declare payload: unknown;
  declare bench?: BenchStamp;
  readonly #payloadText: string;

  constructor(event_id: string, source: string, seq: number, topic: string, ts: string, payload: unknown, bench: BenchStamp | undefined, payloadText: string) {
    this.v = WIRE_VERSION;
    this.event_id = event_id;
    this.source = source;
    this.seq = seq;
    this.topic = topic;
    this.ts = ts;
    this.payload = payload;
    if (bench !== undefined) this.bench = bench;
    this.#payloadText = payloadText;
  }

  static payloadTextOf(event: Event): string | undefined {
    return #payloadText in event ? (event as ParsedEvent).#payloadText : undefined;
  }
}

/** JSON text of an event's payload (null when it has none), as the sink stores it. */
export function payloadJson(event: Event): string {
  return ParsedEvent.payloadTextOf(event) ?? JSON.stringify(event.payload ?? null);
}

function checkPayloadSize(payload: unknown, maxPayloadBytes: number, measured: { text?: string }): string | undefined {
  let serialised: string;
  try {
    serialised = JSON.stringify(payload);
  } catch {
    // JSON.parse nests iteratively but JSON.stringify recurses: a deeply nested array parses fine
    // and then overflows the stack here. The sink would have to serialise it too, so it is refused.
    return 'payload cannot be serialised (nested too deeply)';
  }
  measured.text = serialised;
  // JSON text escapes U+0000 as \u0000, so text without that sequence holds none; with it (or with
  // an escaped backslash before "u0000"), the value itself is searched.
  if (serialised.includes('\\u0000') && holdsNul(payload)) return `payload ${NUL_REFUSED}`;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: a short text needs no byte count.
  const bytes = serialised.length * 3 <= maxPayloadBytes ? serialised.length : Buffer.byteLength(serialised, 'utf8');
  if (bytes > maxPayloadBytes) {
    return `payload is ${bytes} bytes serialised, larger than the limit of ${maxPayloadBytes} bytes`;
  }
  return undefined;
}

/**
 * A sink must be able to store every event the parser accepts: PostgreSQL text and jsonb cannot hold
 * U+0000 (SQLSTATE 22021, 22P05), so an event with one would be refused by the sink and the failure
 * could not be told from the sink's own. Refused here, it is an invalid event with its reason.
 */
const NUL_REFUSED = 'must not contain a NUL character (U+0000): PostgreSQL cannot store it in text or jsonb';

/** True when a string (or object key) anywhere inside `value` contains U+0000. Iterative: payloads may nest deeply. */
function holdsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return true;
    } else if (Array.isArray(item)) {
      for (const inner of item) stack.push(inner);
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, inner] of Object.entries(item)) {
        if (key.includes('\u0000')) return true;
        stack.push(inner);
      }
    }
  }
  return false;
}

function fail(field: string, message: string): ParseResult {
  return { ok: false, errors: [{ field, message }] };
}

function has(object: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Short description of an unexpected value for an error message; long strings are cut. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
