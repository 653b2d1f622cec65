// The lean publisher against a real broker (a private Mosquitto on a free port): what a subscriber
// receives is exactly what was published, in MQTT 3.1.1 and 5, and publishes handed over while the
// broker is down go out and are acknowledged once it is back (the client reconnects by itself).

import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type MosquittoBroker } from '../broker/mosquitto.ts';
import { SourceRecord } from './log.ts';
import { PublisherConnection, type Outgoing, type PublisherEvents } from './publishers.ts';

const record = new SourceRecord('pub-0');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function counter(): PublisherEvents & { ackedSeqs: number[]; failures: number } {
  const events = {
    ackedSeqs: [] as number[],
    failures: 0,
    sent: () => {},
    acked: (item: Outgoing) => void events.ackedSeqs.push(item.seq),
    failed: () => void events.failures++,
  };
  return events;
}

let broker: MosquittoBroker;
beforeAll(async () => {
  broker = await startMosquitto({ maxQueuedMessages: 0, maxInflightMessages: 0 });
});
afterAll(async () => {
  await broker?.stop();
});

describe('PublisherConnection against Mosquitto', () => {
  for (const version of [4, 5] as const) {
    it(`MQTT ${version === 5 ? '5' : '3.1.1'}: a subscriber receives every payload byte for byte, each acked once`, async () => {
      const topic = `gen-test/v${version}/${Date.now()}`;
      const subscriber = await mqtt.connectAsync(broker.url, { protocolVersion: version, clean: true, reconnectPeriod: 0 });
      const received: { topic: string; payload: Buffer }[] = [];
      subscriber.on('message', (t, payload) => received.push({ topic: t, payload }));
      await subscriber.subscribeAsync(`${topic}/#`, { qos: 1 });
      const events = counter();
      const conn = await PublisherConnection.connect(broker.url, `gen-test-${version}`, { window: 32, puback_timeout_ms: 10_000, access: { mqtt_version: version } }, events);
      const N = 2_000;
      const items: Outgoing[] = Array.from({ length: N }, (_, seq) => ({
        record,
        seq,
        topic: `${topic}/${seq % 3}`,
        payload: Buffer.from(JSON.stringify({ seq, pad: 'z'.repeat(seq % 300) })),
        copy: false,
      }));
      for (const item of items) conn.publish(item);
      await waitUntil(() => events.ackedSeqs.length === N && received.length === N, `${N} acks and deliveries`);
      await conn.close();
      await subscriber.endAsync();
      expect(events.failures).toBe(0);
      expect([...events.ackedSeqs].sort((a, b) => a - b)).toEqual(items.map((i) => i.seq));
      const bySeq = new Map(received.map((r) => [JSON.parse(r.payload.toString()).seq as number, r]));
      for (const item of items) {
        const got = bySeq.get(item.seq);
        expect(got?.topic).toBe(item.topic);
        expect(got?.payload.equals(item.payload)).toBe(true);
      }
    });
  }

  it('publishes handed over while the broker is down are sent and acked once it is back', async () => {
    const events = counter();
    const conn = await PublisherConnection.connect(broker.url, 'gen-test-restart', { window: 16, puback_timeout_ms: 60_000 }, events);
    const item = (seq: number): Outgoing => ({ record, seq, topic: 'gen-test/restart', payload: Buffer.from(`{"seq":${seq}}`), copy: false });
    conn.publish(item(0));
    await waitUntil(() => events.ackedSeqs.length === 1, 'the first ack');
    await broker.kill();
    await waitUntil(() => !conn.connected, 'the client to notice');
    for (let seq = 1; seq <= 5; seq++) conn.publish(item(seq));
    expect(conn.pending).toBe(5);
    await broker.restart();
    await waitUntil(() => events.ackedSeqs.length === 6, 'the acks after the restart');
    expect(events.ackedSeqs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(events.failures).toBe(0);
    expect(conn.connected).toBe(true);
    await conn.close();
  });
});
