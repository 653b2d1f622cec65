// A minimal MQTT subscriber connection (3.1.1 or 5, over TCP or TLS) built on mqtt-packet that
// leaves the PUBACK to us.
//
// Why not mqtt.js: its client hands incoming packets to handleMessage strictly one at a time (the
// next packet waits for the callback), so acking after a batched sink commit gives batches of one,
// and acking early breaks at-least-once. Here every QoS 1 PUBLISH is handed over at once, several
// can be in flight, and the caller sends each PUBACK when the event is durable.
//
// It must never ack a message on a connection other than the one that delivered it: after a
// reconnect the broker redelivers everything un-acked (clean: false), so late acks are dropped.

import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import mqttPacket from 'mqtt-packet';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { backoffDelayMs, type RetryPolicy } from '../retry.ts';
import type { Random } from '../random.ts';
import { describeConnackRefusal, isAuthRefusal, PLAIN_ACCESS, type BrokerAccess } from './access.ts';
import { PacketSplitter, type OversizedPayload, type StreamedPublish } from './oversized.ts';

export type { OversizedPayload } from './oversized.ts';

export interface DeliveredMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** Broker-set DUP flag: the broker is sending this packet again. */
  dup: boolean;
  /**
   * Set when the payload was over `oversized.above_bytes`: it was never held whole, `payload` is its
   * first `oversized.prefix_bytes` and this says its size and SHA-256 (see oversized.ts).
   */
  oversized?: OversizedPayload;
  /** Opaque token to pass to ack(). */
  readonly ackToken: AckToken;
}

export interface AckToken {
  readonly generation: number;
  readonly messageId: number | undefined;
}

export interface ConsumerConnectionOptions {
  /** mqtt://host:port or mqtts://host:port (never with credentials: they are in `access`) */
  url: string;
  /** Protocol version, TLS material and credentials; default MQTT 3.1.1, none of the rest. */
  access?: BrokerAccess;
  clientId: string;
  /** Topic filter, e.g. events/# or $share/group/events/# */
  topic: string;
  clean: boolean;
  keepalive_s: number;
  /** Stop reading from the socket once this many messages are un-acked (TCP backpressure to the broker). */
  max_in_flight: number;
  /** QoS of the subscription (default 1). At 0 the broker sends without acknowledgement and keeps nothing for us while we are away. */
  qos?: 0 | 1;
  reconnect: RetryPolicy;
  random: Random;
  /**
   * A PUBLISH longer than above_bytes is read a chunk at a time instead of whole: a payload over
   * above_bytes is delivered as its first prefix_bytes with its size and SHA-256 (`oversized`).
   * Absent: every packet is held whole (mqtt-packet's parser).
   */
  oversized?: { above_bytes: number; prefix_bytes: number };
}

/** Connection attempts start() makes before it gives up. */
const START_ATTEMPTS = 5;

type State = 'idle' | 'connecting' | 'subscribed' | 'closing' | 'closed';

export interface ConsumerConnectionEvents {
  message: [DeliveredMessage];
  /** Emitted on every (re)subscription; `generation` increments with each new connection. */
  subscribed: [generation: number, sessionPresent: boolean];
  disconnected: [reason: string];
  error: [Error];
}

export class ConsumerConnection extends EventEmitter<ConsumerConnectionEvents> {
  private socket: net.Socket | undefined;
  private state: State = 'idle';
  private generation = 0;
  private unacked = 0;
  private paused = false;
  private draining = false;
  private sessionPresent = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private readonly host: string;
  private readonly port: number;
  /** Count of connections lost without our asking; reported as a counter. */
  connections_lost = 0;
  /** Count of connections dropped on purpose (reconnect()). */
  reconnectsAsked = 0;
  /** A reconnect() asked for while the connection was still being set up: done once it is subscribed. */
  private reconnectPending: string | undefined;
  /** Reconnects asked for in a row without an ack in between: the backoff before the next one. */
  private reconnectsWithoutProgress = 0;

  constructor(private readonly options: ConsumerConnectionOptions) {
    super();
    const url = new URL(options.url);
    if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw new Error(`broker url must be mqtt://host:port or mqtts://host:port, got ${url.protocol}//${url.host}`);
    this.tls = url.protocol === 'mqtts:';
    this.host = url.hostname;
    this.port = Number(url.port || (this.tls ? 8883 : 1883));
    this.access = options.access ?? PLAIN_ACCESS;
    this.packetOptions = { protocolVersion: this.access.mqtt_version };
  }

  private readonly tls: boolean;
  private readonly access: BrokerAccess;
  /** mqtt-packet's encoder options: MQTT 5 packets carry a properties length that 3.1.1 ones do not. */
  private readonly packetOptions: { protocolVersion: 4 | 5 };
  /** Why the current connection attempt failed (a TLS error, a CONNACK refusal), for the 'disconnected' reason. */
  private failure: string | undefined;
  /** The broker refused our credentials: start() gives up at once instead of trying again. */
  private refused = false;

  get in_flight(): number {
    return this.unacked;
  }

  /**
   * Resolves once connected and subscribed for the first time; rejects if the first few attempts
   * all fail (a broker that is down stays an error, but one that drops a connection while it
   * cleans up a killed predecessor's session is given another go).
   */
  start(attempts = START_ATTEMPTS): Promise<void> {
    let failures = 0;
    return new Promise((resolve, reject) => {
      const onSubscribed = () => {
        this.off('disconnected', onFailure);
        resolve();
      };
      const onFailure = (reason: string) => {
        if (++failures < attempts && !this.refused) {
          // The reconnect logic schedules the next attempt; wait for its outcome.
          this.once('disconnected', onFailure);
          return;
        }
        this.off('subscribed', onSubscribed);
        this.state = 'closed';
        clearTimeout(this.reconnectTimer);
        reject(new Error(`cannot subscribe at ${this.options.url}: ${reason}`));
      };
      this.once('subscribed', onSubscribed);
      this.once('disconnected', onFailure);
      this.open();
    });
  }

  /**
   * Send the PUBACK for a delivered message. Acks for a connection that has since dropped are ignored.
   * The PUBACKs of one turn of the event loop (a committed batch, or a bare subscriber's chunk of
   * deliveries) leave in one socket write when there are COALESCE_ACKS_FROM or more: a write per
   * 4-byte PUBACK cost about a quarter of the aggregator's CPU under load (measured with --cpu-prof).
   */
  ack(token: AckToken): void {
    if (token.generation !== this.generation) return;
    if (token.messageId !== undefined) {
      this.unacked--;
      this.pendingAcks.push(token.messageId);
      if (this.pendingAcks.length === 1) queueMicrotask(this.flushAcks);
    }
    if (this.paused && !this.draining && this.unacked < this.options.max_in_flight) {
      this.paused = false;
      this.socket?.resume();
    }
  }

  /** Stop reading new deliveries (for a draining shutdown); acks still go out. */
  pause(): void {
    this.paused = true;
    this.draining = true;
    this.socket?.pause();
  }

  /**
   * Drop the connection on purpose and open a new one: with clean: false the broker resends every
   * message this connection left un-acked (brokers resend un-acked QoS 1 messages only on a new
   * connection), so a batch the consumer could not make durable gets another go instead of waiting
   * for ever. Acks already given go out first; acks owed to this connection are void afterwards.
   */
  reconnect(reason: string): void {
    // A persistent session's queue is resent right after CONNACK, before our SUBACK: a batch of it can
    // fail while this connection is still being set up. Ignoring that request would leave the batch
    // un-acked on a live connection for ever, so it is kept and carried out once subscribed.
    if (this.state === 'connecting') {
      this.reconnectPending = reason;
      return;
    }
    if (this.state !== 'subscribed') return;
    this.flushAcks();
    this.reconnectsAsked++;
    this.emit('disconnected', `dropped on purpose: ${reason}`);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    // Acks still in the socket's buffer are written before the FIN. The old socket's close must not
    // count as a lost connection (a new generation), and the new connection opens after a backoff
    // that grows while batches keep failing with no ack in between (a fault that outlasts many
    // redeliveries must not turn into a reconnect storm); its CONNECT takes the session over should
    // the broker not have closed the old one yet.
    this.generation++;
    this.state = 'connecting';
    if (socket) {
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    }
    const delay = backoffDelayMs(this.reconnectsWithoutProgress++, this.options.reconnect, this.options.random);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  /** Clean MQTT DISCONNECT; with clean: false the broker keeps our session and queues meanwhile. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    // Acks of the last batch go out before the DISCONNECT, not after it.
    this.flushAcks();
    this.state = 'closing';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    if (!socket || socket.destroyed) {
      this.state = 'closed';
      return;
    }
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end(mqttPacket.generate({ cmd: 'disconnect' }, this.packetOptions));
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
    this.state = 'closed';
  }

  private open(): void {
    this.state = 'connecting';
    const generation = ++this.generation;
    this.unacked = 0;
    // Acks owed to the previous connection are void: the broker redelivers those messages.
    this.pendingAcks = [];
    this.paused = false;
    this.failure = undefined;
    const access = this.access;
    const socket = connectBrokerSocket(this.host, this.port, this.tls, access);
    this.socket = socket;
    const parser = mqttPacket.parser(this.packetOptions);
    parser.on('packet', (packet: Packet) => this.onPacket(packet, generation));
    parser.on('error', (error: Error) => {
      this.emit('error', error);
      socket.destroy();
    });
    let handshaken = false;
    socket.on(this.tls ? 'secureConnect' : 'connect', () => {
      handshaken = true;
      this.send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: access.mqtt_version,
        clientId: this.options.clientId,
        clean: this.options.clean,
        keepalive: this.options.keepalive_s,
        ...(access.username !== undefined ? { username: access.username } : {}),
        ...(access.password !== undefined ? { password: Buffer.from(access.password, 'utf8') } : {}),
        // MQTT 5 ends a session when its connection closes unless told otherwise: a persistent
        // session (clean false) must outlive the connection as it does in 3.1.1, so that the broker
        // keeps the un-acked messages of a crashed consumer for its restart.
        ...(access.mqtt_version === 5 ? { properties: { sessionExpiryInterval: this.options.clean ? 0 : 0xffffffff } } : {}),
      });
    });
    const limits = this.options.oversized;
    if (limits === undefined) socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    else {
      // In front of mqtt-packet's parser, which would hold a PUBLISH whole: oversized ones are streamed.
      const splitter = new PacketSplitter(
        { ...limits, protocolVersion: access.mqtt_version },
        {
          bytes: (chunk) => parser.parse(chunk),
          publish: (publish) => {
            if (generation === this.generation) this.onPublish(publish, generation);
          },
          error: (error) => {
            this.emit('error', error);
            socket.destroy();
          },
        },
      );
      socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    }
    socket.on('error', (error: Error) => {
      // The 'close' that follows carries the consequence; the first cause is its reason.
      // (A socket already replaced by a newer connection says nothing about that one.)
      if (generation !== this.generation) return;
      this.failure ??= this.tls && !handshaken && !isSocketLevel(error) ? `TLS handshake failed: ${error.message}` : error.message;
    });
    socket.on('close', () => this.onClose(generation, this.failure ? `connection closed: ${this.failure}` : 'connection closed'));
  }

  private onPacket(packet: Packet, generation: number): void {
    if (generation !== this.generation) return;
    switch (packet.cmd) {
      case 'connack': {
        const code = (this.access.mqtt_version === 5 ? packet.reasonCode : packet.returnCode) ?? 0;
        if (code !== 0) {
          this.failure = `the broker refused the connection: ${describeConnackRefusal(code, this.access.mqtt_version)}`;
          if (isAuthRefusal(code)) this.refused = true;
          this.emit('error', new Error(this.failure));
          this.socket?.destroy();
          return;
        }
        this.send({
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [{ topic: this.options.topic, qos: this.options.qos ?? 1 }],
        });
        this.sessionPresent = packet.sessionPresent ?? false;
        return;
      }
      case 'suback': {
        const first: unknown = packet.granted[0];
        const granted = typeof first === 'number' ? first : (first as { qos?: number } | undefined)?.qos;
        // 0x80 in 3.1.1; every MQTT 5 reason code from 0x80 up (0x87 not authorized, 0x9e shared subscriptions not supported, ...).
        if (granted === undefined || granted >= 0x80) {
          this.failure = `the broker refused the subscription to ${this.options.topic} (SUBACK 0x${Number(granted ?? 0x80).toString(16)})`;
          this.emit('error', new Error(this.failure));
          this.socket?.destroy();
          return;
        }
        this.state = 'subscribed';
        this.reconnectAttempt = 0;
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.send({ cmd: 'pingreq' }), (this.options.keepalive_s * 1000) / 2);
        this.pingTimer.unref();
        this.emit('subscribed', generation, this.sessionPresent);
        const pending = this.reconnectPending;
        this.reconnectPending = undefined;
        if (pending !== undefined) this.reconnect(pending);
        return;
      }
      case 'publish':
        this.onPublish(packet, generation);
        return;
      case 'disconnect':
        // MQTT 5 only: the broker says why it closes (0x8e session taken over, 0x87 not authorized, ...).
        this.failure = `the broker disconnected us (reason code 0x${(packet.reasonCode ?? 0).toString(16)})`;
        return;
      default:
        return; // pingresp, and acks for packets we never send
    }
  }

  private onPublish(packet: IPublishPacket | StreamedPublish, generation: number): void {
    if (packet.qos === 2) {
      // QoS 2 is out of scope: we subscribe at QoS 1, so the broker downgrades. Seeing one is a broker bug.
      this.emit('error', new Error('unexpected QoS 2 delivery'));
      return;
    }
    const messageId = packet.qos === 1 ? packet.messageId : undefined;
    if (messageId !== undefined) {
      this.unacked++;
      if (!this.paused && this.unacked >= this.options.max_in_flight) {
        this.paused = true;
        this.socket?.pause();
      }
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.emit('message', {
      topic: packet.topic,
      payload,
      qos: packet.qos,
      dup: packet.dup,
      ...('oversized' in packet && packet.oversized ? { oversized: packet.oversized } : {}),
      ackToken: { generation, messageId },
    });
  }

  private onClose(generation: number, reason: string): void {
    if (generation !== this.generation) return;
    clearInterval(this.pingTimer);
    if (this.state === 'closing' || this.state === 'closed') return;
    const wasSubscribed = this.state === 'subscribed';
    if (wasSubscribed) this.connections_lost++;
    this.state = 'connecting';
    this.emit('disconnected', reason);
    // start() marks the connection closed when its first attempt fails: no retrying forever then.
    if ((this.state as State) === 'closed') return;
    const delay = backoffDelayMs(this.reconnectAttempt++, this.options.reconnect, this.options.random);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  /** PUBACK packet ids acked in this turn of the event loop, for the current connection. */
  private pendingAcks: number[] = [];

  private readonly flushAcks = (): void => {
    const ids = this.pendingAcks;
    this.pendingAcks = [];
    if (ids.length === 0) return;
    this.reconnectsWithoutProgress = 0;
    const socket = this.socket;
    if (!socket || socket.destroyed || !socket.writable) return;
    if (ids.length >= COALESCE_ACKS_FROM) socket.write(encodePubacks(ids));
    // A few acks go out one write each: coalesced, they added about 3 ms to the p50 of the 300 ev/s
    // gate scenario against the embedded Aedes (interleaved runs: p50 16.4–18.2 against 13.6–15.4 ms),
    // while the CPU they save only matters for large batches.
    else for (const id of ids) socket.write(encodePubacks([id]));
  };

  private send(packet: Packet): void {
    const socket = this.socket;
    if (!socket || socket.destroyed || !socket.writable) return;
    socket.write(mqttPacket.generate(packet, this.packetOptions));
  }
}

/**
 * A TCP or TLS socket to the broker (no delay), with the access's TLS material and host check: it
 * emits 'secureConnect' (TLS) or 'connect' (TCP) once usable. Shared with the harness's publishers
 * (engine/load/publishers.ts).
 */
/**
 * `onread` (plain TCP only): read into the caller's buffer instead of emitting 'data' with a new
 * buffer per read (the load generator's publishers: engine/load/publishers.ts).
 */
export function connectBrokerSocket(host: string, port: number, useTls: boolean, access: BrokerAccess, onread?: net.OnReadOpts): net.Socket {
  const verifyHost = access.verify_host;
  const socket = useTls
    ? tls.connect({
        host,
        port,
        ...(access.ca !== undefined ? { ca: access.ca } : {}),
        ...(access.cert !== undefined ? { cert: access.cert } : {}),
        ...(access.key !== undefined ? { key: access.key } : {}),
        ...(net.isIP(verifyHost ?? host) === 0 ? { servername: verifyHost ?? host } : {}),
        ...(verifyHost !== undefined ? { checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(verifyHost, cert) } : {}),
      })
    : net.connect({ host, port, ...(onread !== undefined ? { onread } : {}) });
  socket.setNoDelay(true);
  return socket;
}

/** Errors of the TCP connection itself (refused, reset before TLS began, unreachable), not of the TLS handshake. */
function isSocketLevel(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ECONNREFUSED' || error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH' || error.code === 'ETIMEDOUT' || error.code === 'ENOTFOUND';
}

/** Batches acked with at least this many PUBACKs send them in one socket write. */
export const COALESCE_ACKS_FROM = 32;

/**
 * PUBACKs, back to back: fixed header 0x40, remaining length 2, packet id (big-endian). The same
 * bytes in MQTT 5, where a PUBACK with reason code 0 (success) and no properties may leave both out.
 */
export function encodePubacks(messageIds: readonly number[]): Buffer {
  const buffer = Buffer.allocUnsafe(messageIds.length * 4);
  for (let i = 0; i < messageIds.length; i++) {
    const at = i * 4;
    buffer[at] = 0x40;
    buffer[at + 1] = 0x02;
    buffer.writeUInt16BE(messageIds[i]!, at + 2);
  }
  return buffer;
}
