// The four event-id designs of theory table 3 and the seeded sensor workload they are compared on.
// Pure: no sockets, no files, no clocks; every random choice comes from the seed, so a workload and
// its ids replay exactly. The experiment (event-ids.ts) does the publishing and the inserting.
//
// The aggregator's wire format accepts only a 26-character ULID as event_id (aggregator/event/
// parse.ts). A UUIDv4 and a 128-bit hash are both 128 bits, like a ULID, so they are written in the
// ULID's text form (ulid's uuidToULID): same length, same alphabet, same bits. Only what the bits
// mean changes, which is the point of the comparison: time first (ULID) or random (UUIDv4, hash).

import { createHash } from 'node:crypto';
import { monotonicFactory, uuidToULID } from 'ulid';
import { deriveSeed, seededRandom, type Random } from '../../aggregator/random.ts';
import type { Event } from '../../aggregator/event/types.ts';

export type IdScheme = 'ulid' | 'uuid4' | 'natural-key' | 'consumer';

export const ID_SCHEMES: readonly IdScheme[] = ['ulid', 'uuid4', 'natural-key', 'consumer'];

/** Who assigns the id, and what it is made of; for the table's text column. */
export const SCHEME_DESCRIPTIONS: Record<IdScheme, string> = {
  ulid: 'producer: ULID (time + random)',
  uuid4: 'producer: UUIDv4 (random)',
  'natural-key': 'producer: hash of natural key',
  consumer: 'consumer: fresh ULID on receipt',
};

/** A reading as the producer knows it, before any id is attached. `source` + `seq` is its true identity. */
export interface Reading {
  source: string;
  seq: number;
  topic: string;
  /** Event time, µs since the epoch. */
  ts_us: number;
  sensor: string;
  value: number;
  /** True for a second reading of the same sensor in the same second as the reading before it. */
  same_key_as_previous: boolean;
}

export interface WorkloadOptions {
  seed: number;
  sources: number;
  events_per_source: number;
  /** Sensors per source; a source reads them in turn, each once per second. */
  sensors_per_source: number;
  /** Probability that a reading is followed by a genuinely distinct second reading of the same sensor in the same second. */
  same_key_probability: number;
  /** Topic prefix; the topic of a reading is `<prefix>/<source>`. */
  topic_prefix: string;
}

/** Event time of the first reading: a fixed instant, so that ids minted from event time replay. */
const EPOCH_US = Date.UTC(2026, 0, 1) * 1000;
/** Spread of the producers' clocks around each other, in whole seconds (they are different machines). */
const CLOCK_SPREAD_SECONDS = 5;
/** Most sensors per source for which a same-key reading 1-150 ms later stays inside the same second. */
export const MAX_SENSORS_PER_SOURCE = 4;

/**
 * Readings per source in send order. Source k reads its sensors in turn, each once per second
 * (sensor i at i/sensors of the second, all starting on a whole second of the source's own clock).
 * With `same_key_probability` a reading is followed, 1-150 ms later, by another reading of the same
 * sensor: a distinct event (own seq, own value) with the same natural key (source, sensor, second).
 */
export function generateReadings(options: WorkloadOptions): Reading[][] {
  if (!Number.isInteger(options.sensors_per_source) || options.sensors_per_source < 1 || options.sensors_per_source > MAX_SENSORS_PER_SOURCE) {
    throw new RangeError(`sensors_per_source must be an integer in [1, ${MAX_SENSORS_PER_SOURCE}], got ${options.sensors_per_source}`);
  }
  const perSource: Reading[][] = [];
  const stepUs = Math.floor(1_000_000 / options.sensors_per_source);
  for (let s = 0; s < options.sources; s++) {
    const source = `sensor-host-${s}`;
    const random = seededRandom(deriveSeed(options.seed, `event-ids.workload.${source}`));
    const clockOffsetSeconds = Math.floor(random() * CLOCK_SPREAD_SECONDS);
    const readings: Reading[] = [];
    let seq = 0;
    for (let i = 0; seq < options.events_per_source; i++) {
      const sensorIndex = i % options.sensors_per_source;
      const second = Math.floor(i / options.sensors_per_source) + clockOffsetSeconds;
      const tsUs = EPOCH_US + second * 1_000_000 + sensorIndex * stepUs;
      const sensor = `probe-${sensorIndex}`;
      const topic = `${options.topic_prefix}/${source}`;
      readings.push({ source, seq: seq++, topic, ts_us: tsUs, sensor, value: reading(random), same_key_as_previous: false });
      if (seq < options.events_per_source && random() < options.same_key_probability) {
        // Still inside the same second: the largest offset is (sensors-1)/sensors s + 150 ms < 1 s for sensors <= 4.
        const laterUs = tsUs + 1_000 + Math.floor(random() * 149_000);
        readings.push({ source, seq: seq++, topic, ts_us: laterUs, sensor, value: reading(random), same_key_as_previous: true });
      }
    }
    perSource.push(readings);
  }
  return perSource;
}

function reading(random: Random): number {
  return Math.round((18 + random() * 8) * 10) / 10;
}

/** The natural key of a reading: source, sensor and event time truncated to the second. */
export function naturalKeyOf(reading: Pick<Reading, 'source' | 'sensor' | 'ts_us'>): string {
  return `${reading.source}|${reading.sensor}|${Math.floor(reading.ts_us / 1_000_000)}`;
}

/** 128 bits as a UUID string (8-4-4-4-12 hex). */
function uuidText(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A version-4 UUID from a seeded source (crypto.randomUUID draws the same 122 random bits from the
 * OS; this one replays from the seed).
 */
export function seededUuid4(random: Random): string {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Math.floor(random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return uuidText(bytes);
}

/** An id in the wire format's ULID text form for 128 bits given as a UUID string. */
export function wireIdOfUuid(uuid: string): string {
  return uuidToULID(uuid);
}

/** The natural-key id: the first 128 bits of SHA-256 of the natural key, in ULID text form. */
export function naturalKeyId(key: string): string {
  return wireIdOfUuid(uuidText(createHash('sha256').update(key).digest().subarray(0, 16)));
}

/**
 * Mints producer-side ids: one per reading, at the producer, before the first send (a retry sends
 * the same bytes again). 'consumer' mints nothing here: the producer sends no id at all.
 */
export class ProducerIds {
  private readonly ulidBySource = new Map<string, (timeMs: number) => string>();
  private readonly random: Random;

  constructor(
    readonly scheme: IdScheme,
    private readonly seed: number,
  ) {
    this.random = seededRandom(deriveSeed(seed, `event-ids.ids.${scheme}`));
  }

  idFor(reading: Pick<Reading, 'source' | 'sensor' | 'ts_us'>): string | undefined {
    switch (this.scheme) {
      case 'ulid': {
        // Each producer has its own monotonic generator: ids it mints in one millisecond still sort.
        let mint = this.ulidBySource.get(reading.source);
        if (!mint) {
          mint = monotonicFactory(seededRandom(deriveSeed(this.seed, `event-ids.ulid.${reading.source}`)));
          this.ulidBySource.set(reading.source, mint);
        }
        return mint(Math.floor(reading.ts_us / 1000));
      }
      case 'uuid4':
        return wireIdOfUuid(seededUuid4(this.random));
      case 'natural-key':
        return naturalKeyId(naturalKeyOf(reading));
      case 'consumer':
        return undefined;
    }
  }
}

/** Mints consumer-side ids: a fresh ULID for every delivery, retries included. */
export class ConsumerIds {
  private readonly mint: (timeMs: number) => string;

  constructor(seed: number) {
    this.mint = monotonicFactory(seededRandom(deriveSeed(seed, 'event-ids.consumer')));
  }

  idAt(receivedMs: number): string {
    return this.mint(receivedMs);
  }
}

/** The wire-v1 message of a reading; without `event_id` when the consumer is to assign it. */
export function wireMessage(reading: Reading, eventId: string | undefined): string {
  const wire: Record<string, unknown> = { v: 1 };
  if (eventId !== undefined) wire.event_id = eventId;
  Object.assign(wire, {
    source: reading.source,
    seq: reading.seq,
    topic: reading.topic,
    ts: isoMicros(reading.ts_us),
    payload: { sensor: reading.sensor, metric: 'temperature_c', value: reading.value },
  });
  return JSON.stringify(wire);
}

/** ISO 8601 with microseconds, UTC. */
export function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = String(us % 1_000_000).padStart(6, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${micros}Z`;
}

/** A reading as a wire-v1 Event with the given id (for inserting straight into a sink). */
export function eventOf(reading: Reading, eventId: string): Event {
  return {
    v: 1,
    event_id: eventId,
    source: reading.source,
    seq: reading.seq,
    topic: reading.topic,
    ts: isoMicros(reading.ts_us),
    payload: { sensor: reading.sensor, metric: 'temperature_c', value: reading.value },
  };
}

export interface RetryPlanOptions {
  seed: number;
  /** Probability that a producer's PUBACK for an event is lost or late, so it sends the event again. */
  retry_probability: number;
  /** Of the retried events, the probability that the second send also goes unacknowledged (a third send). */
  second_retry_probability: number;
  /** A retry goes out after 1..this many further sends of the same producer (it waited for a timeout). */
  max_retry_delay_sends: number;
}

/** One send of a producer: the index of the reading it sends, and whether it is a retry. */
export interface Send {
  reading: number;
  retry: boolean;
}

/**
 * The order in which one producer sends: every reading once, in order, and each retried reading
 * again a few sends later (a retry waits for the PUBACK timeout while later events go out).
 */
export function planSends(readingCount: number, source: string, options: RetryPlanOptions): Send[] {
  const random = seededRandom(deriveSeed(options.seed, `event-ids.retries.${source}`));
  // Retries due after send number n (counting first sends only), in the order they were scheduled.
  const due = new Map<number, number[]>();
  const schedule = (reading: number, after: number): void => {
    const at = after + 1 + Math.floor(random() * options.max_retry_delay_sends);
    const list = due.get(at);
    if (list) list.push(reading);
    else due.set(at, [reading]);
  };
  const sends: Send[] = [];
  for (let i = 0; i < readingCount; i++) {
    sends.push({ reading: i, retry: false });
    if (random() < options.retry_probability) {
      schedule(i, i);
      if (random() < options.second_retry_probability) schedule(i, i + options.max_retry_delay_sends);
    }
    for (const reading of due.get(i) ?? []) sends.push({ reading, retry: true });
    due.delete(i);
  }
  // Retries whose timeout falls after the last first send go out at the end, in due order.
  for (const at of [...due.keys()].sort((a, b) => a - b)) {
    for (const reading of due.get(at)!) sends.push({ reading, retry: true });
  }
  return sends;
}
