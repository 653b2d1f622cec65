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
// one turn of the event loop (timers, PUBACKs read, the generator's burst) leave in one socket write, and PUBACKs are read off the bytes without
// a packet object. What mqtt.js did for us and is kept: CONNECT/CONNACK (refusals named), keepalive
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

interface InFlight {
  item: Outgoing;
  sent_us: number;
  /** Timed out (or failed): no longer holds a window slot. */
  settled: boolean;
  /** MQTT packet id (QoS 1). */
  id: number;
  /** Its frame has been written on some connection: a resend after a reconnect sets DUP. */
  written: boolean;
}

export interface PublisherOptions {
  window: number;
  puback_timeout_ms: number;
  qos?: 0 | 1;
  access?: BrokerAccess;
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

const PUBACK = 4;
const CONNACK = 2;
const PINGRESP = 13;
const DISCONNECT = 14;
const PINGREQ_FRAME = Buffer.from([0xc0, 0x00]);
const DISCONNECT_FRAME = Buffer.from([0xe0, 0x00]);

type State = 'connecting' | 'up' | 'down' | 'closed';

/** One MQTT connection with a FIFO queue in front of its window. */
export class PublisherConnection {
  /** Publishes holding a window slot, in send order. */
  private readonly inFlight = new Set<InFlight>();
  /** Packet id → publish still owed a PUBACK (holding a slot or timed out), in send order. */
  private readonly owed = new Map<number, InFlight>();
  private timedOutOwed = 0;
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
  private flushQueued = false;
  private readonly topics = new Map<string, Buffer>();
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
  ) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'mqtts:') throw new Error(`broker url must be mqtt://host:port or mqtts://host:port, got ${parsed.protocol}//${parsed.host}`);
    this.tls = parsed.protocol === 'mqtts:';
    this.host = parsed.hostname;
    this.port = Number(parsed.port || (this.tls ? 8883 : 1883));
    this.access = access;
    this.v5 = access.mqtt_version === 5;
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1_000, pubackTimeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Resolves once the broker has accepted the connection (CONNACK 0); rejects, naming why, otherwise. */
  static async connect(url: string, clientId: string, options: PublisherOptions, events: PublisherEvents): Promise<PublisherConnection> {
    const connection = new PublisherConnection(url, clientId, options.window, options.puback_timeout_ms, events, options.qos ?? 1, options.access ?? PLAIN_ACCESS);
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
    return this.queue.length - this.queueHead + this.inFlight.size;
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
    if (this.inFlight.size >= this.window) {
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
    const entry: InFlight = { item, sent_us: now_us, settled: false, id: 0, written: false };
    this.inFlight.add(entry);
    this.events.sent(item);
    if (this.qos === 0) {
      // QoS 0 has no PUBACK: written is all there is. Not connected: it cannot be written at all.
      if (this.state !== 'up') return this.fail(entry, new Error('not connected'));
      this.writePublish(entry);
      this.settle(entry);
      this.events.acked(item, entry.sent_us, now_us);
      return;
    }
    entry.id = this.allocateId();
    this.owed.set(entry.id, entry);
    // Not connected: written when the connection is back (with everything else owed).
    if (this.state === 'up') this.writePublish(entry);
  }

  /** The next packet id (1…65535, wrapping) not owed a PUBACK. */
  private allocateId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      const id = this.nextId;
      this.nextId = id === 65_535 ? 1 : id + 1;
      if (!this.owed.has(id)) return id;
    }
    throw new Error('all 65,535 MQTT packet ids are owed a PUBACK');
  }

  private fail(entry: InFlight, error: Error): void {
    this.settle(entry);
    this.events.failed(entry.item, error, false);
  }

  private settle(entry: InFlight): void {
    entry.settled = true;
    this.inFlight.delete(entry);
    this.pump();
  }

  /** In-flight publishes without a PUBACK for longer than the timeout free their slot, as errors. */
  private sweep(): void {
    const limit = nowMicros() - this.pubackTimeoutMs * 1000;
    for (const entry of this.inFlight) {
      if (entry.sent_us > limit) break; // insertion order = send order
      this.settle(entry);
      // Still owed: a late PUBACK is reported as acked. Beyond a bound, the oldest is forgotten.
      if (++this.timedOutOwed > OWED_TIMED_OUT_MAX) this.forgetOldestTimedOut();
      this.events.failed(entry.item, new Error(`no PUBACK within ${this.pubackTimeoutMs} ms`), true);
    }
  }

  private forgetOldestTimedOut(): void {
    for (const [id, entry] of this.owed) {
      if (!entry.settled) continue;
      this.owed.delete(id);
      this.timedOutOwed--;
      return;
    }
  }

  private pump(): void {
    if (this.closing) return;
    if (this.inFlight.size >= this.window || this.queueHead >= this.queue.length) return;
    const now = nowMicros();
    while (this.inFlight.size < this.window && this.queueHead < this.queue.length) {
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
    const entry = this.owed.get(id);
    if (!entry) return;
    this.owed.delete(id);
    // MQTT 5: a reason code from 0x80 up is the broker refusing the message.
    const error = reasonCode >= 0x80 ? new Error(`the broker refused the publish (PUBACK reason code 0x${reasonCode.toString(16)})`) : undefined;
    if (entry.settled) {
      this.timedOutOwed--;
      // Timed out earlier and counted as an error; a late PUBACK still means the broker has it.
      if (!error) this.events.acked(entry.item, entry.sent_us, now);
      return;
    }
    this.settle(entry);
    if (error) this.events.failed(entry.item, error, false);
    else this.events.acked(entry.item, entry.sent_us, now);
  }

  // -------------------------------------------------------------------------------------------
  // The wire

  /** The PUBLISH frame of `entry`, appended to the output of this turn of the event loop (written by setImmediate). */
  private writePublish(entry: InFlight): void {
    const { topic, payload } = entry.item;
    let topicBytes = this.topics.get(topic);
    if (topicBytes === undefined) {
      if (this.topics.size >= TOPIC_CACHE_MAX) this.topics.clear();
      const utf8 = Buffer.from(topic, 'utf8');
      topicBytes = Buffer.allocUnsafe(2 + utf8.length);
      topicBytes.writeUInt16BE(utf8.length, 0);
      utf8.copy(topicBytes, 2);
      this.topics.set(topic, topicBytes);
    }
    const qos1 = this.qos === 1;
    const remaining = topicBytes.length + (qos1 ? 2 : 0) + (this.v5 ? 1 : 0) + payload.length;
    const size = 1 + varintBytes(remaining) + remaining;
    const buffer = this.reserve(size);
    let at = this.outAt;
    buffer[at++] = 0x30 | (this.qos << 1) | (entry.written ? 0x08 : 0);
    at = writeRemainingLength(buffer, at, remaining);
    buffer.set(topicBytes, at);
    at += topicBytes.length;
    if (qos1) {
      buffer[at++] = entry.id >> 8;
      buffer[at++] = entry.id & 0xff;
    }
    if (this.v5) buffer[at++] = 0; // no properties
    buffer.set(payload, at);
    at += payload.length;
    this.outAt = at;
    entry.written = true;
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flush);
    }
  }

  /** The slab with room for `size` more bytes at outAt (a new slab once this one is full). */
  private reserve(size: number): Buffer {
    if (this.outAt + size <= this.slab.length) return this.slab;
    this.flush();
    this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
    this.outStart = 0;
    this.outAt = 0;
    return this.slab;
  }

  /** Everything appended since the last flush, in one socket write (the slab's bytes are not reused). */
  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.outAt === this.outStart) return;
    const chunk = this.slab.subarray(this.outStart, this.outAt);
    this.outStart = this.outAt;
    const socket = this.socket;
    if (this.state === 'up' && socket && socket.writable) socket.write(chunk);
  };

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
            if (generation === this.generation) this.onData((buffer as Buffer).subarray(0, bytes));
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
        if (generation === this.generation) this.onData(chunk);
      });
    }
    socket.on('error', (error: Error) => {
      if (generation === this.generation) this.failure ??= error.message;
    });
    socket.on('close', () => this.onClose(generation));
  }

  /** Splits the bytes into packets; an incomplete one waits for the next chunk. */
  private onData(chunk: Buffer): void {
    const data = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    // One clock read for every PUBACK in the chunk: they all arrived together.
    const now = nowMicros();
    let at = 0;
    while (data.length - at >= 2) {
      let length = 0;
      let multiplier = 1;
      let i = at + 1;
      let complete = false;
      for (let n = 0; n < 4 && i < data.length; n++) {
        const byte = data[i++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        if (n === 3) return void this.socket?.destroy(new Error('malformed remaining length from the broker'));
      }
      if (!complete || i + length > data.length) break;
      this.onPacket(data[at]! >> 4, data, i, length, now);
      if (this.state === 'closed') return;
      at = i + length;
    }
    this.rest = at < data.length ? Buffer.from(data.subarray(at)) : undefined;
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
    for (const entry of this.owed.values()) this.writePublish(entry);
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
    while (this.owed.size > 0 && (this.state as State) !== 'closed' && Date.now() < deadline) await sleep(10);
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
