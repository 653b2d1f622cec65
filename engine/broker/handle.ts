// What the harness holds of a broker, whichever it is (embedded.ts, external.ts, mosquitto.ts), and
// what an embedded one is started with. Its own module so that the implementations name it without
// importing index.ts, which imports them to choose one.

export interface BrokerHandle {
  readonly kind: 'embedded' | 'external';
  /** mqtt://127.0.0.1:PORT (an external broker: mqtt:// or mqtts://, never with credentials) */
  readonly url: string;
  /**
   * Which broker software it is, as far as the harness knows: the embedded Aedes and its version,
   * what an external broker says in $SYS/broker/version, or 'unknown broker'. Findings give
   * broker-specific advice only when this names that broker.
   */
  readonly software: string;
  /** The broker process the run started, while it runs (its CPU time is read from /proc); absent for an external broker. */
  readonly pid?: number | undefined;
  /** SIGKILL the broker process (embedded only; external throws a clear error). */
  kill(): Promise<void>;
  /** Start it again on the same port after kill() (embedded only). */
  restart(): Promise<void>;
  /** Graceful stop; idempotent. */
  stop(): Promise<void>;
  /**
   * Broker-side counters if available (embedded: published, delivered, clients), else undefined.
   * They trail the clients: Aedes acks a QoS 1 publish before it routes it and counts it, so a
   * read right after a round trip can miss it (seen under load: 1 read in 200 behind).
   */
  stats?(): Promise<Record<string, number> | undefined>;
  /**
   * PUBACKs the broker has received from its subscribers (deliveries they finished), summed over
   * every broker process of the run: the harness's own view of how far the subscriber got, which
   * the timeline's backlog uses instead of the subscriber's word. Undefined while the broker cannot
   * answer (down, restarting); absent for a broker whose counts the harness cannot read.
   */
  subscriberAcks?(): Promise<number | undefined>;
}

import type { BrokerAccess } from '../../aggregator/consumer/access.ts';
import type { EmbeddedBrokerSecurity } from './embedded-security.ts';

export type BrokerPersistence = 'memory' | 'redis';

export interface BrokerOptions {
  persistence: BrokerPersistence;
  /** Redis persistence: the server, and a key prefix of this broker's own (cleaned up by the caller). */
  redis?: { url: string; key_prefix: string };
  /** 0 = ephemeral (default). Embedded only; an external broker's port is in its URL. */
  port?: number;
  /** Embedded only: write a CPU profile of every broker process into this directory (node --cpu-prof). */
  cpu_prof_dir?: string;
  /**
   * Embedded only: where a broker process's error output goes once it serves, a line at a time,
   * each prefixed with its pid (before it serves, the output goes into the start error). Absent:
   * nowhere; the engine prints nothing itself, its caller decides.
   */
  error_output?: (line: string) => void;
  /**
   * Embedded only: users, topic ACLs per client id, TLS or mTLS (embedded-security.ts), for tests of
   * secured setups. Sent to the broker child over IPC, never argv. With TLS the URL is mqtts://.
   */
  security?: EmbeddedBrokerSecurity;
  /**
   * Embedded only: the largest PUBLISH (remaining length, bytes) a client may send; a client whose
   * PUBLISH header says more is disconnected at once, before the broker buffers it. Absent: no limit
   * but MQTT's own (Aedes holds each packet whole, so a 250 MiB message costs it about 500 MB).
   */
  max_publish_bytes?: number;
  /** External only: MQTT version, TLS material and credentials the probe connects with. */
  access?: BrokerAccess;
}
