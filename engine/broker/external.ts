// An external broker reached by URL (the machine's Mosquitto, a cloud broker, ...). The harness
// does not own it: start() only proves it answers an MQTT CONNECT, and nothing here may ever
// stop, kill or reconfigure it.
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import type { BrokerHandle } from './handle.ts';
import { classifyConnectError, mqttClientOptions } from './client-options.ts';
import { PLAIN_ACCESS, type BrokerAccess } from '../../aggregator/consumer/access.ts';

const PROBE_CONNECT_TIMEOUT_MS = 3_000;
/** How long identifyMqttBroker waits for $SYS/broker/version: a broker that publishes it retains it, so it comes at once. */
const IDENTIFY_TIMEOUT_MS = 1_500;

/**
 * Resolves once `url` accepted an MQTT CONNECT (then disconnects cleanly); rejects with the reason
 * (ECONNREFUSED, connack timeout, a CONNACK refusal, ...) otherwise. Never retries.
 */
export function probeMqttBroker(url: string, connectTimeoutMs = PROBE_CONNECT_TIMEOUT_MS, access: BrokerAccess = PLAIN_ACCESS): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      ...mqttClientOptions(access),
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
      // A refusal or a TLS failure is final: no need to wait for the close.
      if (classifyConnectError(error, access).kind !== 'unreachable') finish(error);
    });
    client.once('close', () => finish(lastError ?? new Error('connection closed before CONNACK')));
  });
}

/**
 * What the broker at `url` says it is: the retained `$SYS/broker/version` (Mosquitto publishes it,
 * e.g. "mosquitto version 2.0.18"), or undefined when nothing arrives within the timeout (the broker
 * does not publish it, or refuses $SYS subscriptions). Never throws: an unanswered question is an
 * unknown broker, not a failed run.
 */
export function identifyMqttBroker(url: string, timeoutMs = IDENTIFY_TIMEOUT_MS, access: BrokerAccess = PLAIN_ACCESS): Promise<string | undefined> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      ...mqttClientOptions(access),
      clientId: `chaosbench-identify-${randomUUID()}`,
      connectTimeout: timeoutMs,
      reconnectPeriod: 0,
      clean: true,
    });
    let settled = false;
    const finish = (version: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true, () => resolve(version));
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    client.on('error', () => {});
    client.once('close', () => finish(undefined));
    client.on('message', (topic, payload) => {
      if (topic === '$SYS/broker/version') finish(payload.toString('utf8').trim() || undefined);
    });
    client.once('connect', () => client.subscribe('$SYS/broker/version', { qos: 0 }));
  });
}

export class ExternalBroker implements BrokerHandle {
  readonly kind = 'external' as const;

  private constructor(
    readonly url: string,
    /** What the broker said it is ($SYS/broker/version), or 'unknown broker'. */
    readonly software: string,
  ) {}

  /**
   * Checks that `url` (already validated by parseBrokerSpec) accepts an MQTT connection with
   * `access`; the error says whether the broker refused us (credentials), the TLS handshake failed
   * or the broker could not be reached.
   */
  static async start(url: string, access: BrokerAccess = PLAIN_ACCESS): Promise<ExternalBroker> {
    try {
      await probeMqttBroker(url, PROBE_CONNECT_TIMEOUT_MS, access);
    } catch (error) {
      const failure = classifyConnectError(error, access);
      const what = failure.kind === 'unreachable' ? 'unreachable' : failure.kind === 'tls' ? 'TLS handshake failed' : 'refused the connection';
      const detail = failure.kind === 'unreachable' ? failure.message : failure.message.replace(/^(TLS handshake failed|the broker refused the connection): /, '');
      throw new Error(`broker ${url} ${what}: ${detail}`, { cause: error });
    }
    return new ExternalBroker(url, (await identifyMqttBroker(url, IDENTIFY_TIMEOUT_MS, access)) ?? 'unknown broker');
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
