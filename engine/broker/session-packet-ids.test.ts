// An in-process Aedes with memory persistence, a raw MQTT subscriber that acks by hand, and Aedes'
// random per-connection packet-id start pinned (Math.random) so that two connections of one
// session start at the same id — what happens by chance in consumer-crash runs.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { shareSessionPacketIds } from './session-packet-ids.ts';

const SUBSCRIBER_ID = 'session-packet-ids-sub';
const TOPIC = 'session-packet-ids/events';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startAedes(withFix: boolean): Promise<{ broker: Aedes; port: number }> {
  const broker = await Aedes.createBroker();
  if (withFix) shareSessionPacketIds(broker);
  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  cleanups.push(
    () => new Promise<void>((resolve) => broker.close(() => resolve())),
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  );
  return { broker, port: (server.address() as AddressInfo).port };
}

/** A clean: false subscriber session over one TCP connection; nothing is acked unless asked. */
async function connectSubscriber(port: number, subscribe: boolean) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const publishes: IPublishPacket[] = [];
  const waiters: { cmd: string; resolve: () => void }[] = [];
  parser.on('packet', (packet: Packet) => {
    if (packet.cmd === 'publish') publishes.push(packet);
    for (const waiter of waiters.filter((w) => w.cmd === packet.cmd || (w.cmd === 'publish*' && packet.cmd === 'publish'))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => {});
  const next = (cmd: string) => new Promise<void>((resolve) => waiters.push({ cmd, resolve }));
  const send = (packet: Packet) => socket.write(mqttPacket.generate(packet));
  const connack = next('connack');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: SUBSCRIBER_ID, clean: false, keepalive: 30 });
  await connack;
  if (subscribe) {
    const suback = next('suback');
    send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: TOPIC, qos: 1 }] });
    await suback;
  }
  cleanups.push(() => void socket.destroy());
  return {
    publishes,
    async waitForPublishes(count: number): Promise<void> {
      const deadline = Date.now() + 3_000;
      while (publishes.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(publishes.length).toBeGreaterThanOrEqual(count);
    },
    puback(messageId: number) {
      send({ cmd: 'puback', messageId });
    },
    /** Like a SIGKILLed subscriber: the socket goes away without DISCONNECT. */
    crash() {
      socket.destroy();
    },
  };
}

function brokerEvent(broker: Aedes, event: 'clientDisconnect' | 'ack' | 'client'): Promise<void> {
  return new Promise((resolve) => broker.once(event, () => resolve()));
}

async function connectPublisher(port: number): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'session-packet-ids-pub', reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  return client;
}

/**
 * m1 is delivered and not acked, the subscriber crashes; m2 is published while it is away; the
 * next connection gets both, acks only m2 and crashes; what does the third connection get?
 */
async function ackOneOfTwoAndCrash(withFix: boolean): Promise<{ secondIds: number[]; redelivered: string[] }> {
  // Every Aedes Client starts its packet ids at ceil(random × 65535): pin it to one value.
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
  const { broker, port } = await startAedes(withFix);
  const publisher = await connectPublisher(port);

  const first = await connectSubscriber(port, true);
  await publisher.publishAsync(TOPIC, 'm1', { qos: 1 });
  await first.waitForPublishes(1);
  let gone = brokerEvent(broker, 'clientDisconnect');
  first.crash();
  await gone;

  await publisher.publishAsync(TOPIC, 'm2', { qos: 1 }); // queued for the offline session

  const second = await connectSubscriber(port, false);
  await second.waitForPublishes(2);
  const m2 = second.publishes.find((p) => p.payload.toString() === 'm2')!;
  const acked = brokerEvent(broker, 'ack');
  second.puback(m2.messageId!); // m2 is durable downstream; m1 is not yet
  await acked;
  gone = brokerEvent(broker, 'clientDisconnect');
  second.crash();
  await gone;

  const third = await connectSubscriber(port, false);
  await new Promise((r) => setTimeout(r, 300)); // the resend of the stored queue is immediate
  return {
    secondIds: second.publishes.map((p) => p.messageId!),
    redelivered: third.publishes.map((p) => p.payload.toString()),
  };
}

describe('packet ids of a persistent session across reconnects (embedded Aedes)', () => {
  it('Aedes alone: a reconnect can reuse an un-acked packet id, and the PUBACK for one message deletes the other', async () => {
    // Documents the Aedes 1.x bug the workaround exists for. If this starts failing, Aedes has
    // fixed it and shareSessionPacketIds can go.
    const { secondIds, redelivered } = await ackOneOfTwoAndCrash(false);
    expect(secondIds[0]).toBe(secondIds[1]);
    expect(redelivered).toEqual(['m2']); // m1 was never acked and is gone for good
  });

  it('with shareSessionPacketIds: ids stay unique in the session and the un-acked message is sent again', async () => {
    const { secondIds, redelivered } = await ackOneOfTwoAndCrash(true);
    expect(secondIds[0]).not.toBe(secondIds[1]);
    expect(redelivered).toEqual(['m1']);
  });
});
