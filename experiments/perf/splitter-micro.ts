// Micro-benchmark of what the oversized-PUBLISH splitter (aggregator/consumer/oversized.ts) adds to
// the consumer's ordinary path: a stream of dup-storm-sized QoS 1 PUBLISHes (about 400 bytes) in
// 64 KiB chunks, as a socket hands them over, parsed by mqtt-packet alone and by the splitter in
// front of it, alternately; ns per packet, median of the rounds. No sockets.
//
//   npx tsx experiments/perf/splitter-micro.ts [--packets 200000] [--rounds 7]

import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { PacketSplitter } from '../../aggregator/consumer/oversized.ts';

const { values: args } = parseArgs({ options: { packets: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '7' } } });
const N = Number(args.packets);
const ROUNDS = Number(args.rounds);
const CHUNK = 64 * 1024;

const packets = Array.from({ length: 1_000 }, (_, i) =>
  mqttPacket.generate({ cmd: 'publish', topic: `events/dup-storm/pub-${i % 4}`, payload: Buffer.from(`{"v":1,"seq":${i},"payload":"${'x'.repeat(300)}"}`), qos: 1, messageId: 1 + i, dup: false, retain: false }),
);
const stream = Buffer.concat(Array.from({ length: N }, (_, i) => packets[i % packets.length]!));
const chunks: Buffer[] = [];
for (let at = 0; at < stream.length; at += CHUNK) chunks.push(stream.subarray(at, at + CHUNK));

function parserAlone(): number {
  let seen = 0;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', () => seen++);
  for (const chunk of chunks) parser.parse(chunk);
  return seen;
}

function withSplitter(): number {
  let seen = 0;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', () => seen++);
  const splitter = new PacketSplitter(
    { above_bytes: 64 * 1024 + 4096, prefix_bytes: 4096, protocolVersion: 4 },
    { bytes: (chunk) => parser.parse(chunk), publish: () => seen++, error: (error) => { throw error; } },
  );
  for (const chunk of chunks) splitter.push(chunk);
  return seen;
}

/** The splitter's own walk over the packet boundaries, the bytes handed to nothing. */
function splitterAlone(): number {
  let seen = 0;
  const splitter = new PacketSplitter(
    { above_bytes: 64 * 1024 + 4096, prefix_bytes: 4096, protocolVersion: 4 },
    { bytes: () => {}, publish: () => seen++, error: (error) => { throw error; } },
  );
  for (const chunk of chunks) splitter.push(chunk);
  return N - seen;
}

const cases = { 'mqtt-packet parser alone': parserAlone, 'splitter + mqtt-packet parser': withSplitter, 'splitter alone (bytes to nothing)': splitterAlone };
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (const run of Object.values(cases)) run(); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(cases)) {
    const started = process.hrtime.bigint();
    const seen = run();
    const ns = Number(process.hrtime.bigint() - started);
    if (seen !== N) throw new Error(`${name}: ${seen} packets, expected ${N}`);
    samples[name]!.push(ns / N);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const alone = median(samples['mqtt-packet parser alone']!);
console.log(`${N} PUBLISHes of ${packets[0]!.length} bytes in ${CHUNK}-byte chunks, ${ROUNDS} rounds alternating, ns per packet:`);
for (const [name, values] of Object.entries(samples)) {
  const m = median(values);
  console.log(`${name}: median ${m.toFixed(0)} [${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}], ${(m / alone).toFixed(3)}× the parser alone`);
}
