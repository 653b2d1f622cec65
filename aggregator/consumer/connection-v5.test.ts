// The aggregator's own MQTT connection against a private Mosquitto with TLS, a password file and an
// ACL, in MQTT 5: a persistent session outlives its connection (MQTT 5 ends it at the disconnect
// unless the CONNECT sets a session expiry), a shared subscription ($share/GROUP/…) splits one
// stream between two connections with nothing lost and nothing given to both, and a refusal or a
// TLS failure ends start() with a message that says which (a refusal at the first attempt).

import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type MosquittoBroker } from '../../engine/broker/mosquitto.ts';
import { mqttClientOptions } from '../../engine/broker/client-options.ts';
import { makeBrokerSecrets, type BrokerSecrets } from '../../test-support/broker-secrets.ts';
import { sleep } from '../clock.ts';
import type { BrokerAccess } from './access.ts';
import { ConsumerConnection, type DeliveredMessage } from './connection.ts';

let secrets: BrokerSecrets;
let broker: MosquittoBroker;
let access: BrokerAccess;

beforeAll(async () => {
  secrets = makeBrokerSecrets();
  access = { mqtt_version: 5, username: secrets.username, password: secrets.password, ca: readFileSync(secrets.ca, 'utf8') };
  broker = await startMosquitto({
    security: {
      tls: { cafile: secrets.ca, certfile: secrets.server_cert, keyfile: secrets.server_key, require_certificate: false },
      password_file: secrets.password_file,
      acl_file: secrets.acl_file,
      probe: access,
    },
  });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  secrets?.remove();
});

const unique = () => randomBytes(4).toString('hex');

function consumer(clientId: string, topic: string, overrides: Partial<BrokerAccess> = {}, oversized?: { above_bytes: number; prefix_bytes: number }): ConsumerConnection {
  return new ConsumerConnection({
    ...(oversized ? { oversized } : {}),
    url: broker.url,
    access: { ...access, ...overrides },
    clientId,
    topic,
    clean: false,
    keepalive_s: 30,
    max_in_flight: 1_000,
    reconnect: { base_ms: 10, cap_ms: 100, max_attempts: Number.POSITIVE_INFINITY },
    random: () => 0.5,
  });
}

/** Publishes `count` QoS 1 messages (payload = their index) over MQTT 5 and waits for every PUBACK. */
async function publish(topic: string, count: number): Promise<void> {
  const client = await mqtt.connectAsync(broker.url, { ...mqttClientOptions(access), clientId: `v5-pub-${unique()}`, clean: true, reconnectPeriod: 0 });
  await Promise.all(Array.from({ length: count }, (_, i) => client.publishAsync(`${topic}/${i % 3}`, String(i), { qos: 1 })));
  await client.endAsync();
}

/** Acks everything it gets, and keeps the payloads. */
function collect(connection: ConsumerConnection): string[] {
  const seen: string[] = [];
  connection.on('message', (message: DeliveredMessage) => {
    seen.push(message.payload.toString());
    connection.ack(message.ackToken);
  });
  return seen;
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const by = Date.now() + ms;
  while (!condition() && Date.now() < by) await sleep(20);
}

describe('ConsumerConnection over mqtts with MQTT 5', () => {
  it('a persistent session keeps what was published while the consumer was away', async () => {
    const clientId = `v5-session-${unique()}`;
    const topic = `events/v5-session-${unique()}`;
    const first = consumer(clientId, `${topic}/#`);
    await first.start();
    await first.close();
    await publish(topic, 20);
    const second = consumer(clientId, `${topic}/#`);
    const seen = collect(second);
    let sessionPresent: boolean | undefined;
    second.on('subscribed', (_generation, present) => (sessionPresent = present));
    await second.start();
    await until(() => seen.length >= 20);
    await second.close();
    expect(sessionPresent).toBe(true);
    expect(seen.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  }, 30_000);

  it('a shared subscription splits one stream over two connections: every message to exactly one', async () => {
    const topic = `events/v5-share-${unique()}`;
    const filter = `$share/group-${unique()}/${topic}/#`;
    const members = [consumer(`v5-share-a-${unique()}`, filter), consumer(`v5-share-b-${unique()}`, filter)];
    const seen = members.map(collect);
    await Promise.all(members.map((member) => member.start()));
    await publish(topic, 60);
    await until(() => seen[0]!.length + seen[1]!.length >= 60);
    // Anything more would be a copy given to both: give it a moment to show.
    await sleep(200);
    await Promise.all(members.map((member) => member.close()));
    expect(seen[0]!.length).toBeGreaterThan(0);
    expect(seen[1]!.length).toBeGreaterThan(0);
    expect([...seen[0]!, ...seen[1]!].map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
  }, 30_000);

  it('over TLS, a PUBLISH over the limit arrives as its first bytes, size and SHA-256, in order between whole ones (issue 21)', async () => {
    const topic = `events/v5-oversized-${unique()}`;
    const connection = consumer(`v5-oversized-${unique()}`, `${topic}/#`, {}, { above_bytes: 64 * 1024, prefix_bytes: 4096 });
    const seen: DeliveredMessage[] = [];
    connection.on('message', (message) => {
      seen.push(message);
      connection.ack(message.ackToken);
    });
    await connection.start();
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const client = await mqtt.connectAsync(broker.url, { ...mqttClientOptions(access), clientId: `v5-pub-${unique()}`, clean: true, reconnectPeriod: 0 });
    await client.publishAsync(`${topic}/a`, 'before', { qos: 1 });
    await client.publishAsync(`${topic}/big`, big, { qos: 1 });
    await client.publishAsync(`${topic}/b`, 'after', { qos: 1 });
    await client.endAsync();
    await until(() => seen.length >= 3);
    await connection.close();
    expect(seen.map((m) => [m.topic, m.payload.length, m.oversized])).toEqual([
      [`${topic}/a`, 6, undefined],
      [`${topic}/big`, 4096, { bytes: big.length, sha256: createHash('sha256').update(big).digest('hex') }],
      [`${topic}/b`, 5, undefined],
    ]);
    expect(seen[1]!.payload.equals(big.subarray(0, 4096))).toBe(true);
    expect(seen.map((m) => m.ackToken.messageId === undefined)).toEqual([false, false, false]);
  }, 30_000);

  it('a wrong password: start() fails at the first attempt, saying "not authorized" with the MQTT 5 reason code', async () => {
    const connection = consumer(`v5-refused-${unique()}`, 'events/refused/#', { password: 'wrong' });
    const disconnects: string[] = [];
    connection.on('disconnected', (reason) => disconnects.push(reason));
    connection.on('error', () => {});
    const outcome = await connection.start().then(
      () => 'subscribed',
      (error: Error) => error.message,
    );
    expect(outcome).toMatch(/^cannot subscribe at mqtts:\/\/127\.0\.0\.1:\d+: connection closed: the broker refused the connection: not authorized \(CONNACK reason code 0x87\)$/);
    expect(disconnects).toHaveLength(1);
  }, 30_000);

  it('a CA that did not sign the broker certificate: start() fails saying the TLS handshake failed', async () => {
    const connection = consumer(`v5-tls-${unique()}`, 'events/tls/#', { ca: readFileSync(secrets.other_ca, 'utf8') });
    connection.on('error', () => {});
    const outcome = await connection.start(2).then(
      () => 'subscribed',
      (error: Error) => error.message,
    );
    expect(outcome).toMatch(/connection closed: TLS handshake failed: self-signed certificate in certificate chain/);
  }, 30_000);
});
