// An external broker reached by URL (the machine's Mosquitto, a cloud broker, ...). The harness
// does not own it: start() only proves it answers an MQTT CONNECT, and nothing here may ever
// stop, kill or reconfigure it.
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import type { BrokerHandle } from './index.ts';

const PROBE_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Resolves once `url` accepted an MQTT CONNECT (then disconnects cleanly); rejects with the reason
 * (ECONNREFUSED, connack timeout, a CONNACK refusal, ...) otherwise. Never retries.
 */
export function probeMqttBroker(url: string, connectTimeoutMs = PROBE_CONNECT_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: `chaosbench-probe-${randomUUID()}`,
      connectTimeout: connectTimeoutMs,
      reconnectPeriod: 0,
      clean: true,
    });
    let lastError: Error | undefined;
    let settled = false;
    // mqtt.js gives up on its own after connectTimeout; this guards against it never saying so.
    const timer = setTimeout(() => finish(new Error(`no CONNACK within ${connectTimeoutMs} ms`)), connectTimeoutMs + 1_000);
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A clean DISCONNECT after success; nothing to be polite to after a failure.
      client.end(error !== undefined, () => (error === undefined ? resolve() : reject(error)));
    };
    client.once('connect', () => finish());
    client.on('error', (error) => {
      lastError = error;
    });
    client.once('close', () => finish(lastError ?? new Error('connection closed before CONNACK')));
  });
}

export class ExternalBroker implements BrokerHandle {
  readonly kind = 'external' as const;

  private constructor(readonly url: string) {}

  /** Checks that `url` (already validated by parseBrokerSpec) accepts an MQTT connection. */
  static async start(url: string): Promise<ExternalBroker> {
    try {
      await probeMqttBroker(url);
    } catch (error) {
      throw new Error(`broker ${url} unreachable: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    return new ExternalBroker(url);
  }

  async kill(): Promise<void> {
    throw new Error(`cannot kill an external broker (${this.url}): broker-kill faults need --broker embedded`);
  }

  async restart(): Promise<void> {
    throw new Error(`cannot kill an external broker (${this.url}), so there is nothing to restart: use --broker embedded`);
  }

  /** Nothing to stop: the harness never owns an external broker. */
  async stop(): Promise<void> {}

  /** An external broker's counters are not ours to read (Mosquitto's $SYS tree is optional). */
  async stats(): Promise<Record<string, number> | undefined> {
    return undefined;
  }
}
