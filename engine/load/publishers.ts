// Publisher connections: QoS 1 publishes with our own bounded window of un-acked messages per
// connection, and a PUBACK timeout that frees the slot and counts as an error. This module only
// *does*; what was sent and acked is written into the PublishLog (engine/load/log.ts) through
// PublisherEvents, which only *records*.
//
// A lean MQTT 3.1.1 / 5 client over TCP or TLS (the socket is the aggregator's:
// aggregator/consumer/connection.ts), not mqtt.js: the generator must cost far less than what it
// measures, and mqtt.js spent most of the load worker's time per publish (an object store, a
// packet object and a generator run per PUBLISH, a socket write each). Here a PUBLISH frame is
// written straight into an output buffer (the topic's bytes encoded once per topic), the frames of
// one wake-up of the load worker leave in one socket write per connection (OutputBatch), and
// PUBACKs are read off the bytes without a packet object, into a table of what is in flight with
// no object per publish. What mqtt.js did for us and is kept: CONNECT/CONNACK (refusals named), keepalive
// pings, reconnecting after 500 ms and resending every publish still owed a PUBACK (DUP set) with
// its packet id, and a clean DISCONNECT. docs/lab/2026-12-03-generator-cost.md has the figures.

import type net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { nowMicros, sleep } from '../../aggregator/clock.ts';
import { describeConnackRefusal, PLAIN_ACCESS, type BrokerAccess } from '../../aggregator/consumer/access.ts';
import { connectBrokerSocket } from '../../aggregator/consumer/connection.ts';
import type { SourceRecord } from './log.ts';

export interface Outgoing {
  record: SourceRecord;
  seq: number;
  topic: string;
  payload: Buffer;
  /** A raw message that is not an event of the ledger (poison); record and seq are placeholders. */
  raw?: boolean;
  /** True for an injected copy (same event_id as the original). */
  copy: boolean;
}

export interface PublisherEvents {
  sent(item: Outgoing): void;
  acked(item: Outgoing, sentUs: number, ackedUs: number): void;
  failed(item: Outgoing, error: Error, timedOut: boolean): void;
}

/** A publish owed a PUBACK outside the in-flight table (rare: an object each, unlike those in the table). */
interface Owed {
  item: Outgoing;
  sent_us: number;
  /** Its frame has been written on some connection: a resend after a reconnect sets DUP. */
  written: boolean;
}

/**
 * Connections whose frames are not yet written, written together: by flush(), which a load worker
 * calls once it has handed off a wake-up's batch, or else by one setImmediate for all of them (a
 * PUBACK that freed a window slot, a caller that never flushes). One per load worker instead of a
 * setImmediate per connection and wake-up.
 */
export class OutputBatch {
  /** dirty[0, count): never truncated (setting an array's length to 0 drops its storage, to be allocated again). */
  private readonly dirty: PublisherConnection[] = [];
  private count = 0;
  private immediate: NodeJS.Immediate | undefined;

  /** `connection` has frames to write (called once until it is flushed). */
  add(connection: PublisherConnection): void {
    this.dirty[this.count++] = connection;
    this.immediate ??= setImmediate(this.flush);
  }

  /** Every connection's frames, one socket write each; the pending setImmediate is cancelled. */
  readonly flush = (): void => {
    if (this.immediate !== undefined) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    const dirty = this.dirty;
    // A connection's flush never adds to the batch (writing is not appending), so the list is stable.
    for (let i = 0; i < this.count; i++) dirty[i]!.flush();
    this.count = 0;
  };
}

export interface PublisherOptions {
  window: number;
  puback_timeout_ms: number;
  qos?: 0 | 1;
  access?: BrokerAccess;
  /** Shared with the worker's other connections (default: one of its own). */
  output?: OutputBatch;
}

/** How long close() waits for PUBACKs still owed before it forces the connection shut. */
const CLOSE_GRACE_MS = 1_000;
/** After a lost connection, the next attempt (what mqtt.js' reconnectPeriod was). */
const RECONNECT_MS = 500;
/** The first connection must be up (CONNACK) within this. */
const CONNECT_TIMEOUT_MS = 5_000;
/** Keepalive (s) announced in CONNECT; a PINGREQ goes out every half of it. */
const KEEPALIVE_S = 60;
/** Output buffers are carved from slabs this big (a frame larger than a slab gets its own). */
const SLAB_BYTES = 64 * 1024;
/** A plain TCP connection reads into one buffer this big. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Topics whose encoded bytes are kept (publishers' topics; raw messages have one per fault). */
const TOPIC_CACHE_MAX = 4_096;
/**
 * Timed-out publishes still owed a PUBACK keep their packet id so that a late PUBACK is reported
 * (the broker has the message); past this many the oldest is forgotten, so ids never run out.
 */
const OWED_TIMED_OUT_MAX = 32_768;
/** Packet ids are 1…65535; the in-flight table never needs more entries than there are ids. */
const TABLE_MAX = 65_536;

const PUBACK = 4;
const CONNACK = 2;
const PINGRESP = 13;
const DISCONNECT = 14;
const PINGREQ_FRAME = Buffer.from([0xc0, 0x00]);
const DISCONNECT_FRAME = Buffer.from([0xe0, 0x00]);

type State = 'connecting' | 'up' | 'down' | 'closed';

/** One MQTT connection with a FIFO queue in front of its window. */
export class PublisherConnection {
  // QoS 1 publishes holding a window slot (sent, no PUBACK yet, not timed out): no object, Set or
  // Map entry per publish (garbage the load worker paid for at every message), but a table
  // indexed by packet id, entry `id & mask`, of a power-of-two size at least twice the window.
  // Ids are handed out in sequence, so the entries in circular order from `oldest` are the send
  // order, with gaps (acked, or an id skipped): what the PUBACK timeout sweeps and a reconnect
  // resends. A new id whose entry an older publish still holds (one PUBACK long overdue while
  // thousands of later ones came back) doubles the table, which keeps both properties. A publish
  // still in flight when the ids come round to its own (65,535 sends later: at more than 6,554
  // messages/s a connection, sooner than the default 10 s PUBACK timeout) moves to `lapped`, ahead
  // of the table in send order, so the table's order stays the send order.
  private mask: number;
  /** Packet id of each entry; 0 (never an id) when the entry is free. */
  private ids: Uint16Array;
  private items: (Outgoing | undefined)[];
  private sentUs: Float64Array;
  /** 1 once the entry's frame has been written on some connection: a resend after a reconnect sets DUP. */
  private written: Uint8Array;
  /** Entries in use. */
  private inTable = 0;
  /** The entry of the oldest publish in the table (meaningful while inTable > 0). */
  private oldest = 0;
  /** Window slots held: the table's entries, and a QoS 0 publish while it is being sent. */
  private holding = 0;
  /** In flight (holding a slot) but lapped by the ids, by packet id, oldest first: all sent before the table's. */
  private readonly lapped = new Map<number, Owed>();
  /** Timed out, still owed a PUBACK (a late one is reported as acked), by packet id, oldest first: all sent before those in flight. */
  private readonly timedOut = new Map<number, Owed>();
  private nextId = 1;
  private readonly queue: Outgoing[] = [];
  /** When each queued publish was due (µs): its intended time for an original, else when it was queued. */
  private readonly queueDue: number[] = [];
  private queueHead = 0;
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;
  /** Times a publish had to wait because the window was full. */
  window_waits = 0;

  private state: State = 'connecting';
  private socket: net.Socket | undefined;
  private generation = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private awaitingPingresp = false;
  /** Bytes of an incomplete packet from the previous chunk. */
  private rest: Buffer | undefined;
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  /** Where a plain TCP connection's reads land (reused: onData copies what it keeps). */
  private readBuffer: Buffer | undefined;
  /** Frames not yet written are slab[outStart, outAt). */
  private outStart = 0;
  private outAt = 0;
  /** In the output batch: frames appended since the last write. */
  private flushQueued = false;
  private readonly output: OutputBatch;
  private readonly topics = new Map<string, Buffer>();
  private lastTopic: string | undefined;
  private lastTopicBytes: Buffer | undefined;
  private readonly v5: boolean;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly access: BrokerAccess;
  /** Settles the first connection attempt (connect()). */
  private firstOutcome: ((error?: Error) => void) | undefined;
  /** Why the current connection failed, for the first attempt's error. */
  private failure: string | undefined;

  private constructor(
    url: string,
    private readonly clientId: string,
    private readonly window: number,
    private readonly pubackTimeoutMs: number,
    private readonly events: PublisherEvents,
    /** 1, or 0: a QoS 0 publish counts as acked once its frame is written, which is all the "ack" QoS 0 has. */
    private readonly qos: 0 | 1,
    access: BrokerAccess,
    output: OutputBatch | undefined,
  ) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'mqtts:') throw new Error(`broker url must be mqtt://host:port or mqtts://host:port, got ${parsed.protocol}//${parsed.host}`);
    this.tls = parsed.protocol === 'mqtts:';
    this.host = parsed.hostname;
    this.port = Number(parsed.port || (this.tls ? 8883 : 1883));
    this.access = access;
    this.v5 = access.mqtt_version === 5;
    this.output = output ?? new OutputBatch();
    let size = 16;
    while (size < 2 * window && size < TABLE_MAX) size *= 2;
    this.mask = size - 1;
    this.ids = new Uint16Array(size);
    this.items = new Array<Outgoing | undefined>(size).fill(undefined);
    this.sentUs = new Float64Array(size);
    this.written = new Uint8Array(size);
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1_000, pubackTimeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Resolves once the broker has accepted the connection (CONNACK 0); rejects, naming why, otherwise. */
  static async connect(url: string, clientId: string, options: PublisherOptions, events: PublisherEvents): Promise<PublisherConnection> {
    const connection = new PublisherConnection(url, clientId, options.window, options.puback_timeout_ms, events, options.qos ?? 1, options.access ?? PLAIN_ACCESS, options.output);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => connection.firstOutcome?.(new Error(`no CONNACK within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
        connection.firstOutcome = (error) => {
          clearTimeout(timer);
          connection.firstOutcome = undefined;
          if (error) reject(error);
          else resolve();
        };
        connection.open();
      });
    } catch (error) {
      connection.destroy();
      throw new Error(`cannot connect to ${url} as ${clientId}: ${(error as Error).message}`);
    }
    return connection;
  }

  /** Publishes queued or in flight. */
  get pending(): number {
    return this.queue.length - this.queueHead + this.holding;
  }

  /** The broker has accepted the current connection (and it has not been lost or closed since). */
  get connected(): boolean {
    return this.state === 'up';
  }

  /**
   * Hand `item` over: sent at once if the window has a slot, else queued in order. `due_us`: when it
   * was meant to go (default: now); `now_us`: the clock as the caller last read it (one read serves
   * a whole batch of publishes).
   */
  publish(item: Outgoing, due_us?: number, now_us = nowMicros()): void {
    if (this.holding >= this.window) {
      this.window_waits++;
      this.queue.push(item);
      this.queueDue.push(due_us ?? now_us);
      return;
    }
    this.send(item, now_us);
  }

  /**
   * How far behind its due time the oldest publish waiting for a window slot is at `now_us` (µs),
   * 0 when none waits: everything handed over now would go out at least this late.
   */
  queuedLateness(now_us: number): number {
    return this.queueHead < this.queue.length ? Math.max(0, now_us - this.queueDue[this.queueHead]!) : 0;
  }

  private send(item: Outgoing, now_us: number): void {
    this.events.sent(item);
    if (this.qos === 0) {
      // QoS 0 has no PUBACK: written is all there is. Not connected: it cannot be written at all.
      this.holding++;
      if (this.state !== 'up') {
        this.release();
        this.events.failed(item, new Error('not connected'), false);
        return;
      }
      this.writePublish(item, 0, false);
      this.release();
      this.events.acked(item, now_us, now_us);
      return;
    }
    const id = this.allocateId();
    if (this.inTable === 0) this.oldest = id & this.mask;
    // The table must span from its oldest id to this one (0 is never an id, so 65535 → 1 is one
    // step further on the table: the span is taken on the 65,536-id circle).
    else while (((id - this.ids[this.oldest]!) & 0xffff) > this.mask) this.grow();
    const entry = id & this.mask;
    this.ids[entry] = id;
    this.items[entry] = item;
    this.sentUs[entry] = now_us;
    this.inTable++;
    this.holding++;
    // Not connected: written when the connection is back (with everything else owed).
    if (this.state === 'up') {
      this.writePublish(item, id, false);
      this.written[entry] = 1;
    } else this.written[entry] = 0;
  }

  /** The next packet id (1…65535, wrapping) not owed a PUBACK. */
  private allocateId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      const id = this.nextId;
      this.nextId = id === 65_535 ? 1 : id + 1;
      const entry = id & this.mask;
      if (this.ids[entry] === id) {
        // Still in flight 65,535 sends later: the oldest in the table (any older one was lapped before it).
        this.lapped.set(id, { item: this.items[entry]!, sent_us: this.sentUs[entry]!, written: this.written[entry] === 1 });
        this.remove(entry);
        continue;
      }
      if (this.lapped.size > 0 && this.lapped.has(id)) continue;
      if (this.timedOut.size > 0 && this.timedOut.has(id)) continue;
      return id;
    }
    throw new Error('all 65,535 MQTT packet ids are owed a PUBACK');
  }

  /**
   * Twice the table: a new id would lie a whole table or more past the oldest one still in flight.
   * The ids in the table lie, in send order, within less than its size of the oldest along the id
   * circle, so each has an entry of its own and the circular order from the oldest stays the send
   * order, in the bigger table too.
   */
  private grow(): void {
    const oldSize = this.mask + 1;
    if (oldSize >= TABLE_MAX) throw new Error('all 65,535 MQTT packet ids are owed a PUBACK');
    const { ids, items, sentUs, written } = this;
    const size = oldSize * 2;
    const mask = size - 1;
    this.ids = new Uint16Array(size);
    this.items = new Array<Outgoing | undefined>(size).fill(undefined);
    this.sentUs = new Float64Array(size);
    this.written = new Uint8Array(size);
    this.mask = mask;
    this.oldest = ids[this.oldest]! & mask;
    for (let k = 0; k < oldSize; k++) {
      const id = ids[k]!;
      if (id === 0) continue;
      const to = id & mask;
      this.ids[to] = id;
      this.items[to] = items[k];
      this.sentUs[to] = sentUs[k]!;
      this.written[to] = written[k]!;
    }
  }

  /** Takes the publish of table entry `entry` out of the table (its slot is still held). */
  private remove(entry: number): void {
    this.ids[entry] = 0;
    this.items[entry] = undefined;
    if (--this.inTable > 0 && entry === this.oldest) {
      let next = (entry + 1) & this.mask;
      while (this.ids[next] === 0) next = (next + 1) & this.mask;
      this.oldest = next;
    }
  }

  /** One window slot is free again: the queue's head may go. */
  private release(): void {
    this.holding--;
    this.pump();
  }

  /** In-flight publishes without a PUBACK for longer than the timeout free their slot, as errors. */
  private sweep(): void {
    const limit = nowMicros() - this.pubackTimeoutMs * 1000;
    // In send order (the lapped ones first): the first one still in time ends the sweep.
    for (const [id, owed] of this.lapped) {
      if (owed.sent_us > limit) return;
      this.lapped.delete(id);
      this.timedOut.set(id, owed);
      this.timedOutNow(owed.item);
    }
    while (this.inTable > 0) {
      const entry = this.oldest;
      const sent_us = this.sentUs[entry]!;
      if (sent_us > limit) break;
      const id = this.ids[entry]!;
      const item = this.items[entry]!;
      this.timedOut.set(id, { item, sent_us, written: this.written[entry] === 1 });
      this.remove(entry);
      this.timedOutNow(item);
    }
  }

  /** `item`, just moved to timedOut, frees its slot and counts as an error. */
  private timedOutNow(item: Outgoing): void {
    this.release();
    // Still owed: a late PUBACK is reported as acked. Beyond a bound, the oldest is forgotten.
    if (this.timedOut.size > OWED_TIMED_OUT_MAX) this.timedOut.delete(this.timedOut.keys().next().value!);
    this.events.failed(item, new Error(`no PUBACK within ${this.pubackTimeoutMs} ms`), true);
  }

  private pump(): void {
    if (this.closing) return;
    if (this.holding >= this.window || this.queueHead >= this.queue.length) return;
    const now = nowMicros();
    while (this.holding < this.window && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++]!;
      this.send(next, now);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueDue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** `now`: when the bytes that carried it were read (µs). */
  private onPuback(id: number, reasonCode: number, now: number): void {
    const entry = id & this.mask;
    if (this.ids[entry] === id) {
      const item = this.items[entry]!;
      const sent_us = this.sentUs[entry]!;
      this.remove(entry);
      return this.answered(item, sent_us, reasonCode, now);
    }
    const lapped = this.lapped.size > 0 ? this.lapped.get(id) : undefined;
    if (lapped !== undefined) {
      this.lapped.delete(id);
      return this.answered(lapped.item, lapped.sent_us, reasonCode, now);
    }
    if (this.timedOut.size === 0) return;
    const late = this.timedOut.get(id);
    if (late === undefined) return;
    this.timedOut.delete(id);
    // Timed out earlier and counted as an error; a late PUBACK still means the broker has it.
    if (!isRefusal(reasonCode)) this.events.acked(late.item, late.sent_us, now);
  }

  /** The PUBACK of a publish holding a window slot: the slot is free; acked, or failed if the broker refused it. */
  private answered(item: Outgoing, sent_us: number, reasonCode: number, now: number): void {
    this.release();
    if (isRefusal(reasonCode)) this.events.failed(item, refusal(reasonCode), false);
    else this.events.acked(item, sent_us, now);
  }

  // -------------------------------------------------------------------------------------------
  // The wire

  /**
   * The PUBLISH frame of `item` (packet `id`, DUP when `dup`), appended to the output, which the
   * output batch writes (engine/load/worker.ts flushes it at the end of each wake-up).
   */
  private writePublish(item: Outgoing, id: number, dup: boolean): void {
    const { topic, payload } = item;
    // A publisher's connection publishes on one topic (with load.topics 1): no Map look-up then.
    let topicBytes = topic === this.lastTopic ? this.lastTopicBytes : this.topics.get(topic);
    if (topicBytes === undefined) {
      if (this.topics.size >= TOPIC_CACHE_MAX) this.topics.clear();
      const utf8 = Buffer.from(topic, 'utf8');
      topicBytes = Buffer.allocUnsafe(2 + utf8.length);
      topicBytes.writeUInt16BE(utf8.length, 0);
      utf8.copy(topicBytes, 2);
      this.topics.set(topic, topicBytes);
    }
    this.lastTopic = topic;
    this.lastTopicBytes = topicBytes;
    const qos1 = this.qos === 1;
    const remaining = topicBytes.length + (qos1 ? 2 : 0) + (this.v5 ? 1 : 0) + payload.length;
    const size = 1 + varintBytes(remaining) + remaining;
    const buffer = this.reserve(size);
    let at = this.outAt;
    buffer[at++] = 0x30 | (this.qos << 1) | (dup ? 0x08 : 0);
    at = writeRemainingLength(buffer, at, remaining);
    buffer.set(topicBytes, at);
    at += topicBytes.length;
    if (qos1) {
      buffer[at++] = id >> 8;
      buffer[at++] = id & 0xff;
    }
    if (this.v5) buffer[at++] = 0; // no properties
    buffer.set(payload, at);
    at += payload.length;
    this.outAt = at;
    if (!this.flushQueued) {
      this.flushQueued = true;
      this.output.add(this);
    }
  }

  /** The slab with room for `size` more bytes at outAt (a new slab once this one is full). */
  private reserve(size: number): Buffer {
    if (this.outAt + size <= this.slab.length) return this.slab;
    this.flush();
    if (this.outAt + size <= this.slab.length) return this.slab; // written at once: the slab is free again
    this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
    this.outStart = 0;
    this.outAt = 0;
    return this.slab;
  }

  /**
   * Everything appended since the last flush, in one socket write. The slab's bytes are written
   * over again only once the socket holds none of them: a write the kernel took at once (the
   * usual case: the stream's buffer is empty right after it) or none at all (no connection). A
   * new slab each 64 KB instead cost the load worker page faults and malloc on every wake-up.
   */
  flush(): void {
    this.flushQueued = false;
    if (this.outAt === this.outStart) return;
    const socket = this.socket;
    if (this.state === 'up' && socket && socket.writable) {
      socket.write(this.slab.subarray(this.outStart, this.outAt));
      if (socket.writableLength > 0) {
        this.outStart = this.outAt; // still the socket's: these bytes stay as they are
        return;
      }
    }
    this.outStart = 0;
    this.outAt = 0;
  }

  private writeNow(frame: Buffer): void {
    this.flush();
    const socket = this.socket;
    if (socket && !socket.destroyed && socket.writable) socket.write(frame);
  }

  private open(): void {
    this.state = 'connecting';
    const generation = ++this.generation;
    this.rest = undefined;
    this.failure = undefined;
    // Plain TCP reads into one buffer kept for the connection (no buffer and no 'data' event per
    // read); TLS sockets take no onread and emit 'data'.
    const onread: net.OnReadOpts | undefined = this.tls
      ? undefined
      : {
          buffer: (this.readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES)),
          callback: (bytes: number, buffer: Uint8Array): boolean => {
            if (generation === this.generation) this.onData(buffer as Buffer, bytes);
            return true;
          },
        };
    const socket = connectBrokerSocket(this.host, this.port, this.tls, this.access, onread);
    this.socket = socket;
    socket.on(this.tls ? 'secureConnect' : 'connect', () => {
      if (generation !== this.generation) return;
      const access = this.access;
      socket.write(
        mqttPacket.generate(
          {
            cmd: 'connect',
            protocolId: 'MQTT',
            protocolVersion: access.mqtt_version,
            clientId: this.clientId,
            clean: true,
            keepalive: KEEPALIVE_S,
            ...(access.username !== undefined ? { username: access.username } : {}),
            ...(access.password !== undefined ? { password: Buffer.from(access.password, 'utf8') } : {}),
          },
          { protocolVersion: access.mqtt_version },
        ),
      );
    });
    if (this.tls) {
      socket.on('data', (chunk: Buffer) => {
        if (generation === this.generation) this.onData(chunk, chunk.length);
      });
    }
    socket.on('error', (error: Error) => {
      if (generation === this.generation) this.failure ??= error.message;
    });
    socket.on('close', () => this.onClose(generation));
  }

  /** Splits the bytes into packets; an incomplete one waits for the next chunk. */
  private onData(chunk: Buffer, bytes: number): void {
    // The first `bytes` of `chunk` (a read into the kept buffer: no view made per read).
    const rest = this.rest;
    const data = rest ? Buffer.concat([rest, chunk.subarray(0, bytes)]) : chunk;
    const end = rest ? data.length : bytes;
    // One clock read for every PUBACK in the chunk: they all arrived together.
    const now = nowMicros();
    let at = 0;
    while (end - at >= 2) {
      let length = 0;
      let multiplier = 1;
      let i = at + 1;
      let complete = false;
      for (let n = 0; n < 4 && i < end; n++) {
        const byte = data[i++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        if (n === 3) return void this.socket?.destroy(new Error('malformed remaining length from the broker'));
      }
      if (!complete || i + length > end) break;
      this.onPacket(data[at]! >> 4, data, i, length, now);
      if (this.state === 'closed') return;
      at = i + length;
    }
    this.rest = at < end ? Buffer.from(data.subarray(at, end)) : undefined;
  }

  private onPacket(type: number, data: Buffer, body: number, length: number, now: number): void {
    switch (type) {
      case PUBACK:
        if (length >= 2) this.onPuback((data[body]! << 8) | data[body + 1]!, length >= 3 ? data[body + 2]! : 0, now);
        return;
      case CONNACK:
        this.onConnack(length >= 2 ? data[body + 1]! : 0x80);
        return;
      case PINGRESP:
        this.awaitingPingresp = false;
        return;
      case DISCONNECT:
        // MQTT 5 only: the broker says why it closes.
        this.failure = `the broker disconnected us (reason code 0x${(length >= 1 ? data[body]! : 0).toString(16)})`;
        return;
      default:
        return;
    }
  }

  private onConnack(code: number): void {
    if (code !== 0) {
      this.failure = `the broker refused the connection: ${describeConnackRefusal(code, this.access.mqtt_version)}`;
      this.socket?.destroy();
      return;
    }
    this.state = 'up';
    this.awaitingPingresp = false;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      // No PINGRESP since the last PINGREQ: the connection is dead; the close reconnects.
      if (this.awaitingPingresp) return void this.socket?.destroy();
      this.awaitingPingresp = true;
      this.writeNow(PINGREQ_FRAME);
    }, (KEEPALIVE_S * 1000) / 2);
    this.pingTimer.unref();
    // Everything still owed a PUBACK goes out again, in the order first sent, with its packet id
    // (DUP set if it was written before), then what was handed over while the connection was down.
    // Timed-out ones were all sent before any still in flight (the sweep goes in send order), and
    // lapped ones before the table's.
    for (const owedOutside of [this.timedOut, this.lapped]) {
      for (const [id, owed] of owedOutside) {
        this.writePublish(owed.item, id, owed.written);
        owed.written = true;
      }
    }
    if (this.inTable > 0) {
      const mask = this.mask;
      for (let k = 0, entry = this.oldest; k <= mask; k++, entry = (entry + 1) & mask) {
        const id = this.ids[entry]!;
        if (id === 0) continue;
        this.writePublish(this.items[entry]!, id, this.written[entry] === 1);
        this.written[entry] = 1;
      }
    }
    this.firstOutcome?.();
  }

  private onClose(generation: number): void {
    if (generation !== this.generation) return;
    clearInterval(this.pingTimer);
    // Frames not yet flushed belonged to this connection: the resend after the reconnect covers them.
    this.outStart = this.outAt;
    if (this.closing || this.state === 'closed') {
      this.state = 'closed';
      return;
    }
    this.state = 'down';
    if (this.firstOutcome) return this.firstOutcome(new Error(this.failure ?? 'connection closed before CONNACK'));
    this.reconnectTimer = setTimeout(() => this.open(), RECONNECT_MS);
    this.reconnectTimer.unref();
  }

  private destroy(): void {
    this.closing = true;
    this.state = 'closed';
    clearInterval(this.sweeper);
    clearInterval(this.pingTimer);
    clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
  }

  /**
   * End the connection. Whatever is still queued stays unsent (the log keeps it as queued, so the
   * ledger counts it as never acknowledged); a late PUBACK must not release it into a closing
   * connection. PUBACKs still owed get a short grace period to arrive (the broker has those
   * messages); then the connection is closed regardless.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.closing = true;
    clearInterval(this.sweeper);
    clearTimeout(this.reconnectTimer);
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (this.inTable + this.lapped.size + this.timedOut.size > 0 && (this.state as State) !== 'closed' && Date.now() < deadline) await sleep(10);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    if (!socket || socket.destroyed || (this.state as State) === 'closed') {
      this.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      if (this.state === 'up') this.writeNow(DISCONNECT_FRAME);
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
    this.destroy();
  }
}

/** MQTT 5: a PUBACK reason code from 0x80 up is the broker refusing the message. */
function isRefusal(reasonCode: number): boolean {
  return reasonCode >= 0x80;
}

function refusal(reasonCode: number): Error {
  return new Error(`the broker refused the publish (PUBACK reason code 0x${reasonCode.toString(16)})`);
}

/** Writes MQTT's remaining length at `at` (7 bits a byte, low first, the high bit on all but the last); returns the offset after it. */
export function writeRemainingLength(buffer: Uint8Array, at: number, length: number): number {
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    buffer[at++] = byte;
  } while (length > 0);
  return at;
}

/** Bytes of MQTT's variable-length encoding of `n`. */
function varintBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}
