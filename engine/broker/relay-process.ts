// Child-process entry point of the relay (relay.ts): a measurement fixture, NOT a broker for
// verdicts. It forwards MQTT 3.1.1 / 5 PUBLISHes (QoS 0 and 1) to the subscribers connected at that
// moment and keeps nothing: no sessions, no queue for a subscriber that is away (its messages are
// dropped), no retained messages, no wills, no persistence, no QoS 2 (a QoS 2 packet closes the
// connection), no shared subscriptions (refused in the SUBACK). It exists so that `npm run perf`'s
// generator-capacity variant measures the generator and not the broker: Mosquitto spends about
// 42 µs of CPU per message here (a syscall per packet), the relay parses frames straight from each
// read chunk and writes once per socket per chunk.
//
// Order it keeps: a publisher's PUBACK is written only after the forwarded frames of the same
// PUBLISH have been handed to each subscriber's socket (the publisher's output of a chunk is
// written last). A subscriber's PUBACKs are read and dropped: nothing is in flight here.
//
// It talks to its parent over IPC only ({ type: 'ready', port } once it listens) and exits when the
// IPC channel goes away or on SIGTERM. Nothing goes to stdout; errors go to stderr.
import net from 'node:net';

import { RELAY_SOFTWARE, type RelayChildMessage } from './relay-protocol.ts';

/** Output of one connection is gathered here and written once per read chunk; grown when a chunk needs more. */
const OUT_INITIAL_BYTES = 64 * 1024;
/** A subscriber socket holding more than this pauses the publishers feeding it until it drains (bounded memory). */
const WRITE_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Topic → matching subscriptions, rebuilt after any (un)subscribe or disconnect; cleared when it grows past this. */
const ROUTE_CACHE_MAX = 10_000;

const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;
const PINGREQ = 12;
const DISCONNECT = 14;

interface Subscription {
  filter: string;
  qos: 0 | 1;
  conn: Connection;
}

class Connection {
  /** 0 until CONNECT: 4 (3.1.1; 3 for 3.1 is treated alike) or 5. */
  version = 0;
  rest: Buffer | undefined;
  out: Buffer = Buffer.allocUnsafe(OUT_INITIAL_BYTES);
  outLength = 0;
  nextPacketId = 0;
  readonly subscriptions = new Map<string, Subscription>();
  /** Set after DISCONNECT or a protocol error: ended once this chunk's output is written. */
  closing = false;
  /** Publishers paused because this socket's output backed up; resumed on 'drain'. */
  readonly blocked = new Set<Connection>();

  constructor(readonly socket: net.Socket) {}

  /** Room for `size` more output bytes. */
  reserve(size: number): Buffer {
    const need = this.outLength + size;
    if (need > this.out.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.out.length * 2));
      this.out.copy(grown, 0, 0, this.outLength);
      this.out = grown;
    }
    return this.out;
  }

  /** This chunk's output in one write. The buffer is written over again only if the kernel took it all at once. */
  flush(): boolean {
    if (this.outLength === 0) return true;
    const socket = this.socket;
    let ok = true;
    if (!socket.destroyed && socket.writable) {
      ok = socket.write(this.out.subarray(0, this.outLength));
      if (socket.writableLength > 0) this.out = Buffer.allocUnsafe(this.out.length);
    }
    this.outLength = 0;
    return ok;
  }

  packetId(): number {
    this.nextPacketId = this.nextPacketId >= 0xffff ? 1 : this.nextPacketId + 1;
    return this.nextPacketId;
  }
}

const connections = new Set<Connection>();
const subscriptions: Subscription[] = [];
const routes = new Map<string, Subscription[]>();
/** Connections with output during the chunk being handled (the source's own is written last). */
const touched: Connection[] = [];

/** MQTT topic matching: `+` one level, `#` the rest (and the parent level); wildcards never match a leading `$`. Cached per topic by route(). */
function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

function route(topic: string): Subscription[] {
  let matched = routes.get(topic);
  if (matched === undefined) {
    matched = subscriptions.filter((s) => topicMatches(s.filter, topic));
    if (routes.size >= ROUTE_CACHE_MAX) routes.clear();
    routes.set(topic, matched);
  }
  return matched;
}

function unsubscribe(conn: Connection, filter: string): void {
  const sub = conn.subscriptions.get(filter);
  if (sub === undefined) return;
  conn.subscriptions.delete(filter);
  subscriptions.splice(subscriptions.indexOf(sub), 1);
  routes.clear();
}

function touch(conn: Connection): void {
  if (conn.outLength === 0) touched.push(conn);
}

/** Appends a variable byte integer at `at`; returns the offset after it. */
function writeVarint(buffer: Buffer, at: number, value: number): number {
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    buffer[at++] = byte;
  } while (value > 0);
  return at;
}

function varint(value: number): number[] {
  const bytes = Buffer.alloc(4);
  return [...bytes.subarray(0, writeVarint(bytes, 0, value))];
}

function varintSize(value: number): number {
  return value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;
}

/** The value readVarint read last (kept here rather than in a tuple made per packet). */
let varintValue = 0;
const INCOMPLETE = -1;
const MALFORMED = -2;

/** Reads a variable byte integer at `at` (within `end`) into varintValue: the offset after it, INCOMPLETE or MALFORMED. */
function readVarint(data: Buffer, at: number, end: number): number {
  let value = 0;
  let multiplier = 1;
  for (let n = 0; n < 4; n++) {
    if (at >= end) return INCOMPLETE;
    const byte = data[at++]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      varintValue = value;
      return at;
    }
    multiplier *= 128;
  }
  return MALFORMED;
}

function appendBytes(conn: Connection, bytes: readonly number[]): void {
  touch(conn);
  const out = conn.reserve(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[conn.outLength + i] = bytes[i]!;
  conn.outLength += bytes.length;
}

/** Handles the bytes read from one connection, then writes every touched connection's output, the source's last. */
function onData(conn: Connection, chunk: Buffer): void {
  const data = conn.rest === undefined ? chunk : Buffer.concat([conn.rest, chunk]);
  conn.rest = undefined;
  const end = data.length;
  let at = 0;
  while (at < end && !conn.closing) {
    const body = readVarint(data, at + 1, end);
    if (body === MALFORMED) {
      conn.closing = true;
      break;
    }
    const remaining = varintValue;
    if (body === INCOMPLETE || body + remaining > end) break;
    try {
      onPacket(conn, data[at]!, data, body, body + remaining);
    } catch {
      // A packet whose lengths point past its end (a read out of range): that client goes, the relay stays.
      conn.closing = true;
    }
    at = body + remaining;
  }
  if (at < end && !conn.closing) conn.rest = Buffer.from(data.subarray(at, end));
  for (const other of touched) {
    if (other === conn) continue;
    if (!other.flush() && !other.blocked.has(conn)) {
      // A subscriber that cannot keep up holds back the publishers feeding it, not the relay's memory.
      other.blocked.add(conn);
      conn.socket.pause();
    }
  }
  touched.length = 0;
  conn.flush();
  if (conn.closing) conn.socket.end();
}

function onPacket(conn: Connection, first: number, data: Buffer, body: number, end: number): void {
  const type = first >> 4;
  if (conn.version === 0 && type !== CONNECT) return void (conn.closing = true);
  switch (type) {
    case PUBLISH:
      return onPublish(conn, first, data, body, end);
    case PUBACK:
      return; // a subscriber's: nothing is in flight here
    case CONNECT:
      return onConnect(conn, data, body, end);
    case SUBSCRIBE:
      return onSubscribe(conn, data, body, end);
    case UNSUBSCRIBE:
      return onUnsubscribe(conn, data, body, end);
    case PINGREQ:
      return appendBytes(conn, [0xd0, 0x00]);
    case DISCONNECT:
      conn.closing = true;
      return;
    default:
      // QoS 2's PUBREC/PUBREL/PUBCOMP, AUTH, or anything a client should not send.
      conn.closing = true;
  }
}

function onConnect(conn: Connection, data: Buffer, body: number, end: number): void {
  if (conn.version !== 0 || end - body < 3) return void (conn.closing = true);
  const nameLength = data.readUInt16BE(body);
  malformed(body + 3 + nameLength, end);
  const level = data[body + 2 + nameLength];
  if (level !== 3 && level !== 4 && level !== 5) return void (conn.closing = true);
  conn.version = level === 5 ? 5 : 4;
  // Session present 0, accepted; MQTT 5 adds an empty properties length.
  appendBytes(conn, conn.version === 5 ? [0x20, 0x03, 0x00, 0x00, 0x00] : [0x20, 0x02, 0x00, 0x00]);
}

/** A packet whose own lengths run past its end: the caller closes the connection. */
function malformed(at: number, end: number): void {
  if (at > end) throw new RangeError('malformed packet');
}

/** The packet id of a SUBSCRIBE or UNSUBSCRIBE at `body` (a packet too short for one is malformed). */
function packetIdAt(data: Buffer, body: number, end: number): number {
  malformed(body + 2, end);
  return data.readUInt16BE(body);
}

/** Where the variable header goes on past MQTT 5's properties at `at` (3.1.1: `at`); -1 for a bad properties length. */
function afterProperties(conn: Connection, data: Buffer, at: number, end: number): number {
  if (conn.version !== 5) return at;
  const props = readVarint(data, at, end);
  return props < 0 ? -1 : props + varintValue;
}

function onSubscribe(conn: Connection, data: Buffer, body: number, end: number): void {
  const id = packetIdAt(data, body, end);
  let at = afterProperties(conn, data, body + 2, end);
  if (at < 0) return void (conn.closing = true);
  const granted: number[] = [];
  const answers: string[] = [];
  while (at + 2 < end) {
    const length = data.readUInt16BE(at);
    malformed(at + 3 + length, end);
    const filter = data.toString('utf8', at + 2, at + 2 + length);
    const options = data[at + 2 + length]!;
    at += 3 + length;
    if (filter.startsWith('$share/')) {
      // Shared subscriptions would need one delivery per group: refused, never served wrong.
      granted.push(0x80);
      continue;
    }
    const qos = Math.min(options & 0x03, 1) as 0 | 1;
    unsubscribe(conn, filter);
    const sub: Subscription = { filter, qos, conn };
    conn.subscriptions.set(filter, sub);
    subscriptions.push(sub);
    routes.clear();
    granted.push(qos);
    if (filter === '$SYS/broker/version') answers.push(filter);
  }
  const body5 = conn.version === 5 ? [0x00] : [];
  appendBytes(conn, [0x90, ...varint(2 + body5.length + granted.length), id >> 8, id & 0xff, ...body5, ...granted]);
  // What it is, for the harness's report (as Mosquitto answers from its retained $SYS tree).
  for (const topic of answers) {
    const topicBytes = Buffer.from(topic);
    const payload = Buffer.from(RELAY_SOFTWARE);
    const props = conn.version === 5 ? 1 : 0;
    const frame = Buffer.alloc(2 + 2 + topicBytes.length + props + payload.length);
    frame[0] = 0x30;
    frame[1] = frame.length - 2;
    frame.writeUInt16BE(topicBytes.length, 2);
    topicBytes.copy(frame, 4);
    payload.copy(frame, 4 + topicBytes.length + props);
    appendBytes(conn, [...frame]);
  }
}

function onUnsubscribe(conn: Connection, data: Buffer, body: number, end: number): void {
  const id = packetIdAt(data, body, end);
  let at = afterProperties(conn, data, body + 2, end);
  if (at < 0) return void (conn.closing = true);
  let count = 0;
  while (at + 2 <= end) {
    const length = data.readUInt16BE(at);
    malformed(at + 2 + length, end);
    unsubscribe(conn, data.toString('utf8', at + 2, at + 2 + length));
    at += 2 + length;
    count++;
  }
  // MQTT 5: an empty properties length and a success reason code per filter.
  const body5 = conn.version === 5 ? [0x00, ...new Array<number>(count).fill(0)] : [];
  appendBytes(conn, [0xb0, ...varint(2 + body5.length), id >> 8, id & 0xff, ...body5]);
}

function onPublish(conn: Connection, first: number, data: Buffer, body: number, end: number): void {
  const qos = (first >> 1) & 0x03;
  if (qos > 1) return void (conn.closing = true); // QoS 2 (or the invalid 3) is not relayed
  malformed(body + 2, end);
  const topicLength = data.readUInt16BE(body);
  const topicStart = body + 2;
  const topicEnd = topicStart + topicLength;
  malformed(topicEnd + (qos === 1 ? 2 : 0), end);
  let at = topicEnd;
  let id = 0;
  if (qos === 1) {
    id = data.readUInt16BE(at);
    at += 2;
  }
  // MQTT 5 properties (varint length, then the properties): kept for MQTT 5 subscribers.
  const propsStart = at;
  if (conn.version === 5) {
    const props = readVarint(data, at, end);
    if (props < 0) return void (conn.closing = true);
    at = props + varintValue;
    malformed(at, end);
  }
  const payloadStart = at;
  const matched = route(data.toString('utf8', topicStart, topicEnd));
  for (let i = 0; i < matched.length; i++) {
    const sub = matched[i]!;
    const to = sub.conn;
    if (to.version === 0 || to.closing) continue;
    const outQos = qos < sub.qos ? qos : sub.qos;
    // The properties as sent to an MQTT 5 subscriber (an empty length from a 3.1.1 publisher); none for 3.1.1.
    const v5From = conn.version === 5;
    const propsBytes = to.version === 5 ? (v5From ? payloadStart - propsStart : 1) : 0;
    const remaining = 2 + topicLength + (outQos === 1 ? 2 : 0) + propsBytes + (end - payloadStart);
    touch(to);
    const out = to.reserve(1 + varintSize(remaining) + remaining);
    let o = to.outLength;
    out[o++] = 0x30 | (outQos << 1);
    o = writeVarint(out, o, remaining);
    o += data.copy(out, o, body, topicEnd);
    if (outQos === 1) {
      const packetId = to.packetId();
      out[o++] = packetId >> 8;
      out[o++] = packetId & 0xff;
    }
    if (propsBytes === 1 && !v5From) out[o++] = 0x00;
    else if (propsBytes > 0) o += data.copy(out, o, propsStart, payloadStart);
    o += data.copy(out, o, payloadStart, end);
    to.outLength = o;
  }
  if (qos === 1) {
    // After the forwards above: this connection's output is written after theirs (onData).
    touch(conn);
    const out = conn.reserve(4);
    const o = conn.outLength;
    out[o] = 0x40;
    out[o + 1] = 0x02;
    out[o + 2] = id >> 8;
    out[o + 3] = id & 0xff;
    conn.outLength = o + 4;
  }
}

function accept(socket: net.Socket): void {
  const conn = new Connection(socket);
  connections.add(conn);
  socket.on('data', (chunk: Buffer) => onData(conn, chunk));
  socket.on('drain', () => {
    for (const publisher of conn.blocked) publisher.socket.resume();
    conn.blocked.clear();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    connections.delete(conn);
    for (const filter of [...conn.subscriptions.keys()]) unsubscribe(conn, filter);
    for (const publisher of conn.blocked) publisher.socket.resume();
    conn.blocked.clear();
  });
}

function send(message: RelayChildMessage): void {
  if (process.connected && process.send !== undefined) process.send(message);
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('relay: must be forked with an IPC channel (see relay.ts)\n');
    process.exit(2);
  }
  const server = net.createServer({ highWaterMark: WRITE_HIGH_WATER_BYTES, noDelay: true }, accept);
  const shutdown = (): void => {
    server.close();
    for (const conn of connections) conn.socket.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  // Ctrl-C reaches the whole process group: the harness stops this process itself, after its load.
  process.on('SIGINT', () => {});
  process.on('disconnect', shutdown);
  server.on('error', (error) => {
    process.stderr.write(`relay: ${error.message}\n`);
    send({ type: 'error', message: error.message });
    process.exit(1);
  });
  server.listen({ port: 0, host: '127.0.0.1' }, () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error(`relay: unexpected server address ${String(address)}`);
    send({ type: 'ready', port: address.port });
  });
}

main();
