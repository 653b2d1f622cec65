// Issue 21's probe: one oversized QoS 1 message (a harness event whose payload is N bytes) between
// two valid events, through a real broker into a real aggregator child process with a SQLite sink.
// It reports the peak resident memory (VmHWM, from /proc) of the aggregator and of the broker, and
// what the sink and the DLQ hold. The publisher streams the big PUBLISH from a raw socket a chunk
// at a time (hashing it as it goes), so the probe itself never holds the message.
//
// Used by aggregator/consumer/oversized.e2e.test.ts and, as a command, for the lab note:
//   npx tsx test-support/oversized-message.ts --broker embedded|mosquitto --mb 250 [--mqtt 4|5]

import { createHash } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ulid } from 'ulid';
import { AggregatorProcess } from '../engine/aggregator-process.ts';
import { EmbeddedBroker } from '../engine/broker/embedded.ts';
import { startMosquitto } from '../engine/broker/mosquitto.ts';
import type { BrokerHandle } from '../engine/broker/handle.ts';
import { DEFAULT_AGGREGATOR_CONFIG } from '../aggregator/service.ts';
import { serializeEvent } from '../aggregator/event/parse.ts';
import { readDeadLetters, readSinkRows } from '../aggregator/sink/sqlite.ts';
import type { DeadLetter, SinkRow } from '../aggregator/sink/index.ts';
import { nowMicros } from '../aggregator/clock.ts';
import type { AggregatorCounters } from '../aggregator/pipeline.ts';
import { PublishLog } from '../engine/load/log.ts';
import { writeRemainingLength } from '../engine/load/publishers.ts';
import { peakRssMb } from './process-memory.ts';
import { until } from './until.ts';

export interface OversizedProbeOptions {
  broker: 'embedded' | 'mosquitto';
  /** Bytes of the big event's payload string (the message is that plus its envelope, about 150 bytes). */
  payload_bytes: number;
  mqtt_version?: 4 | 5;
  /** A fresh directory for the sink. */
  dir: string;
  /** How long to wait for the sink and the DLQ (default 180 s). */
  timeout_ms?: number;
}

/** What was sent, so that a caller can hold the DLQ and the sink against it. */
export interface SentEvent {
  event_id: string;
  source: string;
  seq: number;
  topic: string;
}

export interface OversizedProbeResult {
  /** The small events sent before and after the big one. */
  small: SentEvent[];
  big: SentEvent & { bytes: number; sha256: string; prefix: Buffer };
  sink_rows: SinkRow[];
  dead_letters: DeadLetter[];
  /** VmHWM, MB: after the aggregator started and committed the first event, and at the end. */
  aggregator_baseline_mb: number;
  aggregator_peak_mb: number;
  /** The broker process's VmHWM, MB, before the big message and at the end. */
  broker_baseline_mb: number;
  broker_peak_mb: number;
  /** Wall time from the first byte of the big PUBLISH to its dead letter, ms (reported, never asserted). */
  dead_lettered_after_ms: number;
  /** The harness's own record of the three events: queued, sent, and acked when the broker's PUBACK came. */
  log: PublishLog;
  /** The aggregator's own counters at its stop (self-reported). */
  counters: AggregatorCounters | undefined;
}

const BIG_SOURCE = 'oversize-big';
const SMALL_SOURCE = 'oversize-small';
const CHUNK_BYTES = 1 << 20;

export async function probeOversizedMessage(options: OversizedProbeOptions): Promise<OversizedProbeResult> {
  const version = options.mqtt_version ?? 4;
  const timeoutMs = options.timeout_ms ?? 180_000;
  const broker: BrokerHandle =
    options.broker === 'embedded' ? await EmbeddedBroker.start({ persistence: 'memory' }) : await startMosquitto({ maxQueuedMessages: 0 });
  const sinkPath = join(options.dir, 'sink.db');
  const aggregator = new AggregatorProcess({
    ...DEFAULT_AGGREGATOR_CONFIG,
    broker_url: broker.url,
    broker_access: { mqtt_version: version },
    client_id: `oversize-${process.pid}-${Date.now()}`,
    topic: 'events/oversize/#',
    sink: `sqlite:${sinkPath}`,
    dedup: 'memory',
  });
  const publisher = new RawPublisher();
  try {
    await aggregator.start();
    await publisher.connect(broker.url, version);
    const small = [smallEvent(0), smallEvent(1)];
    await publisher.publish(small[0]!, Buffer.from(small[0]!.text));
    await until(() => readSinkRows(sinkPath).length >= 1, timeoutMs, 'the first event to be committed');
    const aggregatorPid = aggregator.pid!;
    const brokerPid = broker.pid!;
    const aggregator_baseline_mb = peakRssMb(aggregatorPid)!;
    const broker_baseline_mb = peakRssMb(brokerPid)!;

    const started = performance.now();
    const big = await publisher.publishBig(options.payload_bytes);
    await publisher.publish(small[1]!, Buffer.from(small[1]!.text));
    await until(() => readDeadLetters(sinkPath).length >= 1 && readSinkRows(sinkPath).length >= 2, timeoutMs, 'the big message to be dead-lettered and the last event committed');
    const dead_lettered_after_ms = performance.now() - started;
    const aggregator_peak_mb = peakRssMb(aggregatorPid)!;
    const broker_peak_mb = peakRssMb(brokerPid)!;
    await publisher.allAcked(timeoutMs);
    await aggregator.stop();
    return {
      log: publisher.log,
      counters: aggregator.counters,
      small: small.map(({ text: _text, ...sent }) => sent),
      big,
      sink_rows: readSinkRows(sinkPath),
      dead_letters: readDeadLetters(sinkPath),
      aggregator_baseline_mb,
      aggregator_peak_mb,
      broker_baseline_mb,
      broker_peak_mb,
      dead_lettered_after_ms,
    };
  } finally {
    publisher.close();
    await aggregator.kill();
    await broker.stop();
  }
}

function smallEvent(seq: number): SentEvent & { text: string } {
  const event_id = ulid();
  const topic = `events/oversize/${SMALL_SOURCE}`;
  return { event_id, source: SMALL_SOURCE, seq, topic, text: serializeEvent({ v: 1, event_id, source: SMALL_SOURCE, seq, topic, ts: new Date().toISOString(), payload: { seq } }) };
}

/** A bare MQTT publisher on a raw socket: small QoS 1 publishes, and one big one written a chunk at a time. */
export class RawPublisher {
  private socket: net.Socket | undefined;
  private version: 4 | 5 = 4;
  private nextId = 1;
  private readonly waiting = new Map<number, () => void>();
  readonly log = new PublishLog();
  private readonly pending = new Set<Promise<void>>();
  private connacked: (() => void) | undefined;

  async connect(url: string, version: 4 | 5): Promise<void> {
    const { hostname, port } = new URL(url);
    this.version = version;
    const socket = net.connect({ host: hostname, port: Number(port) });
    this.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connack') this.connacked?.();
      if (packet.cmd === 'puback' && packet.messageId !== undefined) this.waiting.get(packet.messageId)?.();
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    // A reset by a broker that refuses a message shows as `closed`; the error itself is expected then.
    socket.on('error', () => {});
    const ready = new Promise<void>((resolve, reject) => {
      this.connacked = resolve;
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`the broker at ${url} closed the connection before its CONNACK`)));
    });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `oversize-pub-${process.pid}`, clean: true, keepalive: 300 }, { protocolVersion: version }));
    await ready;
  }

  /** A QoS 1 publish; resolves on its PUBACK. */
  async publish(event: SentEvent, payload: Buffer): Promise<void> {
    const messageId = this.nextId++;
    const acked = this.acked(messageId, event);
    this.socket!.write(mqttPacket.generate({ cmd: 'publish', topic: event.topic, payload, qos: 1, messageId, dup: false, retain: false }, { protocolVersion: this.version }));
    await acked;
  }

  /** Every PUBACK owed has come. */
  async allAcked(timeoutMs: number): Promise<void> {
    await until(() => this.pending.size === 0, timeoutMs, 'the broker to ack every publish');
  }

  /**
   * The big event as one QoS 1 PUBLISH, its header written by hand and its payload string streamed
   * in 1 MiB chunks (waiting for 'drain'), hashed on the way. Resolves once written (not on its PUBACK,
   * which the broker may send after its subscriber's).
   */
  async publishBig(payloadBytes: number): Promise<OversizedProbeResult['big']> {
    const socket = this.socket!;
    const event_id = ulid();
    const topic = `events/oversize/${BIG_SOURCE}`;
    const head = Buffer.from(`{"v":1,"event_id":"${event_id}","source":"${BIG_SOURCE}","seq":0,"topic":"${topic}","ts":"${new Date().toISOString()}","payload":"`);
    const tail = Buffer.from('"}');
    const bytes = head.length + payloadBytes + tail.length;
    const topicBytes = Buffer.from(topic);
    const messageId = this.nextId++;
    const acked = this.acked(messageId, { event_id, source: BIG_SOURCE, seq: 0, topic });
    const variable = Buffer.alloc(2 + topicBytes.length + 2 + (this.version === 5 ? 1 : 0));
    variable.writeUInt16BE(topicBytes.length, 0);
    topicBytes.copy(variable, 2);
    variable.writeUInt16BE(messageId, 2 + topicBytes.length);
    // MQTT 5: a properties length of 0 (the buffer's last byte, already zero).
    const hash = createHash('sha256');
    // A broker that closes the connection mid-message (a size limit) ends the writing, not the probe.
    const write = async (chunk: Buffer) => {
      if (socket.destroyed || socket.write(chunk)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done).off('close', done);
          resolve();
        };
        socket.on('drain', done).on('close', done);
      });
    };
    await write(Buffer.concat([Buffer.from([0x32]), remainingLength(variable.length + bytes), variable]));
    hash.update(head);
    await write(head);
    const filler = Buffer.alloc(CHUNK_BYTES, 'x');
    for (let left = payloadBytes; left > 0; left -= CHUNK_BYTES) {
      const chunk = left >= CHUNK_BYTES ? filler : filler.subarray(0, left);
      hash.update(chunk);
      await write(chunk);
    }
    hash.update(tail);
    await write(tail);
    void acked;
    return { event_id, source: BIG_SOURCE, seq: 0, topic, bytes, sha256: hash.digest('hex'), prefix: head };
  }

  /** True once the connection has closed (the broker may close it). */
  get closed(): boolean {
    return this.socket?.destroyed ?? true;
  }

  close(): void {
    this.socket?.destroy();
  }

  /** Records the event as the harness's publishers do (queued, sent; acked on its PUBACK), resolving on the PUBACK. */
  private acked(messageId: number, event: SentEvent): Promise<void> {
    const record = this.log.record(event.source);
    this.log.add(record, event.seq, nowMicros());
    this.log.sent(record, event.seq, false);
    const acked = new Promise<void>((resolve) =>
      this.waiting.set(messageId, () => {
        this.waiting.delete(messageId);
        this.log.acked(record, event.seq, false);
        resolve();
      }),
    );
    this.pending.add(acked);
    void acked.then(() => this.pending.delete(acked));
    return acked;
  }
}

/** MQTT's remaining length as its own bytes. */
function remainingLength(length: number): Buffer {
  const bytes = Buffer.alloc(4);
  return bytes.subarray(0, writeRemainingLength(bytes, 0, length));
}

// As a command: one probe, its figures as one JSON line.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, fallback: string) => {
    const at = process.argv.indexOf(`--${name}`);
    return at === -1 ? fallback : process.argv[at + 1]!;
  };
  const broker = arg('broker', 'embedded');
  if (broker !== 'embedded' && broker !== 'mosquitto') throw new Error('--broker must be embedded or mosquitto');
  const mb = Number(arg('mb', '250'));
  const version = Number(arg('mqtt', '4')) as 4 | 5;
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-oversize-'));
  try {
    const r = await probeOversizedMessage({ broker, payload_bytes: mb * 1024 * 1024, mqtt_version: version, dir });
    const letter = r.dead_letters[0];
    console.log(
      JSON.stringify({
        broker,
        mqtt_version: version,
        message_bytes: r.big.bytes,
        aggregator_baseline_mb: Math.round(r.aggregator_baseline_mb),
        aggregator_peak_mb: Math.round(r.aggregator_peak_mb),
        broker_baseline_mb: Math.round(r.broker_baseline_mb),
        broker_peak_mb: Math.round(r.broker_peak_mb),
        dead_lettered_after_ms: Math.round(r.dead_lettered_after_ms),
        sink_rows: r.sink_rows.length,
        dead_letters: r.dead_letters.length,
        dlq_raw_bytes: letter === undefined ? null : Buffer.byteLength(letter.raw),
        hash_matches: letter?.reason.includes(r.big.sha256) ?? false,
        reason: letter?.reason.slice(0, 200),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
