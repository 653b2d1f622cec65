// The splitter in front of mqtt-packet's parser (issue 21): a stream of packets cut into chunks at
// every position, and at seeded random chunkings, gives the same packets: ordinary ones byte for
// byte to the parser, oversized PUBLISHes as their topic, packet id, first bytes, size and SHA-256.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { PacketSplitter, type StreamedPublish } from './oversized.ts';
import { seededRandom } from '../random.ts';

const ABOVE = 300;
const PREFIX = 64;

/** A payload of `length` bytes that differs at every position (so a lost or moved byte changes the hash). */
function payloadOf(length: number, salt: number): Buffer {
  const buffer = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buffer[i] = (i * 31 + salt) & 0xff;
  return buffer;
}

interface Case {
  stream: Buffer;
  /** The ordinary packets' bytes, in order (what the parser must get). */
  ordinary: Buffer;
  /** What the caller must see, in order. */
  expected: string[];
}

function describePacket(packet: Packet): string {
  if (packet.cmd === 'publish') {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    return `packet publish ${packet.topic} q${packet.qos} id${packet.messageId ?? '-'} ${createHash('sha256').update(payload).digest('hex')}`;
  }
  return `packet ${packet.cmd}`;
}

function describeStreamed(p: StreamedPublish): string {
  if (!p.oversized) return `whole ${p.topic} q${p.qos} id${p.messageId ?? '-'} ${createHash('sha256').update(p.payload).digest('hex')}`;
  return `oversized ${p.topic} q${p.qos} id${p.messageId ?? '-'} dup${p.dup} ${p.payload.toString('hex')} ${p.oversized.bytes} ${p.oversized.sha256}`;
}

function expectOversized(topic: string, qos: number, messageId: number | undefined, payload: Buffer, dup = false): string {
  const sha = createHash('sha256').update(payload).digest('hex');
  return `oversized ${topic} q${qos} id${messageId ?? '-'} dup${dup} ${payload.subarray(0, PREFIX).toString('hex')} ${payload.length} ${sha}`;
}

function buildCase(version: 4 | 5): Case {
  const parts: { bytes: Buffer; ordinary: boolean; expected: string }[] = [];
  const ordinary = (packet: Packet) => {
    const bytes = mqttPacket.generate(packet, { protocolVersion: version });
    const parsed = mqttPacket.parser({ protocolVersion: version });
    let seen = '';
    parsed.on('packet', (p: Packet) => (seen = describePacket(p)));
    parsed.parse(bytes);
    parts.push({ bytes, ordinary: true, expected: seen });
  };
  const oversized = (packet: Packet & { cmd: 'publish' }, expected: string) => {
    parts.push({ bytes: mqttPacket.generate(packet, { protocolVersion: version }), ordinary: false, expected });
  };
  const big = payloadOf(17_000, 1); // remaining length over 16,383: a 3-byte varint
  const long = payloadOf(1_000, 7);
  const medium = payloadOf(ABOVE + 1, 2);
  const atLimit = payloadOf(ABOVE - 20, 3);
  ordinary({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false });
  ordinary({ cmd: 'suback', messageId: 1, granted: [1] });
  ordinary({ cmd: 'publish', topic: 'events/a', payload: payloadOf(40, 4), qos: 1, messageId: 7, dup: false, retain: false });
  oversized({ cmd: 'publish', topic: 'events/big', payload: big, qos: 1, messageId: 8, dup: false, retain: false }, expectOversized('events/big', 1, 8, big));
  ordinary({ cmd: 'pingresp' });
  oversized({ cmd: 'publish', topic: 'events/just-over', payload: medium, qos: 1, messageId: 65535, dup: true, retain: false }, expectOversized('events/just-over', 1, 65535, medium, true));
  oversized({ cmd: 'publish', topic: 'events/q0', payload: long, qos: 0, dup: false, retain: false }, expectOversized('events/q0', 0, undefined, long));
  // At the limit the packet is ordinary (the parser's), whatever it holds.
  ordinary({ cmd: 'publish', topic: 'events/at-limit', payload: atLimit, qos: 1, messageId: 9, dup: false, retain: false });
  oversized(
    { cmd: 'publish', topic: `events/${'t'.repeat(500)}`, payload: long, qos: 1, messageId: 10, dup: false, retain: false },
    expectOversized(`events/${'t'.repeat(500)}`, 1, 10, long),
  );
  if (version === 5) {
    // Long for its properties, short payload: kept whole. And properties before an oversized payload.
    const small = payloadOf(100, 5);
    oversized(
      { cmd: 'publish', topic: 'events/props', payload: small, qos: 1, messageId: 11, dup: false, retain: false, properties: { userProperties: { note: 'p'.repeat(400) } } },
      `whole events/props q1 id11 ${createHash('sha256').update(small).digest('hex')}`,
    );
    oversized(
      { cmd: 'publish', topic: 'events/big-props', payload: long, qos: 1, messageId: 12, dup: false, retain: false, properties: { contentType: 'application/json', userProperties: { a: 'b'.repeat(200) } } },
      expectOversized('events/big-props', 1, 12, long),
    );
  }
  ordinary({ cmd: 'publish', topic: 'events/last', payload: payloadOf(10, 6), qos: 1, messageId: 13, dup: false, retain: false });
  return {
    stream: Buffer.concat(parts.map((p) => p.bytes)),
    ordinary: Buffer.concat(parts.filter((p) => p.ordinary).map((p) => p.bytes)),
    expected: parts.map((p) => p.expected),
  };
}

function feed(version: 4 | 5, chunks: Buffer[]): { seen: string[]; forwarded: Buffer; errors: string[] } {
  const seen: string[] = [];
  const forwarded: Buffer[] = [];
  const errors: string[] = [];
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (p: Packet) => seen.push(describePacket(p)));
  parser.on('error', (e: Error) => errors.push(e.message));
  const splitter = new PacketSplitter(
    { above_bytes: ABOVE, prefix_bytes: PREFIX, protocolVersion: version },
    {
      bytes: (chunk) => {
        forwarded.push(Buffer.from(chunk));
        parser.parse(chunk);
      },
      publish: (p) => seen.push(describeStreamed(p)),
      error: (e) => errors.push(e.message),
    },
  );
  for (const chunk of chunks) splitter.push(chunk);
  return { seen, forwarded: Buffer.concat(forwarded), errors };
}

describe.each([4, 5] as const)('PacketSplitter, MQTT %s', (version) => {
  const c = buildCase(version);

  it('one chunk: ordinary packets reach the parser byte for byte, oversized ones come as their prefix, size and SHA-256', () => {
    const { seen, forwarded, errors } = feed(version, [c.stream]);
    expect(errors).toEqual([]);
    expect(seen).toEqual(c.expected);
    expect(forwarded.equals(c.ordinary)).toBe(true);
  });

  it('cut in two at every position: the same packets', () => {
    for (let at = 0; at <= c.stream.length; at++) {
      const { seen, forwarded, errors } = feed(version, [c.stream.subarray(0, at), c.stream.subarray(at)]);
      if (errors.length > 0 || !forwarded.equals(c.ordinary) || seen.join('\n') !== c.expected.join('\n')) {
        expect({ at, errors, seen }).toEqual({ at, errors: [], seen: c.expected });
        expect(forwarded.equals(c.ordinary)).toBe(true);
      }
    }
  });

  it('one byte at a time, and 300 seeded random chunkings: the same packets', () => {
    const random = seededRandom(20261203 + version);
    const chunkings: Buffer[][] = [[...c.stream].map((byte) => Buffer.from([byte]))];
    for (let i = 0; i < 300; i++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < c.stream.length; ) {
        // Mostly small cuts (headers split anywhere), sometimes large ones.
        const size = random() < 0.8 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * 4_000);
        chunks.push(c.stream.subarray(at, at + size));
        at += size;
      }
      chunkings.push(chunks);
    }
    for (const chunks of chunkings) {
      const { seen, forwarded, errors } = feed(version, chunks);
      expect(errors).toEqual([]);
      expect(seen).toEqual(c.expected);
      expect(forwarded.equals(c.ordinary)).toBe(true);
    }
  });
});

describe('PacketSplitter refuses what is malformed', () => {
  const refuse = (bytes: number[]) => feed(4, [Buffer.from(bytes)]).errors;

  it('a remaining length of more than 4 bytes', () => {
    expect(refuse([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])).toEqual(['malformed remaining length (more than 4 bytes)']);
  });

  it('an oversized PUBLISH with both QoS bits set', () => {
    expect(refuse([0x36, 0xe8, 0x07, 0x00, 0x01, 0x61])).toEqual(['Packet must not have both QoS bits set to 1']);
  });

  it('an oversized PUBLISH whose topic is longer than the packet', () => {
    const packet = [0x32, 0xad, 0x02, 0xff, 0xff, ...Array.from({ length: 299 }, () => 0x61)];
    expect(refuse(packet)).toEqual(['malformed PUBLISH: its variable header is longer than the packet']);
  });
});
