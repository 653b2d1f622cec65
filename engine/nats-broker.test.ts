// A third broker family (issue 18): NATS's MQTT listener, on private nats-servers the test starts
// (test-support/nats-server.ts). The bench runs as a user runs it (a spawned `chaosbench bench
// --broker mqtt://127.0.0.1:PORT`) and must pass a short duplicate storm with nothing lost or
// doubled, and a short consumer-crash run when the listener's ack_wait is short. Then the
// differences from Mosquitto that matter to the harness, each measured here on the wire (a raw
// mqtt-packet client that PUBACKs only when told) and written down in docs/own-broker.md:
// - a message delivered and not acked before the consumer died comes back only when ack_wait has
//   passed since its delivery, not when the session is resumed (Mosquitto resends on reconnect);
//   with NATS's default ack_wait (30 s) and a drain shorter than that, such events count as lost,
//   and the drain's finding says a broker redelivering on a timer may deliver them later;
// - a message not acked on a live connection is sent again (DUP) every ack_wait;
// - a persistent session (clean session false) keeps the subscription and queues meanwhile;
// - MQTT 5 is refused (CONNACK return code 1: the bench exits 3 saying so);
// - `$share/GROUP/FILTER` is granted QoS 1 in the SUBACK but delivers nothing.
// The contrast for the first one is checked on a private Mosquitto with the same client.

import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type NatsServer } from '../test-support/nats-server.ts';
import { startMosquitto } from './broker/mosquitto.ts';
import { tempDir } from '../test-support/temp-dirs.ts';
import { sleep } from '../aggregator/clock.ts';
import { EXIT } from '../cli/exit.ts';
import type { RunResult } from './result.ts';
import { runChaosbench } from '../test-support/run-command.ts';

const KILL_AFTER_MS = 120_000;
const QUICK_ACK_WAIT_MS = 2_000;

const bench = (args: string[]) => runChaosbench('bench', args, { timeout_ms: KILL_AFTER_MS });

const readResult = (out: string) => JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as RunResult;

/** A raw MQTT client that PUBACKs only when asked, and records what it got and when (ms since its start). */
function rawClient(port: number, clientId: string, clean: boolean, protocolVersion: 4 | 5 = 4) {
  const socket = net.connect(port, '127.0.0.1');
  const parser = mqttPacket.parser({ protocolVersion });
  const started = Date.now();
  const publishes: { payload: string; dup: boolean; messageId: number; at_ms: number }[] = [];
  const packets: Packet[] = [];
  let closed = false;
  socket.on('data', (data) => parser.parse(data));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  parser.on('packet', (packet: Packet) => {
    if (packet.cmd === 'publish') {
      const publish = packet as IPublishPacket;
      publishes.push({ payload: publish.payload.toString(), dup: publish.dup ?? false, messageId: publish.messageId!, at_ms: Date.now() - started });
    } else packets.push(packet);
  });
  const send = (packet: Parameters<typeof mqttPacket.generate>[0]) => socket.write(mqttPacket.generate(packet, { protocolVersion }));
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean, clientId, keepalive: 60 });
  return {
    publishes,
    packets,
    isClosed: () => closed,
    subscribe: (topic: string) => send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] }),
    ack: (messageId: number) => send({ cmd: 'puback', messageId }),
    disconnect: () => send({ cmd: 'disconnect' }),
    /** A crash: the TCP connection goes without a DISCONNECT. */
    destroy: () => socket.destroy(),
  };
}

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function publish(url: string, topic: string, payloads: string[]): Promise<void> {
  const client = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  for (const payload of payloads) await client.publishAsync(topic, payload, { qos: 1 });
  await client.endAsync();
}

let standard: NatsServer;
let quick: NatsServer;
const outRoot = tempDir('nats-broker');

beforeAll(async () => {
  [standard, quick] = await Promise.all([startNats(), startNats({ ack_wait: `${QUICK_ACK_WAIT_MS / 1000}s` })]);
}, 30_000);

afterAll(async () => {
  await Promise.all([standard?.stop(), quick?.stop()]);
});

/** 1 s of warm-up at 100 ev/s, 3 s at 300 ev/s with 30% copies. */
const SHORT_STORM = ['--scenario', 'dup-storm', '--rate', '300', '--duration', '3s', '--set', 'phases[0].duration_s=1', '--set', 'phases[0].rate=100', '--set', 'drain_timeout_s=15'];
/** 1 s warm-up, 2 s before, 4 s with the aggregator SIGKILLed at 1 s and 3 s (1 s down each), 2 s after; 300 ev/s. */
const SHORT_CRASH = [
  '--scenario', 'consumer-crash', '--rate', '300',
  '--set', 'phases[0].duration_s=1', '--set', 'phases[0].rate=100', '--set', 'phases[1].duration_s=2',
  '--set', 'phases[2].duration_s=4', '--set', 'phases[2].faults[0].at_s=1', '--set', 'phases[2].faults[0].every_s=2',
  '--set', 'phases[3].duration_s=2',
];

describe('bench through the reference aggregator on a private nats-server (MQTT listener)', () => {
  it('a short dup-storm passes: nothing lost, nothing doubled in the sink; the broker is not guessed', async () => {
    const out = join(outRoot, 'storm');
    const outcome = await bench([...SHORT_STORM, '--broker', standard.url, '--out', out]);
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    expect(outcome.stdout).toMatch(/^PASS/);
    const result = readResult(out);
    // NATS answers no $SYS/broker/version over MQTT: an unknown broker, not a guess.
    expect(result.broker).toMatchObject({ kind: 'external', url: standard.url, software: 'unknown broker', mqtt_version: '3.1.1' });
    expect(result.totals).toMatchObject({ lost: 0, sink_duplicates: 0, never_sent: 0, lost_unacked: 0, unexpected: 0 });
    expect(result.totals.unique_committed).toBe(result.totals.published);
    expect(result.totals.published).toBeGreaterThan(800);
    expect(result.totals.copies_absorbed).toBeGreaterThan(100);
  }, KILL_AFTER_MS);

  it(`consumer-crash with ack_wait ${QUICK_ACK_WAIT_MS / 1000} s: the killed aggregator's un-acked messages come back within the drain, nothing lost`, async () => {
    const out = join(outRoot, 'crash-quick');
    const outcome = await bench([...SHORT_CRASH, '--set', 'drain_timeout_s=15', '--broker', quick.url, '--out', out]);
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    const result = readResult(out);
    // Two kills are planned, but the next is scheduled only once a restart is done; on a loaded
    // machine that was past the phase's end once (full suite), so the second never came.
    expect(result.faults.find((fault) => fault.kind === 'consumer-crash')?.injected.crashes).toBeGreaterThanOrEqual(1);
    expect(result.totals).toMatchObject({ lost: 0, sink_duplicates: 0, never_sent: 0 });
    expect(result.totals.unique_committed).toBe(result.totals.published);
    expect(result.drain).toMatchObject({ complete: true, stopped: 'done' });
  }, KILL_AFTER_MS);

  it('consumer-crash with the default ack_wait (30 s) and a 5 s drain: the held messages count as lost, and the drain finding names the ack-wait', async () => {
    const out = join(outRoot, 'crash-default');
    const outcome = await bench([...SHORT_CRASH, '--set', 'drain_timeout_s=5', '--broker', standard.url, '--out', out]);
    expect(outcome.code, outcome.stderr).toBe(EXIT.check_failed);
    const result = readResult(out);
    expect(result.totals.lost).toBeGreaterThan(0);
    expect(result.totals.sink_duplicates).toBe(0);
    expect(result.drain).toMatchObject({ complete: false, stopped: 'timeout', not_committed: result.totals.lost });
    expect(result.findings.some((finding) => finding.includes('a broker that redelivers on a timer (an ack-wait) may deliver them later'))).toBe(true);
    // The loss finding does not say the broker dropped them: it had not delivered them yet.
    expect(result.findings.join(' ')).not.toContain('did not deliver them');
  }, KILL_AFTER_MS);

  it('MQTT 5 is refused by the listener: exit 3 naming the refusal, no stack trace', async () => {
    const outcome = await bench([...SHORT_STORM, '--broker', quick.url, '--mqtt-version', '5', '--out', join(outRoot, 'v5')]);
    expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
    expect(outcome.stderr).toMatch(/refused the connection: unacceptable protocol version \(CONNACK reason code 0x1\)/);
    expect(outcome.stderr).not.toMatch(/    at /);
  }, KILL_AFTER_MS);
});

describe(`NATS's MQTT sessions on the wire (ack_wait ${QUICK_ACK_WAIT_MS / 1000} s)`, () => {
  it('an un-acked message of a crashed consumer comes back when ack_wait has passed since its delivery, not on reconnect; later ones come at once', async () => {
    const a = rawClient(quick.port, 'nats-crash', false);
    await until('CONNACK', () => a.packets.some((p) => p.cmd === 'connack'));
    a.subscribe('crash/#');
    await until('SUBACK', () => a.packets.some((p) => p.cmd === 'suback'));
    await publish(quick.url, 'crash/t', ['held-0', 'held-1', 'held-2']);
    await until('the first delivery', () => a.publishes.length === 3);
    const deliveredAt = Date.now();
    a.destroy();
    await publish(quick.url, 'crash/t', ['while-down']);
    const b = rawClient(quick.port, 'nats-crash', false);
    await until('the second CONNACK', () => b.packets.some((p) => p.cmd === 'connack'));
    const reconnectedAfterMs = Date.now() - deliveredAt;
    expect(b.packets.find((p) => p.cmd === 'connack')).toMatchObject({ sessionPresent: true, returnCode: 0 });
    await publish(quick.url, 'crash/t', ['after']);
    await until('the messages sent while down and after', () => b.publishes.length >= 2);
    expect(b.publishes.map((p) => p.payload)).toEqual(['while-down', 'after']);
    for (const p of b.publishes) b.ack(p.messageId);
    // Reconnected well before ack_wait: the held ones are not resent on reconnect ...
    expect(reconnectedAfterMs).toBeLessThan(QUICK_ACK_WAIT_MS / 2);
    // ... but once ack_wait has passed since their delivery, flagged DUP.
    await until('the held messages', () => b.publishes.length >= 5, QUICK_ACK_WAIT_MS * 3);
    const heldAfterMs = Date.now() - deliveredAt;
    expect(heldAfterMs).toBeGreaterThanOrEqual(QUICK_ACK_WAIT_MS - 100);
    expect(b.publishes.slice(2, 5).map((p) => [p.payload, p.dup])).toEqual([['held-0', true], ['held-1', true], ['held-2', true]]);
    for (const p of b.publishes.slice(2)) b.ack(p.messageId);
    b.disconnect();
  }, 30_000);

  it('a message not acked on a live connection is sent again, DUP, every ack_wait', async () => {
    const a = rawClient(quick.port, 'nats-live', true);
    await until('CONNACK', () => a.packets.some((p) => p.cmd === 'connack'));
    a.subscribe('live/#');
    await until('SUBACK', () => a.packets.some((p) => p.cmd === 'suback'));
    await publish(quick.url, 'live/t', ['slow']);
    await until('three deliveries', () => a.publishes.length === 3, QUICK_ACK_WAIT_MS * 4);
    expect(a.publishes.map((p) => p.dup)).toEqual([false, true, true]);
    const gaps = [a.publishes[1]!.at_ms - a.publishes[0]!.at_ms, a.publishes[2]!.at_ms - a.publishes[1]!.at_ms];
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(QUICK_ACK_WAIT_MS - 100);
    a.ack(a.publishes[0]!.messageId);
    a.disconnect();
  }, 30_000);

  it('a persistent session keeps its subscription and queues QoS 1 messages while the client is away', async () => {
    const a = rawClient(quick.port, 'nats-session', false);
    await until('CONNACK', () => a.packets.some((p) => p.cmd === 'connack'));
    a.subscribe('session/#');
    await until('SUBACK', () => a.packets.some((p) => p.cmd === 'suback'));
    a.disconnect();
    await until('the close', a.isClosed);
    await publish(quick.url, 'session/t', ['away-0', 'away-1']);
    const b = rawClient(quick.port, 'nats-session', false);
    await until('the queued messages', () => b.publishes.length === 2);
    expect(b.packets.find((p) => p.cmd === 'connack')).toMatchObject({ sessionPresent: true });
    expect(b.publishes.map((p) => [p.payload, p.dup])).toEqual([['away-0', false], ['away-1', false]]);
    for (const p of b.publishes) b.ack(p.messageId);
    b.disconnect();
  }, 30_000);

  it('MQTT 5 CONNECT: CONNACK return code 1 (unacceptable protocol version)', async () => {
    const a = rawClient(quick.port, 'nats-v5', true, 5);
    await until('CONNACK', () => a.packets.some((p) => p.cmd === 'connack'));
    expect(a.packets.find((p) => p.cmd === 'connack')).toMatchObject({ reasonCode: 1 });
    await until('the close', a.isClosed);
  }, 30_000);

  it('$share/GROUP/FILTER is granted QoS 1 but delivers nothing (no shared subscriptions)', async () => {
    const a = rawClient(quick.port, 'nats-share', true);
    await until('CONNACK', () => a.packets.some((p) => p.cmd === 'connack'));
    a.subscribe('$share/group/shared/#');
    await until('SUBACK', () => a.packets.some((p) => p.cmd === 'suback'));
    expect(a.packets.find((p) => p.cmd === 'suback')).toMatchObject({ granted: [1] });
    // A plain subscriber on the same topic proves the message was published and routed.
    const witness = rawClient(quick.port, 'nats-share-witness', true);
    await until('the witness CONNACK', () => witness.packets.some((p) => p.cmd === 'connack'));
    witness.subscribe('shared/#');
    await until('the witness SUBACK', () => witness.packets.some((p) => p.cmd === 'suback'));
    await publish(quick.url, 'shared/t', ['one']);
    await until('the witness delivery', () => witness.publishes.length === 1);
    await sleep(500);
    expect(a.publishes).toEqual([]);
    witness.ack(witness.publishes[0]!.messageId);
    for (const client of [a, witness]) client.disconnect();
  }, 30_000);
});

describe('the contrast: Mosquitto resends on reconnect', () => {
  it('a crashed consumer\'s un-acked messages come back, DUP, as soon as its session reconnects', async () => {
    const mosquitto = await startMosquitto();
    try {
      const a = rawClient(mosquitto.port, 'mosquitto-crash', false);
      await until('CONNACK', () => a.packets.some((p) => p.cmd === 'connack'));
      a.subscribe('crash/#');
      await until('SUBACK', () => a.packets.some((p) => p.cmd === 'suback'));
      await publish(mosquitto.url, 'crash/t', ['held-0', 'held-1']);
      await until('the first delivery', () => a.publishes.length === 2);
      a.destroy();
      const b = rawClient(mosquitto.port, 'mosquitto-crash', false);
      await until('the resent messages', () => b.publishes.length === 2, 1_000);
      expect(b.packets.find((p) => p.cmd === 'connack')).toMatchObject({ sessionPresent: true });
      expect(b.publishes.map((p) => [p.payload, p.dup])).toEqual([['held-0', true], ['held-1', true]]);
      // Within 200 ms of the new connection: no timer involved.
      expect(Math.max(...b.publishes.map((p) => p.at_ms))).toBeLessThan(200);
      for (const p of b.publishes) b.ack(p.messageId);
      b.disconnect();
    } finally {
      await mosquitto.stop();
    }
  }, 30_000);
});
