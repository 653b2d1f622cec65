import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { randomBytes } from 'node:crypto';
import { startBroker } from '../../engine/broker/index.ts';
import { sleep } from '../clock.ts';
import { ConsumerConnection, encodePubacks } from './connection.ts';

describe('encodePubacks', () => {
  it('is byte for byte the PUBACKs mqtt-packet generates, back to back', () => {
    const ids = [1, 2, 255, 256, 4660, 65535];
    const expected = Buffer.concat(ids.map((messageId) => mqttPacket.generate({ cmd: 'puback', messageId })));
    expect(encodePubacks(ids).equals(expected)).toBe(true);
  });

  it('parses back into the same packet ids', () => {
    const ids = Array.from({ length: 500 }, (_, i) => (i * 131) % 65535 + 1);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const seen: number[] = [];
    parser.on('packet', (packet) => {
      expect(packet.cmd).toBe('puback');
      seen.push((packet as { messageId: number }).messageId);
    });
    parser.parse(encodePubacks(ids));
    expect(seen).toEqual(ids);
  });

  it('is empty for no ids', () => {
    expect(encodePubacks([]).length).toBe(0);
  });
});

describe('ConsumerConnection.reconnect', () => {
  // A persistent session's queue is resent right after CONNACK, before the SUBACK, so a batch of it
  // can fail while the connection is still being set up. That request used to be ignored, leaving
  // the batch un-acked on a live connection for ever (seen in CI: aggregator/service-redelivery.test.ts).
  it('asked for while the connection is still being set up, reconnects once it is subscribed', async () => {
    const broker = await startBroker({ kind: 'embedded' }, { persistence: 'memory' });
    const connection = new ConsumerConnection({
      url: broker.url,
      clientId: `reconnect-test-${randomBytes(3).toString('hex')}`,
      topic: 'events/reconnect-test/#',
      clean: false,
      keepalive_s: 30,
      max_in_flight: 100,
      reconnect: { base_ms: 1, cap_ms: 20, max_attempts: Number.POSITIVE_INFINITY },
      random: () => 0.5,
    });
    const subscribed: number[] = [];
    connection.on('subscribed', (generation) => subscribed.push(generation));
    try {
      const started = connection.start();
      connection.reconnect('a batch failed before the SUBACK');
      await started;
      const by = Date.now() + 5_000;
      while (subscribed.length < 2 && Date.now() < by) await sleep(10);
      expect(connection.reconnectsAsked).toBe(1);
      expect(subscribed.length).toBe(2);
    } finally {
      await connection.close();
      await broker.stop();
    }
  });
});
