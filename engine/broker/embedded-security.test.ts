// The embedded broker's security options against real clients: user names and passwords, topic
// ACLs per client id, TLS and mutual TLS with certificates made at test time (openssl,
// test-support/broker-secrets.ts). Each refusal is shown on a real connection, next to the
// acceptance that proves the setup works at all.

import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from './embedded.ts';
import { filterCovers } from './embedded-security.ts';
import { makeBrokerSecrets, type BrokerSecrets } from '../../test-support/broker-secrets.ts';

let secrets: BrokerSecrets;
let broker: EmbeddedBroker | undefined;
const clients: MqttClient[] = [];

beforeAll(() => {
  secrets = makeBrokerSecrets();
});
afterAll(() => secrets?.remove());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true).catch(() => {})));
  await broker?.stop();
  broker = undefined;
});

const pem = (path: string) => readFileSync(path, 'utf8');

type Attempt = { connected: true; client: MqttClient } | { connected: false; reason: string };

/** One connection attempt, no reconnects, bounded: connected, or why not. */
function attempt(url: string, options: IClientOptions = {}): Promise<Attempt> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3_000, clean: true, ...options });
    clients.push(client);
    client.once('connect', () => resolve({ connected: true, client }));
    client.once('error', (error: Error & { code?: number | string }) => resolve({ connected: false, reason: `${error.code ?? ''} ${error.message}` }));
    client.once('close', () => resolve({ connected: false, reason: 'closed' }));
  });
}

async function connected(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const result = await attempt(url, options);
  if (!result.connected) throw new Error(`expected to connect, got: ${result.reason}`);
  return result.client;
}

describe('filterCovers', () => {
  it.each([
    ['events/#', 'events/a/b', true],
    ['events/#', 'events', true],
    ['events/#', 'other/a', false],
    ['events/+', 'events/a', true],
    ['events/+', 'events/a/b', false],
    ['events/+', 'events/#', false],
    ['events/a', 'events/a', true],
    ['#', '$SYS/x', false],
    ['events/#', 'events/+/x', true],
  ])('%s covers %s: %s', (allowed, wanted, expected) => {
    expect(filterCovers(allowed, wanted)).toBe(expected);
  });
});

describe('embedded broker security', () => {
  it('username/password: the right pair connects, a wrong password or none is refused (CONNACK 4)', async () => {
    broker = await EmbeddedBroker.start({ persistence: 'memory', security: { users: { alice: 'correct-horse' } } });
    await connected(broker.url, { username: 'alice', password: 'correct-horse' });
    const wrong = await attempt(broker.url, { username: 'alice', password: 'wrong' });
    expect(wrong).toMatchObject({ connected: false });
    expect((wrong as { reason: string }).reason).toMatch(/^4 .*[Bb]ad username or password/);
    const unknown = await attempt(broker.url, { username: 'mallory', password: 'correct-horse' });
    expect((unknown as { reason: string }).reason).toMatch(/^4 /);
    const none = await attempt(broker.url);
    expect(none.connected).toBe(false);
  });

  it('ACL per client id: a publish outside its filters reaches no one, an unlisted client cannot subscribe', async () => {
    broker = await EmbeddedBroker.start({
      persistence: 'memory',
      security: { acl: { reader: ['events/#', 'other/#'], writer: ['events/#'] } },
    });
    const reader = await connected(broker.url, { clientId: 'reader' });
    const received: string[] = [];
    reader.on('message', (topic) => received.push(topic));
    const granted = await reader.subscribeAsync(['events/#', 'other/#'], { qos: 1 });
    expect(granted.map((g) => [g.topic, g.qos])).toEqual([
      ['events/#', 1],
      ['other/#', 1],
    ]);
    // SUBACK 0x80, which mqtt.js turns into an error.
    await expect(reader.subscribeAsync('forbidden/#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const writer = await connected(broker.url, { clientId: 'writer' });
    await writer.publishAsync('events/ok', 'a', { qos: 1 });
    // Outside the writer's ACL: Aedes closes its connection and routes nothing.
    const closed = new Promise<void>((resolve) => writer.once('close', () => resolve()));
    writer.publish('other/x', 'b', { qos: 1 });
    await closed;
    const stranger = await connected(broker.url, { clientId: 'stranger' });
    await expect(stranger.subscribeAsync('events/#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    // A last allowed publish, from the reader itself, marks the end of what can arrive.
    await reader.publishAsync('other/end', 'c', { qos: 1 });
    for (let i = 0; i < 50 && !received.includes('other/end'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toEqual(['events/ok', 'other/end']);
  });

  it('TLS: mqtts with the CA connects; plain TCP to the TLS port and an untrusted CA fail', async () => {
    broker = await EmbeddedBroker.start({ persistence: 'memory', security: { tls: { cert: pem(secrets.server_cert), key: pem(secrets.server_key) } } });
    expect(broker.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    await connected(broker.url, { ca: pem(secrets.ca) });
    expect((await attempt(broker.url.replace('mqtts:', 'mqtt:'))).connected).toBe(false);
    const untrusted = await attempt(broker.url, { ca: pem(secrets.other_ca) });
    expect(untrusted.connected).toBe(false);
    expect((untrusted as { reason: string }).reason).toMatch(/certificate|self.signed|verify/i);
  });

  it('mTLS: a client certificate signed by the CA connects; a client without one is refused in the handshake', async () => {
    broker = await EmbeddedBroker.start({
      persistence: 'memory',
      security: { tls: { cert: pem(secrets.server_cert), key: pem(secrets.server_key), client_ca: pem(secrets.ca) } },
    });
    await connected(broker.url, { ca: pem(secrets.ca), cert: pem(secrets.client_cert), key: pem(secrets.client_key) });
    const without = await attempt(broker.url, { ca: pem(secrets.ca) });
    expect(without.connected).toBe(false);
  });

  it('refuses to start on a bad security section, naming it', async () => {
    await expect(EmbeddedBroker.start({ persistence: 'memory', security: { acl: { x: ['a/#/b'] } } })).rejects.toThrow(/security\.acl\.x/);
  });
});
