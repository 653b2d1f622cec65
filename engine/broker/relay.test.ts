// The relay (relay.ts, a measurement fixture for perf's generator-capacity variant): a real relay
// process, mqtt.js clients and raw sockets. What arrives where and at which QoS, wildcards, frames
// split at every byte boundary and many in one chunk, the PUBACK after the forward, QoS 2 refused,
// no process left after stop(); then real runs through it: the bare subscriber at capacity (closed
// model, perf's generator variant) and the reference aggregator, whose ledger must add up.

import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../../aggregator/clock.ts';
import { resolveRun } from '../resolve.ts';
import { runScenario, type AggregatorKind } from '../run.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { until } from '../../test-support/until.ts';
import { identifyMqttBroker } from './external.ts';
import { RELAY_SOFTWARE, startRelay, type Relay } from './relay.ts';

const outDir = tempDirs('relay');
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
});

async function relay(): Promise<Relay> {
  const started = await startRelay();
  stops.push(() => started.stop());
  return started;
}

async function client(url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const connected = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
  stops.push(() => connected.endAsync(true));
  return connected;
}

type Received = { topic: string; payload: string; qos: number };
function collect(subscriber: MqttClient): Received[] {
  const received: Received[] = [];
  subscriber.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), qos: packet.qos }));
  return received;
}

/** A client on a raw socket: it writes the bytes it is given and parses what comes back, in order. */
class RawClient {
  readonly packets: Packet[] = [];
  /** What the parser could not read: a malformed frame from the relay. */
  readonly errors: string[] = [];
  closed = false;
  private constructor(readonly socket: net.Socket) {}

  static async connect(url: string, version: 4 | 5 = 4): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
    const raw = new RawClient(socket);
    stops.push(async () => socket.destroy());
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => raw.packets.push(packet));
    parser.on('error', (error: Error) => raw.errors.push(error.message));
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => {});
    socket.on('close', () => (raw.closed = true));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `raw-${port}-${Math.random()}`, clean: true, keepalive: 30 }, { protocolVersion: version }));
    await until(() => raw.packets.some((p) => p.cmd === 'connack'), 5_000, 'the CONNACK');
    return raw;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  of<C extends Packet['cmd']>(cmd: C): Extract<Packet, { cmd: C }>[] {
    return this.packets.filter((p): p is Extract<Packet, { cmd: C }> => p.cmd === cmd);
  }
}

function publishFrame(topic: string, payload: string, qos: 0 | 1 | 2, messageId?: number): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, dup: false, retain: false, ...(messageId === undefined ? {} : { messageId }) });
}

describe('the relay', () => {
  it('forwards QoS 1 and QoS 0 to every matching subscription (+, #, MQTT 3.1.1 and 5) at the lower QoS, and nothing that does not match', async () => {
    const { url } = await relay();
    const plus = await client(url, { protocolVersion: 4 });
    const hash = await client(url, { protocolVersion: 5 });
    const all = await client(url, { protocolVersion: 4 });
    const [viaPlus, viaHash, viaAll] = [collect(plus), collect(hash), collect(all)];
    await plus.subscribeAsync('events/+/a', { qos: 1 });
    await hash.subscribeAsync('events/#', { qos: 0 });
    await all.subscribeAsync('#', { qos: 1 });
    const publisher = await client(url, { protocolVersion: 4 });
    const publisher5 = await client(url, { protocolVersion: 5 });

    const sent = (topic: string, n: number) => Array.from({ length: n }, (_, i) => `${topic}:${i}`);
    for (const payload of sent('events/x/a', 50)) await publisher.publishAsync('events/x/a', payload, { qos: 1 });
    for (const payload of sent('events/y/a', 30)) publisher.publish('events/y/a', payload, { qos: 0 });
    for (const payload of sent('events/x/b', 20)) await publisher.publishAsync('events/x/b', payload, { qos: 1 });
    for (const payload of sent('other/x/a', 10)) await publisher.publishAsync('other/x/a', payload, { qos: 1 });
    // A `$` topic is matched by no leading wildcard.
    await publisher.publishAsync('$SYS/relay-test', 'never', { qos: 1 });
    // From an MQTT 5 publisher, with a property: a 3.1.1 subscriber gets the frame without it.
    for (const payload of sent('events/z/a', 10)) await publisher5.publishAsync('events/z/a', payload, { qos: 1, properties: { contentType: 'text/plain' } });
    await publisher.publishAsync('events/end/a', 'end', { qos: 1 });
    await until(() => [viaPlus, viaHash, viaAll].every((r) => r.some((m) => m.payload === 'end')), 10_000, 'the last message everywhere');

    const arrived = (received: Received[], topic: string) => received.filter((m) => m.topic === topic);
    expect(arrived(viaPlus, 'events/x/a').map((m) => [m.payload, m.qos])).toEqual(sent('events/x/a', 50).map((p) => [p, 1]));
    expect(arrived(viaPlus, 'events/y/a').map((m) => [m.payload, m.qos])).toEqual(sent('events/y/a', 30).map((p) => [p, 0]));
    expect(arrived(viaPlus, 'events/z/a').map((m) => [m.payload, m.qos])).toEqual(sent('events/z/a', 10).map((p) => [p, 1]));
    expect(viaPlus.map((m) => m.topic).filter((t) => !t.endsWith('/a'))).toEqual([]);
    expect(viaPlus).toHaveLength(50 + 30 + 10 + 1);
    // events/# at QoS 0: every events/ message, each at QoS 0.
    expect(viaHash.map((m) => m.topic).filter((t) => !t.startsWith('events/'))).toEqual([]);
    expect(viaHash).toHaveLength(50 + 30 + 20 + 10 + 1);
    expect(new Set(viaHash.map((m) => m.qos))).toEqual(new Set([0]));
    expect(arrived(viaHash, 'events/z/a').map((m) => m.payload)).toEqual(sent('events/z/a', 10));
    // '#': everything but the $ topic.
    expect(viaAll).toHaveLength(50 + 30 + 20 + 10 + 10 + 1);
    expect(viaAll.filter((m) => m.topic.startsWith('$'))).toEqual([]);
  });

  it('says what it is on $SYS/broker/version, so that a run reports it as the broker', async () => {
    const { url } = await relay();
    expect(await identifyMqttBroker(url)).toBe(RELAY_SOFTWARE);
  });

  it('parses a PUBLISH split at every byte boundary, one written a byte at a time, and many in one write', async () => {
    const { url } = await relay();
    const subscriber = await client(url);
    const received = collect(subscriber);
    await subscriber.subscribeAsync('split/#', { qos: 1 });
    const publisher = await RawClient.connect(url);

    const frame = (i: number) => publishFrame('split/t', `payload ${i}`, 1, i);
    const length = frame(1).length;
    let id = 0;
    // Split in two at every boundary, the halves a moment apart (separate reads in the relay).
    for (let k = 1; k < length; k++) {
      const bytes = frame(++id);
      publisher.write(bytes.subarray(0, k));
      await sleep(3);
      publisher.write(bytes.subarray(k));
    }
    const slow = frame(++id);
    for (const byte of slow) {
      publisher.write(Buffer.from([byte]));
      await sleep(1);
    }
    const burst = Buffer.concat(Array.from({ length: 200 }, () => frame(++id)));
    publisher.write(burst);
    await until(() => received.length >= id && publisher.of('puback').length >= id, 10_000, `${id} messages and their PUBACKs`);

    expect(received.map((m) => m.payload)).toEqual(Array.from({ length: id }, (_, i) => `payload ${i + 1}`));
    expect(publisher.of('puback').map((p) => p.messageId)).toEqual(Array.from({ length: id }, (_, i) => i + 1));
    expect(publisher.closed).toBe(false);
  });

  it("writes a PUBLISH's forward before its PUBACK: a client subscribed to its own topic reads each forward, then the PUBACK", async () => {
    const { url } = await relay();
    const raw = await RawClient.connect(url);
    raw.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'self/#', qos: 1 }] }));
    await until(() => raw.of('suback').length === 1, 5_000, 'the SUBACK');
    expect(raw.of('suback')[0]!.granted).toEqual([1]);
    // Several in one write (one read chunk in the relay), then one at a time.
    raw.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => publishFrame('self/t', `m${i + 1}`, 1, i + 1))));
    for (let i = 21; i <= 25; i++) raw.write(publishFrame('self/t', `m${i}`, 1, i));
    await until(() => raw.of('puback').length === 25, 5_000, '25 PUBACKs');
    const after = raw.packets.slice(raw.packets.findIndex((p) => p.cmd === 'suback') + 1);
    const order = after.map((p) => (p.cmd === 'publish' ? `fwd ${p.payload.toString()}` : p.cmd === 'puback' ? `ack ${p.messageId}` : p.cmd));
    expect(order).toEqual(Array.from({ length: 25 }, (_, i) => [`fwd m${i + 1}`, `ack ${i + 1}`]).flat());
  });

  it('refuses QoS 2 by closing the connection, forwarding nothing, and serves the other clients on', async () => {
    const { url } = await relay();
    const subscriber = await client(url);
    const received = collect(subscriber);
    await subscriber.subscribeAsync('q/#', { qos: 1 });
    const raw = await RawClient.connect(url);
    raw.write(publishFrame('q/two', 'qos 2', 2, 7));
    await until(() => raw.closed, 5_000, 'the relay to close the QoS 2 publisher');
    expect(raw.packets.map((p) => p.cmd)).toEqual(['connack']);
    const other = await client(url);
    await other.publishAsync('q/one', 'qos 1', { qos: 1 });
    await until(() => received.length === 1, 5_000, 'the QoS 1 message');
    expect(received.map((m) => m.payload)).toEqual(['qos 1']);
  });

  it('closes a client whose packet runs past its own end, forwards nothing of it, and serves the others on', async () => {
    const started = await relay();
    const subscriber = await RawClient.connect(started.url);
    subscriber.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 1 }] }));
    await until(() => subscriber.of('suback').length === 1, 5_000, 'the SUBACK');
    // A SUBSCRIBE with a 1-byte body, and a PUBLISH whose topic length (16) is more than its packet holds.
    const badSubscribe = await RawClient.connect(started.url);
    badSubscribe.write(Buffer.from([0x82, 0x01, 0x00]));
    const badPublish = await RawClient.connect(started.url);
    // Followed in the same write by a good one, whose bytes the bad topic length would reach into: the connection ends at the bad one.
    badPublish.write(Buffer.concat([Buffer.from([0x30, 0x03, 0x00, 0x10, 0x41]), publishFrame('after/bad', 'never forwarded', 0)]));
    await until(() => badSubscribe.closed && badPublish.closed, 5_000, 'the relay to close both');
    const other = await client(started.url);
    await other.publishAsync('still/here', 'ok', { qos: 1 });
    await until(() => subscriber.of('publish').length >= 1, 5_000, 'the good message');
    expect(subscriber.errors).toEqual([]);
    expect(subscriber.of('publish').map((m) => `${m.topic} ${m.payload.toString()}`)).toEqual(['still/here ok']);
    expect(started.pid).toBeDefined();
  });

  it('answers PINGREQ and UNSUBSCRIBE; after the UNSUBACK nothing more is forwarded to that filter', async () => {
    const { url } = await relay();
    const raw = await RawClient.connect(url);
    raw.write(mqttPacket.generate({ cmd: 'pingreq' }));
    raw.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'u/+', qos: 1 }] }));
    raw.write(mqttPacket.generate({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['u/+'] }));
    await until(() => raw.of('unsuback').length === 1, 5_000, 'the UNSUBACK');
    const publisher = await client(url);
    await publisher.publishAsync('u/x', 'after', { qos: 1 });
    raw.write(mqttPacket.generate({ cmd: 'pingreq' }));
    await until(() => raw.of('pingresp').length === 2, 5_000, 'the second PINGRESP');
    expect(raw.packets.map((p) => p.cmd)).toEqual(['connack', 'pingresp', 'suback', 'unsuback', 'pingresp']);
    expect(raw.of('unsuback')[0]!.messageId).toBe(4);
  });

  it('stop() leaves no process', async () => {
    const started = await startRelay();
    const pid = started.pid!;
    expect(() => process.kill(pid, 0)).not.toThrow();
    await started.stop();
    expect(started.pid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    await started.stop(); // idempotent
  });
});

describe('runs through the relay', () => {
  /** dup-storm in the closed model (as perf runs it), short, through the relay; its CPU measured by pid. */
  async function closedRun(aggregator: AggregatorKind) {
    const started = await relay();
    const resolved = resolveRun({ scenario: 'dup-storm', flags: { model: 'closed', concurrency: 200, duration: '2s' }, changes: [], broker: started.url, sink: 'sqlite', aggregator });
    if (!resolved.ok) throw new Error(resolved.problems.join('; '));
    return runScenario({ ...resolved.run, out_dir: outDir(), external_broker_pid: started.pid! });
  }

  it('the bare subscriber at capacity (perf\'s generator variant): it receives every event and every copy the harness published, and the relay\'s CPU is measured', async () => {
    const result = await closedRun('none');
    const t = result.totals;
    expect(result.broker.software).toBe(RELAY_SOFTWARE);
    expect(t.published).toBeGreaterThan(0);
    expect(t.copies_published).toBeGreaterThan(0);
    expect(t.acked_by_broker).toBe(t.published);
    expect(t.never_sent).toBe(0);
    expect(result.aggregator.self_reported.received).toBe(t.published + t.copies_published);
    expect(result.aggregator.self_reported.acked).toBe(t.published + t.copies_published);
    expect(result.drain.complete, result.drain.reason).toBe(true);
    const broker = result.cost!.processes.find((p) => p.role === 'broker')!;
    expect(broker.cpu_s).toBeGreaterThan(0);
    expect(broker.us_per_message).toBeGreaterThan(0);
  }, 60_000);

  it('the reference aggregator, closed model: the ledger adds up, every event committed once, nothing lost', async () => {
    const result = await closedRun('reference');
    const t = result.totals;
    expect(t.published).toBeGreaterThan(0);
    expect(t.unique_committed).toBe(t.published);
    expect(t.lost).toBe(0);
    expect(t.lost_unacked).toBe(0);
    expect(t.never_sent).toBe(0);
    expect(t.sink_duplicates).toBe(0);
    expect(t.copies_absorbed).toBe(t.copies_published);
    expect(result.passed).toBe(true);
  }, 60_000);
});
