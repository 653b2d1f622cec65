// A nats-server of a test's own with its MQTT listener: a third broker family beside Aedes and
// Mosquitto (docs/own-broker.md, "NATS"). The config file lives in a fresh temporary directory with
// the JetStream store the MQTT listener needs (sessions and QoS 1 messages are JetStream streams),
// a server name (required with JetStream), and every listener on 127.0.0.1 port -1 (the server
// picks a free one: never 4222, 1883 or another standard port; no HTTP monitor, no cluster). The
// MQTT port is read from the server's own "Listening for MQTT clients" log line, so there is no
// window in which another process could take a port chosen beforehand. startNats resolves once the
// listener answered an MQTT CONNECT; stop() SIGTERMs (SIGKILL after 3 s) and removes the directory.
// Needs the nats-server binary (docs/testing.md).

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeMqttBroker } from '../engine/broker/external.ts';
import { watchChild } from './watched-child.ts';

export interface NatsOptions {
  /** The MQTT listener's ack_wait (a NATS duration, e.g. "2s"): how long a delivered QoS 1 message waits for its PUBACK before it is sent again. Unset: NATS's default, 30 s. */
  ack_wait?: string;
}

export interface NatsServer {
  /** mqtt://127.0.0.1:PORT of the MQTT listener. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const MQTT_LISTENING = /Listening for MQTT clients on mqtt:\/\/127\.0\.0\.1:(\d+)/;

function natsConfig(storeDir: string, options: NatsOptions): string {
  return [
    `server_name: chaosbench-${randomUUID().slice(0, 8)}`,
    'listen: 127.0.0.1:-1',
    `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
    'mqtt {',
    '  listen: 127.0.0.1:-1',
    ...(options.ack_wait === undefined ? [] : [`  ack_wait: ${JSON.stringify(options.ack_wait)}`]),
    '}',
    '',
  ].join('\n');
}

export async function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  const directory = mkdtempSync(join(tmpdir(), 'chaosbench-nats-'));
  const configPath = join(directory, 'nats.conf');
  writeFileSync(configPath, natsConfig(join(directory, 'jetstream'), options));
  const child = spawn('nats-server', ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const { exitReason, exited, stop } = watchChild(child, { directory, stop_timeout_ms: STOP_TIMEOUT_MS });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not open its MQTT listener within ${READY_TIMEOUT_MS} ms: ${log.slice(-2_000)}`)), READY_TIMEOUT_MS);
      const read = (chunk: Buffer): void => {
        log = (log + chunk.toString('utf8')).slice(-8_000);
        const match = MQTT_LISTENING.exec(log);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited before its MQTT listener opened (${exitReason()})${exitReason()?.includes('ENOENT') ? ' (is nats-server on PATH?)' : ''}: ${log.slice(-2_000)}`));
      });
    });
    const url = `mqtt://127.0.0.1:${port}`;
    await probeMqttBroker(url, READY_TIMEOUT_MS);
    return { url, port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
