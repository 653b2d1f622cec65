// Wire format v1 of an event, as published by producers and the harness (docs/aggregator.md).
// The aggregator trusts nothing on the wire: every field is checked by parseEvent().

export const WIRE_VERSION = 1;

/** Stamp written by the harness: when the event was *meant* to be sent (open-model schedule). */
export interface BenchStamp {
  /** Intended send time, microseconds since the Unix epoch. */
  intended_us: number;
}

export interface Event {
  v: 1;
  /** Producer-assigned ULID (26 chars, Crockford base32); the deduplication key. */
  event_id: string;
  /** Publisher id. */
  source: string;
  /** Per-source sequence number, monotonically increasing from 0. */
  seq: number;
  topic: string;
  /** Event time, ISO 8601 with microseconds. */
  ts: string;
  payload: unknown;
  bench?: BenchStamp;
}

export interface EventFieldError {
  /** Field name ('' for the whole message, e.g. invalid JSON). */
  field: string;
  message: string;
}

export type ParseResult =
  | { ok: true; event: Event }
  | { ok: false; errors: EventFieldError[] };

export interface ParseOptions {
  /** Largest accepted serialised `payload`, in bytes. */
  maxPayloadBytes: number;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
