// PublisherConnection against a tiny fake MQTT 3.1.1 broker (node:net + mqtt-packet) that we
// control packet by packet: it answers CONNECT with CONNACK and, for QoS 1 PUBLISH, acks at once,
// never, or only when the test releases a PUBACK. Counting packets at the broker shows what really
// went on the wire, which is what the window is about.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { SourceRecord } from './log.ts';
import { OutputBatch, PublisherConnection, type Outgoing, type PublisherEvents } from './publishers.ts';

// ---------------------------------------------------------------------------------------------
// Fake broker

type AckMode = 'immediate' | 'never' | 'manual';

interface SeenPublish {
  seq: number;
  messageId: number;
  dup: boolean;
  topic: string;
  payload: Buffer;
  /** performance.now() when the broker parsed the packet. */
  at_ms: number;
  socket: net.Socket;
}

class FakeBroker {
  /** Every QoS 1 PUBLISH the broker received, in arrival order. */
  readonly publishes: SeenPublish[] = [];
  /** PUBLISHes not yet acked (manual mode), oldest first. */
  private readonly held: SeenPublish[] = [];
  private readonly sockets = new Set<net.Socket>();
  connects = 0;
  disconnects = 0;
  socketsClosed = 0;

  /** In 'immediate' mode, PUBLISHes of these seqs are held (never acked) instead. */
  readonly holdSeqs = new Set<number>();
  /** PUBLISHes the broker has acked, by arrival. */
  acked = 0;

  private constructor(
    private readonly server: net.Server,
    readonly mode: AckMode,
    readonly version: 4 | 5,
  ) {}

  static async start(mode: AckMode, version: 4 | 5 = 4): Promise<FakeBroker> {
    const server = net.createServer();
    const broker = new FakeBroker(server, mode, version);
    server.on('connection', (socket) => broker.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get seqs(): number[] {
    return this.publishes.map((p) => p.seq);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.socketsClosed++;
    });
    const parser = mqttPacket.parser({ protocolVersion: this.version });
    parser.on('error', (error: Error) => socket.destroy(error));
    parser.on('packet', (packet: Packet) => {
      switch (packet.cmd) {
        case 'connect':
          this.connects++;
          this.write(socket, this.version === 5 ? { cmd: 'connack', reasonCode: 0, sessionPresent: false } : { cmd: 'connack', returnCode: 0, sessionPresent: false });
          break;
        case 'publish': {
          if (packet.qos !== 1 || packet.messageId === undefined) throw new Error(`unexpected publish qos ${packet.qos}`);
          const { seq } = JSON.parse(packet.payload.toString()) as { seq: number };
          const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
          const seen: SeenPublish = { seq, messageId: packet.messageId, dup: packet.dup, topic: packet.topic, payload, at_ms: performance.now(), socket };
          this.publishes.push(seen);
          if (this.mode === 'immediate' && !this.holdSeqs.has(seq)) this.puback(seen);
          else if (this.mode === 'immediate') this.held.push(seen);
          else if (this.mode === 'manual') this.held.push(seen);
          break;
        }
        case 'pingreq':
          this.write(socket, { cmd: 'pingresp' });
          break;
        case 'disconnect':
          this.disconnects++;
          break;
        default:
          break;
      }
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  }

  private write(socket: net.Socket, packet: Packet): void {
    if (!socket.destroyed) socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** `reasonCode` (MQTT 5 only): 0x80 and up is a refusal. */
  private puback(seen: SeenPublish, reasonCode?: number): void {
    this.acked++;
    this.write(seen.socket, { cmd: 'puback', messageId: seen.messageId, ...(reasonCode === undefined ? {} : { reasonCode }) });
  }

  /** Send a raw PUBACK for `messageId` on every open connection (an id the client may not owe). */
  pubackId(messageId: number): void {
    for (const socket of this.sockets) this.write(socket, { cmd: 'puback', messageId });
  }

  /** Drop every client connection (no DISCONNECT): the client must reconnect on its own. Held PUBLISHes are forgotten. */
  dropConnections(): void {
    this.held.length = 0;
    for (const socket of this.sockets) socket.destroy();
  }

  /** Stop reading every client connection (their writes back up in the kernel, then in the client), or start again. */
  pauseReading(paused: boolean): void {
    for (const socket of this.sockets) {
      if (paused) socket.pause();
      else socket.resume();
    }
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Send the PUBACK for the held PUBLISH of `seq` (manual mode), with an MQTT 5 reason code if given. */
  release(seq: number, reasonCode?: number): void {
    const index = this.held.findIndex((p) => p.seq === seq);
    if (index < 0) throw new Error(`no held PUBLISH for seq ${seq}`);
    const [seen] = this.held.splice(index, 1);
    this.puback(seen!, reasonCode);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

type Event =
  | { kind: 'sent'; seq: number; at_ms: number }
  | { kind: 'acked'; seq: number; at_ms: number; sent_us: number; acked_us: number }
  | { kind: 'failed'; seq: number; at_ms: number; error: Error; timedOut: boolean };

function recorder(): PublisherEvents & { events: Event[]; of: (kind: Event['kind']) => Event[] } {
  const events: Event[] = [];
  return {
    events,
    of: (kind) => events.filter((e) => e.kind === kind),
    sent: (item) => events.push({ kind: 'sent', seq: item.seq, at_ms: performance.now() }),
    acked: (item, sent_us, acked_us) => events.push({ kind: 'acked', seq: item.seq, at_ms: performance.now(), sent_us, acked_us }),
    failed: (item, error, timedOut) => events.push({ kind: 'failed', seq: item.seq, at_ms: performance.now(), error, timedOut }),
  };
}

const record = new SourceRecord('pub-0');

function item(seq: number): Outgoing {
  return { record, seq, topic: 'events/pub-0', payload: Buffer.from(JSON.stringify({ seq })), copy: false };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

let brokers: FakeBroker[] = [];
let connections: PublisherConnection[] = [];

async function setup(mode: AckMode, options: { window: number; puback_timeout_ms: number; output?: OutputBatch }, version: 4 | 5 = 4) {
  const broker = await FakeBroker.start(mode, version);
  brokers.push(broker);
  const events = recorder();
  const conn = await PublisherConnection.connect(broker.url, `test-${brokers.length}`, { ...options, access: { mqtt_version: version } }, events);
  connections.push(conn);
  return { broker, events, conn };
}

afterEach(async () => {
  for (const conn of connections) {
    void conn.close().catch(() => {}); // clears the sweeper; resolves within the close grace period
  }
  for (const broker of brokers) await broker.stop();
  connections = [];
  brokers = [];
});

// ---------------------------------------------------------------------------------------------
// Tests

describe('PublisherConnection', () => {
  it('keeps at most `window` un-acked PUBLISHes on the wire and feeds the queue in FIFO order', async () => {
    const { broker, events, conn } = await setup('manual', { window: 3, puback_timeout_ms: 60_000 });

    for (let seq = 0; seq < 10; seq++) conn.publish(item(seq));
    expect(conn.pending).toBe(10);
    expect(conn.window_waits).toBe(7);
    expect(events.of('sent').map((e) => e.seq)).toEqual([0, 1, 2]);

    await waitUntil(() => broker.publishes.length >= 3, '3 PUBLISHes at the broker');
    await sleep(150); // would let a 4th arrive if the window leaked
    expect(broker.seqs).toEqual([0, 1, 2]);

    // One PUBACK frees exactly one slot, for the oldest queued item.
    broker.release(0);
    await waitUntil(() => events.of('acked').length === 1, 'acked(0)');
    expect(events.of('acked')[0]!.seq).toBe(0);
    await waitUntil(() => broker.publishes.length >= 4, '4th PUBLISH');
    await sleep(150);
    expect(broker.seqs).toEqual([0, 1, 2, 3]);
    expect(conn.pending).toBe(9);
    expect(conn.window_waits).toBe(7);

    // Acking out of order (seq 2 before 1) still sends the queue head, seq 4.
    broker.release(2);
    await waitUntil(() => broker.publishes.length >= 5, '5th PUBLISH');
    await sleep(100);
    expect(broker.seqs).toEqual([0, 1, 2, 3, 4]);
    expect(conn.pending).toBe(8);

    expect(broker.publishes.every((p) => !p.dup)).toBe(true);
    expect(events.of('failed')).toEqual([]);
    expect(broker.connects).toBe(1);
  });

  it('queuedLateness: how far behind its due time the oldest publish waiting for a slot is; 0 when none waits', async () => {
    const { broker, conn } = await setup('manual', { window: 1, puback_timeout_ms: 60_000 });
    const now = 1_800_000_000_000_000;
    conn.publish(item(0), now - 9_000_000); // sent at once: a slot was free, so it never waits
    expect(conn.queuedLateness(now)).toBe(0);
    conn.publish(item(1), now - 400_000);
    conn.publish(item(2), now - 100_000);
    expect(conn.queuedLateness(now)).toBe(400_000);
    expect(conn.queuedLateness(now + 50_000)).toBe(450_000);
    // Not yet due counts as not late.
    expect(conn.queuedLateness(now - 500_000)).toBe(0);

    // The head goes on the wire when a slot frees: the next one is now the oldest waiting.
    await waitUntil(() => broker.publishes.length === 1, 'the first PUBLISH');
    broker.release(0);
    await waitUntil(() => broker.publishes.length === 2, 'the second PUBLISH');
    expect(conn.queuedLateness(now)).toBe(100_000);
    broker.release(1);
    await waitUntil(() => broker.publishes.length === 3, 'the third PUBLISH');
    expect(conn.queuedLateness(now)).toBe(0);
  });

  it('queuedLateness stays with the right publish after the queue compacts its sent head', async () => {
    const { broker, conn } = await setup('manual', { window: 1, puback_timeout_ms: 60_000 });
    const now = 1_800_000_000_000_000;
    const N = 1_200; // the queue drops its sent head once more than 1,024 have left it
    for (let seq = 0; seq < N; seq++) conn.publish(item(seq), now - (N - seq) * 1_000);
    for (let seq = 0; seq < 1_100; seq++) {
      await waitUntil(() => broker.publishes.length === seq + 1, `PUBLISH ${seq}`);
      broker.release(seq);
    }
    await waitUntil(() => broker.publishes.length === 1_101, 'PUBLISH 1100');
    // Seq 1100 is in flight; the oldest still waiting is seq 1101, due (1200 − 1101) ms ago.
    expect(conn.queuedLateness(now)).toBe((N - 1_101) * 1_000);
  });

  it('times out a missing PUBACK, frees its slot, and still reports a late PUBACK without freeing a second slot', async () => {
    const timeoutMs = 200;
    const { broker, events, conn } = await setup('manual', { window: 3, puback_timeout_ms: timeoutMs });
    const sentAt = new Map<number, number>();
    const failedAt = new Map<number, number>();

    for (let seq = 0; seq < 7; seq++) conn.publish(item(seq));
    expect(conn.window_waits).toBe(4);

    // Round 1: 0..2 time out, which lets 3..5 out; 6 stays queued.
    await waitUntil(() => events.of('failed').length >= 3 && broker.publishes.length >= 6, 'first 3 timeouts and 3 more PUBLISHes');
    expect(events.of('acked')).toEqual([]);
    expect(broker.seqs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(conn.pending).toBe(4);

    // A late PUBACK for timed-out seq 0: reported as acked (the broker has it), frees nothing.
    broker.release(0);
    await waitUntil(() => events.of('acked').length === 1, 'late acked(0)');
    const late = events.of('acked')[0] as Extract<Event, { kind: 'acked' }>;
    expect(late.seq).toBe(0);
    expect(late.acked_us - late.sent_us).toBeGreaterThanOrEqual(timeoutMs * 1000);
    await sleep(30); // a wrongly freed slot would put seq 6 on the wire at once
    expect(broker.seqs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(conn.pending).toBe(4);
    expect(events.of('sent').map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);

    // Rounds 2 and 3: 3..5 time out, 6 goes out and times out.
    await waitUntil(() => events.of('failed').length >= 7, 'all 7 timeouts');
    await sleep(50);

    for (const e of events.events) {
      if (e.kind === 'sent') sentAt.set(e.seq, e.at_ms);
      if (e.kind === 'failed') failedAt.set(e.seq, e.at_ms);
    }
    const failed = events.of('failed') as Extract<Event, { kind: 'failed' }>[];
    expect(failed.map((e) => e.seq)).toEqual(range(0, 7));
    const delays: number[] = [];
    for (const e of failed) {
      expect(e.timedOut).toBe(true);
      expect(e.error.message).toMatch(/no PUBACK within 200 ms/);
      const delay = failedAt.get(e.seq)! - sentAt.get(e.seq)!;
      delays.push(Math.round(delay));
      expect(delay).toBeGreaterThanOrEqual(timeoutMs - 5);
      expect(delay).toBeLessThanOrEqual(450);
    }
    // Seq 6 only left once a timeout freed a slot: never less than the timeout after seq 3 was sent.
    expect(sentAt.get(6)! - sentAt.get(3)!).toBeGreaterThanOrEqual(timeoutMs - 5);
    expect(broker.seqs).toEqual(range(0, 7));
    expect(events.of('acked').map((e) => e.seq)).toEqual([0]); // only the late one
    expect(events.of('sent')).toHaveLength(7);
    expect(conn.pending).toBe(0);
    expect(conn.window_waits).toBe(4);
    console.log(`[publishers.test] PUBACK timeout delays (ms, timeout ${timeoutMs}): ${delays.join(', ')}`);
  });

  it('happy path: every publish is sent, then acked, and the queue drains', async () => {
    const { broker, events, conn } = await setup('immediate', { window: 8, puback_timeout_ms: 5_000 });
    const started = performance.now();

    for (let seq = 0; seq < 100; seq++) conn.publish(item(seq));
    expect(conn.pending).toBe(100);
    expect(conn.window_waits).toBe(92);

    await waitUntil(() => events.of('acked').length >= 100, '100 acks');
    const elapsed = performance.now() - started;
    await sleep(20);

    expect(events.of('failed')).toEqual([]);
    expect(events.of('sent').map((e) => e.seq)).toEqual(range(0, 100));
    expect(events.of('acked').map((e) => e.seq).sort((a, b) => a - b)).toEqual(range(0, 100));
    expect(broker.seqs).toEqual(range(0, 100)); // FIFO on the wire, each once
    expect(broker.publishes.every((p) => !p.dup)).toBe(true);
    for (let seq = 0; seq < 100; seq++) {
      const sentIndex = events.events.findIndex((e) => e.kind === 'sent' && e.seq === seq);
      const ackedIndex = events.events.findIndex((e) => e.kind === 'acked' && e.seq === seq);
      expect(sentIndex).toBeGreaterThanOrEqual(0);
      expect(ackedIndex).toBeGreaterThan(sentIndex);
      const acked = events.events[ackedIndex] as Extract<Event, { kind: 'acked' }>;
      expect(acked.acked_us - acked.sent_us).toBeGreaterThanOrEqual(0);
    }
    const latencies = (events.of('acked') as Extract<Event, { kind: 'acked' }>[]).map((e) => e.acked_us - e.sent_us);
    expect(conn.pending).toBe(0);
    console.log(
      `[publishers.test] happy path: 100 acked in ${elapsed.toFixed(1)} ms, publish→ack µs min ${Math.min(...latencies)} max ${Math.max(...latencies)}`,
    );
  });

  it('close() ends the connection and nothing is reported afterwards', async () => {
    const { broker, events, conn } = await setup('immediate', { window: 4, puback_timeout_ms: 100 });
    for (let seq = 0; seq < 20; seq++) conn.publish(item(seq));
    await waitUntil(() => events.of('acked').length >= 20, '20 acks');
    const before = events.events.length;

    const started = performance.now();
    await conn.close();
    const closeMs = performance.now() - started;
    await waitUntil(() => broker.socketsClosed === 1, 'socket closed at the broker', 2_000);
    expect(broker.disconnects).toBe(1);
    expect(conn.connected).toBe(false);
    await sleep(300); // three puback timeouts, a dozen sweeps
    expect(events.events.length).toBe(before);
    expect(broker.connects).toBe(1); // no reconnect
    console.log(`[publishers.test] close() with nothing in flight took ${closeMs.toFixed(1)} ms`);
  });

  it('close() stops the sweeper: in-flight publishes are not timed out after close', async () => {
    const { broker, events, conn } = await setup('never', { window: 3, puback_timeout_ms: 100 });
    for (let seq = 0; seq < 3; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length >= 3, '3 PUBLISHes');
    const before = events.events.length;
    expect(before).toBe(3); // sent × 3

    void conn.close().catch(() => {}); // not awaited: it does not resolve here (see below)
    await sleep(500); // five timeouts' worth: a live sweeper would report 3 failures
    expect(events.events.length).toBe(before);
    expect(events.of('failed')).toEqual([]);
  });

  // mqtt.js' non-forced end() waits for a PUBACK to every outstanding QoS 1 publish, including those
  // the sweeper already gave up on; close() gives them a grace period and then forces the end.
  it('close() resolves even when PUBACKs are outstanding', async () => {
    const { broker, conn } = await setup('never', { window: 3, puback_timeout_ms: 100 });
    for (let seq = 0; seq < 5; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length >= 3, '3 PUBLISHes');
    await sleep(250); // 0..2 timed out, 3..4 in flight: mqtt.js still holds all 5 as outgoing
    const outcome = await Promise.race([conn.close().then(() => 'closed'), sleep(1_500).then(() => 'hung')]);
    expect(outcome).toBe('closed');
  });

  // A PUBACK that arrives while close() waits must not pump the queue: queued items stay unsent
  // (queued-unacked in the log), not "sent" and then refused by the closing client.
  it('close(): PUBACKs arriving during close do not put queued items "on the wire"', async () => {
    const { broker, events, conn } = await setup('manual', { window: 2, puback_timeout_ms: 60_000 });
    for (let seq = 0; seq < 4; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length >= 2, '2 PUBLISHes');
    const closing = conn.close();
    const sentBeforeClose = events.of('sent').length;
    broker.release(0);
    broker.release(1);
    await Promise.race([closing, sleep(1_000)]);
    expect(events.of('acked').map((e) => e.seq)).toEqual([0, 1]); // late acks are fine: the broker has them
    expect(events.of('sent')).toHaveLength(sentBeforeClose);
    expect(events.of('failed')).toEqual([]);
  });
});

// The client writes its PUBLISH frames itself and reads PUBACKs off the bytes (no mqtt.js): what a
// broker's own parser (mqtt-packet, as Aedes uses) makes of them, packet ids, and reconnects.
describe('PublisherConnection on the wire', () => {
  for (const version of [4, 5] as const) {
    it(`MQTT ${version === 5 ? '5' : '3.1.1'}: every frame decodes to its topic, payload, QoS 1 and a packet id, also when many leave in one write`, async () => {
      const { broker, events, conn } = await setup('immediate', { window: 64, puback_timeout_ms: 10_000 }, version);
      const items = range(0, 500).map((seq) => ({
        ...item(seq),
        topic: seq % 3 === 0 ? `events/ünï/pub-${seq % 7}` : 'events/pub-0',
        payload: Buffer.from(JSON.stringify({ seq, pad: 'y'.repeat(seq % 200) })),
      }));
      for (const it of items) conn.publish(it);
      await waitUntil(() => events.of('acked').length === 500, '500 acks');
      expect(broker.publishes.map((p) => p.seq)).toEqual(range(0, 500));
      broker.publishes.forEach((p, i) => {
        expect(p.topic).toBe(items[i]!.topic);
        expect(p.payload.equals(items[i]!.payload)).toBe(true);
        expect(p.dup).toBe(false);
        expect(p.messageId).toBe(i + 1);
      });
      expect(events.of('failed')).toEqual([]);
    });
  }

  it('packet ids wrap from 65535 to 1 and skip an id still owed a PUBACK', async () => {
    const { broker, events, conn } = await setup('immediate', { window: 256, puback_timeout_ms: 600_000 });
    broker.holdSeqs.add(1); // id 2 stays owed throughout
    const N = 65_540;
    for (let seq = 0; seq < N; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length === N && events.of('acked').length === N - 1, `${N} PUBLISHes`, 60_000);
    const ids = broker.publishes.map((p) => p.messageId);
    expect(ids[0]).toBe(1);
    expect(ids[65_534]).toBe(65_535);
    // After 65535: 1 (free again), then 3, since 2 is still owed.
    expect(ids.slice(65_535, 65_538)).toEqual([1, 3, 4]);
    expect(conn.pending).toBe(1);
    // The owed one is still acked by its own id.
    broker.release(1);
    await waitUntil(() => events.of('acked').length === N, 'the last ack');
    expect(new Set(events.of('acked').map((e) => e.seq)).size).toBe(N);
  }, 90_000);

  it('a publish still in flight when the ids come round to its own keeps its place: the timeout sweep goes in send order across the wrap', async () => {
    const { broker, events, conn } = await setup('immediate', { window: 256, puback_timeout_ms: 6_000 });
    // Seq 0 (id 1) is owed throughout; seqs 65534 and 65535 are the last two sent before the ids
    // pass it again (ids 65535, then 2: 1 is skipped).
    for (const seq of [0, 65_534, 65_535]) broker.holdSeqs.add(seq);
    const N = 65_537;
    for (let seq = 0; seq < N; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length === N && events.of('acked').length === N - 3, `${N} PUBLISHes`, 60_000);
    expect(events.of('failed')).toEqual([]); // all that before the first timeout
    const ids = broker.publishes.map((p) => p.messageId);
    expect(ids.slice(65_533)).toEqual([65_534, 65_535, 2, 3]);
    await waitUntil(() => events.of('failed').length === 3, 'the three held ones to time out', 15_000);
    const failed = events.of('failed') as Extract<Event, { kind: 'failed' }>[];
    expect(failed.map((e) => [e.seq, e.timedOut])).toEqual([
      [0, true],
      [65_534, true],
      [65_535, true],
    ]);
    for (const seq of [0, 65_534, 65_535]) broker.release(seq);
    await waitUntil(() => events.of('acked').length === N, 'the late PUBACKs');
    expect(conn.pending).toBe(0);
  }, 90_000);

  // The output slab is written over once a write has left it (the socket holds none of its bytes);
  // a broker that stops reading makes writes back up, and what they still hold must stay intact.
  it('frames that back up behind a broker that stops reading reach it byte for byte', async () => {
    const { broker, events, conn } = await setup('immediate', { window: 100_000, puback_timeout_ms: 60_000 });
    broker.pauseReading(true);
    const N = 6_000;
    const items = range(0, N).map((seq) => ({ ...item(seq), payload: Buffer.from(JSON.stringify({ seq, pad: String(seq % 10).repeat(1_000 + (seq % 50)) })) }));
    for (let i = 0; i < N; i += 500) {
      for (const it of items.slice(i, i + 500)) conn.publish(it);
      await sleep(5); // several turns of the loop: writes that the kernel took, then ones it could not
    }
    await sleep(50);
    broker.pauseReading(false);
    await waitUntil(() => events.of('acked').length === N, `${N} acks`, 20_000);
    expect(broker.publishes.map((p) => p.seq)).toEqual(range(0, N));
    for (const [i, p] of broker.publishes.entries()) if (!p.payload.equals(items[i]!.payload)) throw new Error(`payload ${i} differs at the broker`);
  });

  it('PUBACKs split across reads (a packet cut anywhere, even in its fixed header) are each acked once, in order', async () => {
    const { broker, events, conn } = await setup('manual', { window: 8, puback_timeout_ms: 60_000 });
    for (let seq = 0; seq < 4; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length === 4, '4 PUBLISHes');
    const socket = broker.publishes[0]!.socket;
    socket.setNoDelay(true);
    const bytes = Buffer.from(broker.publishes.flatMap((p) => [0x40, 0x02, p.messageId >> 8, p.messageId & 0xff]));
    // Cuts after the first byte, inside an id, at a packet's end and two bytes into the next.
    for (const [from, to] of [[0, 1], [1, 3], [3, 8], [8, 10], [10, 16]] as const) {
      socket.write(bytes.subarray(from, to));
      await sleep(15); // each piece its own read
    }
    await waitUntil(() => events.of('acked').length === 4, '4 acks');
    await sleep(30);
    expect(events.of('acked').map((e) => e.seq)).toEqual([0, 1, 2, 3]);
    expect(conn.pending).toBe(0);
  });

  it('PUBACK accounting: a PUBACK for an id not owed, or a second one for the same id, acks nothing', async () => {
    const { broker, events, conn } = await setup('manual', { window: 4, puback_timeout_ms: 60_000 });
    for (let seq = 0; seq < 3; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length === 3, '3 PUBLISHes');
    broker.pubackId(77); // never used
    broker.release(1);
    await waitUntil(() => events.of('acked').length === 1, 'acked(1)');
    broker.pubackId(broker.publishes[1]!.messageId); // again
    await sleep(100);
    expect(events.of('acked').map((e) => e.seq)).toEqual([1]);
    expect(conn.pending).toBe(2);
    broker.release(0);
    broker.release(2);
    await waitUntil(() => events.of('acked').length === 3, 'all acked');
    expect(conn.pending).toBe(0);
  });

  it('after a lost connection it reconnects and resends every un-acked PUBLISH with its packet id and DUP set; publishes made meanwhile follow', async () => {
    const { broker, events, conn } = await setup('manual', { window: 8, puback_timeout_ms: 60_000 });
    for (let seq = 0; seq < 3; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length === 3, '3 PUBLISHes');
    broker.release(0);
    await waitUntil(() => events.of('acked').length === 1, 'acked(0)');
    const firstIds = broker.publishes.map((p) => p.messageId);

    broker.dropConnections();
    await waitUntil(() => !conn.connected, 'the client to notice');
    conn.publish(item(3)); // handed over while the connection is down
    await waitUntil(() => broker.connects === 2 && broker.publishes.length === 6, 'reconnect and 3 more PUBLISHes', 5_000);
    const again = broker.publishes.slice(3);
    expect(again.map((p) => [p.seq, p.messageId, p.dup])).toEqual([
      [1, firstIds[1], true],
      [2, firstIds[2], true],
      [3, 4, false],
    ]);
    for (const seq of [1, 2, 3]) broker.release(seq);
    await waitUntil(() => events.of('acked').length === 4, 'all acked');
    expect(events.of('acked').map((e) => e.seq).sort()).toEqual([0, 1, 2, 3]);
    expect(events.of('failed')).toEqual([]);
    expect(events.of('sent').map((e) => e.seq)).toEqual([0, 1, 2, 3]); // sent once each: a resend is not a new send
  });

  // In-flight publishes live in a table indexed by packet id (a power of two at least twice the
  // window, 16 here); its circular order is the send order. One PUBACK held while the ids run on
  // past a whole table makes it grow: ids stay sequential, the sweep still starts at the oldest.
  it('one PUBACK held while ids run past the in-flight table: ids stay sequential, only the held one times out, and its late PUBACK is reported', async () => {
    const timeoutMs = 400;
    const { broker, events, conn } = await setup('immediate', { window: 4, puback_timeout_ms: timeoutMs });
    broker.holdSeqs.add(0); // id 1 stays owed
    const N = 100;
    for (let seq = 0; seq < N; seq++) conn.publish(item(seq));
    await waitUntil(() => events.of('acked').length === N - 1, `${N - 1} acks`);
    expect(broker.publishes.map((p) => p.messageId)).toEqual(range(1, N + 1));
    expect(conn.pending).toBe(1);
    // More after the table grew: acked as before.
    for (let seq = N; seq < N + 20; seq++) conn.publish(item(seq));
    await waitUntil(() => events.of('acked').length === N + 19, `${N + 19} acks`);
    expect(broker.publishes.map((p) => p.messageId)).toEqual(range(1, N + 21));
    await waitUntil(() => events.of('failed').length === 1, 'the held one to time out', 3_000);
    const failed = events.of('failed') as Extract<Event, { kind: 'failed' }>[];
    expect(failed.map((e) => [e.seq, e.timedOut])).toEqual([[0, true]]);
    expect(conn.pending).toBe(0);
    broker.release(0);
    await waitUntil(() => events.of('acked').length === N + 20, 'the late PUBACK');
    expect(events.of('acked').at(-1)!.seq).toBe(0);
    // Its id is free again only now: the next publishes take ids on from N + 21.
    conn.publish(item(N + 20));
    await waitUntil(() => broker.publishes.length === N + 21, 'one more PUBLISH');
    expect(broker.publishes.at(-1)!.messageId).toBe(N + 21);
  });

  it('after a reconnect, timed-out publishes still owed a PUBACK and those in flight go out again in first-send order, same ids, DUP set', async () => {
    const timeoutMs = 800;
    const { broker, events, conn } = await setup('manual', { window: 8, puback_timeout_ms: timeoutMs });
    for (let seq = 0; seq < 2; seq++) conn.publish(item(seq));
    await waitUntil(() => events.of('failed').length === 2, 'the first two to time out', 3_000);
    for (let seq = 2; seq < 4; seq++) conn.publish(item(seq));
    await waitUntil(() => broker.publishes.length === 4, '4 PUBLISHes');
    broker.dropConnections();
    await waitUntil(() => broker.connects === 2 && broker.publishes.length === 8, 'reconnect and 4 PUBLISHes again', 5_000);
    expect(broker.publishes.slice(4).map((p) => [p.seq, p.messageId, p.dup])).toEqual([
      [0, 1, true],
      [1, 2, true],
      [2, 3, true],
      [3, 4, true],
    ]);
    for (const seq of [0, 1, 2, 3]) broker.release(seq);
    await waitUntil(() => events.of('acked').length === 4, 'all acked (two of them late)');
    expect(events.of('failed').map((e) => e.seq)).toEqual([0, 1]);
    expect(conn.pending).toBe(0);
  });

  it('an output batch shared by connections writes each one\'s frames in one socket write when flushed, at once; unflushed ones still leave', async () => {
    const output = new OutputBatch();
    const a = await setup('immediate', { window: 16, puback_timeout_ms: 10_000, output });
    const b = await setup('immediate', { window: 16, puback_timeout_ms: 10_000, output });
    const writes = (conn: PublisherConnection) => {
      const socket = (conn as unknown as { socket: net.Socket }).socket;
      const counted = { n: 0 };
      const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
      socket.write = ((chunk: Buffer) => {
        counted.n++;
        return write(chunk);
      }) as typeof socket.write;
      return counted;
    };
    const aWrites = writes(a.conn);
    const bWrites = writes(b.conn);
    for (let seq = 0; seq < 3; seq++) a.conn.publish(item(seq));
    for (let seq = 0; seq < 2; seq++) b.conn.publish(item(seq));
    expect([aWrites.n, bWrites.n]).toEqual([0, 0]);
    output.flush();
    expect([aWrites.n, bWrites.n]).toEqual([1, 1]); // at once, not on a later turn of the loop
    await waitUntil(() => a.broker.publishes.length === 3 && b.broker.publishes.length === 2, 'the frames at both brokers');
    // Not flushed by the caller: the batch's setImmediate writes them.
    a.conn.publish(item(3));
    await new Promise((resolve) => setImmediate(resolve));
    expect(aWrites.n).toBe(2);
    await waitUntil(() => a.events.of('acked').length === 4 && b.events.of('acked').length === 2, 'all acked');
  });

  it('MQTT 5: a PUBACK with a refusing reason code fails the publish and frees its slot; a late refusing one of a timed-out publish is no ack', async () => {
    const { broker, conn, events } = await setup('manual', { window: 1, puback_timeout_ms: 200 }, 5);
    conn.publish(item(0));
    conn.publish(item(1)); // waits for the only slot
    await waitUntil(() => broker.publishes.length === 1, 'seq 0 at the broker');
    broker.release(0, 0x87);
    await waitUntil(() => broker.publishes.length === 2, 'seq 1 sent once seq 0 was refused');
    expect(events.of('acked')).toEqual([]);
    const [refused] = events.of('failed') as Extract<Event, { kind: 'failed' }>[];
    expect([refused!.seq, refused!.timedOut]).toEqual([0, false]);
    expect(refused!.error.message).toBe('the broker refused the publish (PUBACK reason code 0x87)');
    // seq 1 times out, then its refusing PUBACK comes: still no ack.
    await waitUntil(() => events.of('failed').length === 2, 'seq 1 timed out', 5_000);
    broker.release(1, 0x80);
    await sleep(100);
    expect(events.of('acked')).toEqual([]);
    expect(events.of('failed').map((e) => e.seq)).toEqual([0, 1]);
  });

  it('a refused CONNACK rejects connect() naming the reason, without retrying for ever', async () => {
    const server = net.createServer((socket) => {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (packet: Packet) => {
        if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 5, sessionPresent: false }));
      });
      socket.on('data', (chunk) => parser.parse(chunk));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await expect(PublisherConnection.connect(url, 'refused', { window: 1, puback_timeout_ms: 1_000 }, recorder())).rejects.toThrow(/not authorized/);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
