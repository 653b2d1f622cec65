// Issue 21: an oversized PUBLISH is never held whole. mqtt-packet's parser accumulates a packet
// until its last byte, so a 250 MB message cost the aggregator 250 MB (and more, in copies) before
// the pipeline cut it down to a dead letter of 4 KiB. This splitter sits in front of that parser:
// it follows packet boundaries (the fixed header's type byte and remaining-length varint) and passes
// every packet through untouched, except a PUBLISH whose remaining length is over `above_bytes`.
// That one it reads itself: the topic, the packet id and (MQTT 5) the properties, skipped, from
// the variable header; then the payload a chunk at a time, keeping its first `prefix_bytes`,
// counting it and feeding a SHA-256. It hands over a StreamedPublish whose payload is that prefix
// and whose `oversized` says the size and hash. A payload at or under `above_bytes` (the packet was
// long for its properties) is kept whole and handed over as an ordinary message. Memory per
// connection: one socket chunk, the prefix and the variable header (a topic is at most 64 KiB).
//
// Pure: bytes in, calls out, no sockets. Chunks may split anything anywhere (tested at every split
// position of a packet stream, and at seeded random chunkings).

import { createHash, type Hash } from 'node:crypto';

/** What an oversized payload was, for its dead letter (the payload handed over is its prefix). */
export interface OversizedPayload {
  /** The payload's size in bytes. */
  bytes: number;
  /** SHA-256 of the whole payload, hex. */
  sha256: string;
}

/** A PUBLISH the splitter read itself. */
export interface StreamedPublish {
  topic: string;
  qos: 0 | 1 | 2;
  dup: boolean;
  retain: boolean;
  messageId: number | undefined;
  /** The whole payload, or with `oversized` its first prefix_bytes. */
  payload: Buffer;
  oversized?: OversizedPayload;
}

export interface SplitterOptions {
  /** A PUBLISH with a remaining length over this is streamed, and its payload over this is not kept. */
  above_bytes: number;
  /** Bytes of an oversized payload kept (the DLQ's prefix). */
  prefix_bytes: number;
  protocolVersion: 4 | 5;
}

export interface SplitterSink {
  /** Bytes of ordinary packets, whole or in part, in order (for mqtt-packet's parser). */
  bytes(chunk: Buffer): void;
  publish(publish: StreamedPublish): void;
  error(error: Error): void;
  /** Told, as soon as its fixed header is read, of a PUBLISH longer than above_bytes (before any of it is streamed). */
  oversized?(remainingLength: number): void;
}

const PUBLISH = 3;

type Step = 'header' | 'body' | 'topic-length' | 'topic' | 'message-id' | 'properties-length' | 'properties' | 'payload';

export class PacketSplitter {
  private step: Step = 'header';
  /** The fixed header being read: type byte and up to 4 length bytes. */
  private readonly header = Buffer.alloc(5);
  private headerLength = 0;
  /** Of those, bytes that came in earlier chunks (not in the current one). */
  private headerCarried = 0;
  /** Bytes of the current packet's body still to come. */
  private left = 0;
  private failed = false;

  // The PUBLISH being streamed.
  private flags = 0;
  private field: Buffer = Buffer.alloc(0);
  private fieldLength = 0;
  private topic = '';
  private messageId: number | undefined;
  private propertiesLength = 0;
  private propertiesShift = 0;
  private payloadBytes = 0;
  private kept: Buffer = Buffer.alloc(0);
  private keptLength = 0;
  private hash: Hash | undefined;

  constructor(
    private readonly options: SplitterOptions,
    private readonly sink: SplitterSink,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    let at = 0;
    // Bytes of ordinary packets from runStart to `at` go to sink.bytes in one piece; -1: inside a streamed PUBLISH.
    let runStart = this.streaming() ? -1 : 0;
    while (at < chunk.length) {
      if (this.step === 'body') {
        const n = Math.min(this.left, chunk.length - at);
        at += n;
        this.left -= n;
        if (this.left === 0) this.step = 'header';
        continue;
      }
      if (this.step === 'header') {
        const byte = chunk[at++]!;
        this.header[this.headerLength++] = byte;
        if (this.headerLength === 1 || (byte & 0x80) !== 0) {
          if (this.headerLength === 5) return this.fail(new Error('malformed remaining length (more than 4 bytes)'));
          continue;
        }
        const length = decodeLength(this.header, 1, this.headerLength);
        const headerLength = this.headerLength;
        const carried = this.headerCarried;
        this.headerLength = 0;
        this.headerCarried = 0;
        if (this.header[0]! >> 4 !== PUBLISH || length <= this.options.above_bytes) {
          // An ordinary packet: the part of its header from earlier chunks first, the rest is in this run.
          if (carried > 0) this.sink.bytes(Buffer.from(this.header.subarray(0, carried)));
          this.left = length;
          this.step = length === 0 ? 'header' : 'body';
          continue;
        }
        const headerStart = at - (headerLength - carried);
        if (runStart >= 0 && headerStart > runStart) this.sink.bytes(chunk.subarray(runStart, headerStart));
        runStart = -1;
        this.sink.oversized?.(length);
        if (!this.begin(this.header[0]! & 0x0f, length)) return;
        continue;
      }
      at = this.stream(chunk, at);
      if (this.failed) return;
      if (!this.streaming()) runStart = at;
    }
    if (runStart < 0) return;
    // A header cut off at the end of the chunk waits for the next one, in this.header.
    const end = this.step === 'header' ? chunk.length - (this.headerLength - this.headerCarried) : chunk.length;
    if (this.step === 'header') this.headerCarried = this.headerLength;
    if (end > runStart) this.sink.bytes(chunk.subarray(runStart, end));
  }

  private streaming(): boolean {
    return this.step !== 'header' && this.step !== 'body';
  }

  private begin(flags: number, length: number): boolean {
    const qos = (flags >> 1) & 3;
    if (qos === 3) {
      this.fail(new Error('Packet must not have both QoS bits set to 1'));
      return false;
    }
    this.flags = flags;
    this.left = length;
    this.topic = '';
    this.messageId = undefined;
    this.hash = undefined;
    this.expect('topic-length', 2);
    return true;
  }

  /** The next field of the variable header: `length` bytes collected into this.field. */
  private expect(step: Step, length: number): void {
    if (length > this.left) return this.fail(new Error('malformed PUBLISH: its variable header is longer than the packet'));
    this.step = step;
    this.field = Buffer.alloc(length);
    this.fieldLength = 0;
  }

  /** Consumes bytes of the streamed PUBLISH from chunk[at]; returns the new position. */
  private stream(chunk: Buffer, at: number): number {
    const available = Math.min(chunk.length - at, this.left);
    if (this.step === 'payload') {
      const end = at + available;
      if (this.keptLength < this.kept.length) {
        const n = Math.min(this.kept.length - this.keptLength, available);
        chunk.copy(this.kept, this.keptLength, at, at + n);
        this.keptLength += n;
      }
      this.hash?.update(chunk.subarray(at, end));
      this.left -= available;
      if (this.left === 0) this.finish();
      return end;
    }
    if (this.step === 'properties') {
      const n = Math.min(available, this.propertiesLength);
      this.propertiesLength -= n;
      this.left -= n;
      if (this.propertiesLength === 0) this.startPayload();
      return at + n;
    }
    if (available === 0) {
      this.fail(new Error(`malformed PUBLISH: its variable header is longer than the packet`));
      return at;
    }
    if (this.step === 'properties-length') {
      const byte = chunk[at]!;
      this.left--;
      this.propertiesLength += (byte & 0x7f) * 2 ** this.propertiesShift;
      this.propertiesShift += 7;
      if ((byte & 0x80) === 0) {
        if (this.propertiesLength > this.left) this.fail(new Error('malformed PUBLISH: its properties are longer than the packet'));
        else if (this.propertiesLength === 0) this.startPayload();
        else this.step = 'properties';
      } else if (this.propertiesShift >= 28) this.fail(new Error('malformed properties length (more than 4 bytes)'));
      return at + 1;
    }
    // topic-length, topic, message-id: fixed-size fields, collected whole.
    const n = Math.min(available, this.field.length - this.fieldLength);
    chunk.copy(this.field, this.fieldLength, at, at + n);
    this.fieldLength += n;
    this.left -= n;
    if (this.fieldLength === this.field.length) this.fieldDone();
    return at + n;
  }

  private fieldDone(): void {
    const qos = (this.flags >> 1) & 3;
    switch (this.step) {
      case 'topic-length':
        return this.expect('topic', this.field.readUInt16BE(0));
      case 'topic':
        this.topic = this.field.toString('utf8');
        if (qos > 0) return this.expect('message-id', 2);
        return this.afterMessageId();
      case 'message-id':
        this.messageId = this.field.readUInt16BE(0);
        return this.afterMessageId();
      default:
        return;
    }
  }

  private afterMessageId(): void {
    if (this.options.protocolVersion === 5) {
      this.step = 'properties-length';
      this.propertiesLength = 0;
      this.propertiesShift = 0;
    } else this.startPayload();
  }

  private startPayload(): void {
    this.payloadBytes = this.left;
    // A payload at or under the limit (a long packet for its properties) is kept whole; over it, its prefix and hash.
    const whole = this.payloadBytes <= this.options.above_bytes;
    this.kept = Buffer.alloc(whole ? this.payloadBytes : Math.min(this.options.prefix_bytes, this.payloadBytes));
    this.keptLength = 0;
    this.hash = whole ? undefined : createHash('sha256');
    this.step = 'payload';
    if (this.left === 0) this.finish();
  }

  private finish(): void {
    this.step = 'header';
    const qos = ((this.flags >> 1) & 3) as 0 | 1 | 2;
    const publish: StreamedPublish = {
      topic: this.topic,
      qos,
      dup: (this.flags & 0x08) !== 0,
      retain: (this.flags & 0x01) !== 0,
      messageId: this.messageId,
      payload: this.kept,
      ...(this.hash ? { oversized: { bytes: this.payloadBytes, sha256: this.hash.digest('hex') } } : {}),
    };
    this.kept = Buffer.alloc(0);
    this.field = Buffer.alloc(0);
    this.hash = undefined;
    this.sink.publish(publish);
  }

  private fail(error: Error): void {
    this.failed = true;
    this.sink.error(error);
  }
}

function decodeLength(buffer: Buffer, from: number, to: number): number {
  let length = 0;
  for (let i = to - 1; i >= from; i--) length = length * 128 + (buffer[i]! & 0x7f);
  return length;
}
