// Child-process entry point of the embedded broker: an Aedes 1.x instance on 127.0.0.1, forked by
// embedded.ts so that a chaos fault can SIGKILL a real broker process without taking the harness
// with it. It talks to its parent only over IPC and must never outlive it: when the IPC channel
// goes away (the harness crashed or exited), the broker goes too. Nothing is written to stdout;
// errors go to stderr, which the parent captures. Its configuration comes over IPC, never in argv
// (public in /proc/<pid>/cmdline): a Redis URL may carry a password.
import type { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AedesOptions } from 'aedes';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import { Redis } from 'ioredis';
import { redisDatabaseProblem, selectDatabase } from '../../aggregator/dedup/redis.ts';
import { redactPassword } from '../../aggregator/redact.ts';
import type { BrokerPersistence } from './handle.ts';
import { indexedMemoryPersistence } from './indexed-outgoing.ts';
import { shareSessionPacketIds } from './session-packet-ids.ts';
import { aedesSecurityHooks, securityProblems, type EmbeddedBrokerSecurity } from './embedded-security.ts';
import { PacketSplitter } from '../../aggregator/consumer/oversized.ts';

/** What the child is started with, sent by the parent when the child asks for it. */
export interface BrokerChildConfig {
  /** 0 = ephemeral. */
  port: number;
  persistence: BrokerPersistence;
  /** Redis persistence: the server and this broker's key prefix. */
  redis?: { url: string; key_prefix: string };
  /** Users, ACL per client id, TLS / mTLS (embedded-security.ts); absent: open, plain TCP. */
  security?: EmbeddedBrokerSecurity;
  /** A client sending a PUBLISH longer than this is disconnected at its header; absent: no limit. */
  max_publish_bytes?: number;
}

/** Parent → child. */
export type ParentMessage = { type: 'config'; config: BrokerChildConfig } | { type: 'stop' } | { type: 'stats'; id: number };

/** Child → parent. */
export type ChildMessage =
  | { type: 'awaiting-config' }
  | { type: 'ready'; port: number }
  | { type: 'error'; code?: string; message: string }
  | { type: 'stats'; id: number; stats: Record<string, number> };

/** How long a graceful close may take before the child exits anyway. */
const CLOSE_TIMEOUT_MS = 2_000;

function send(message: ChildMessage, onSent?: () => void): void {
  if (process.connected && process.send !== undefined) {
    process.send(message, undefined, {}, () => onSent?.());
  } else {
    onSent?.();
  }
}

/** A failure before 'ready'; `code` (e.g. EADDRINUSE) lets the parent decide to retry. */
class StartupError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The parent's configuration, checked; a StartupError names what is wrong. */
function checkedConfig(config: BrokerChildConfig): BrokerChildConfig {
  const { port, persistence, redis } = config;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new StartupError(`invalid port ${port}`);
  if (persistence !== 'memory' && persistence !== 'redis') throw new StartupError(`invalid persistence ${String(persistence)} (memory | redis)`);
  if (persistence === 'redis' && (!redis?.url || !redis.key_prefix)) throw new StartupError('redis persistence needs a Redis URL and a key prefix');
  const max = config.max_publish_bytes;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) throw new StartupError(`invalid max_publish_bytes ${max}`);
  const problems = securityProblems(config.security);
  if (problems.length > 0) throw new StartupError(problems.join('; '));
  return config;
}

async function main(): Promise<void> {
  if (process.send === undefined) {
    process.stderr.write('embedded broker: must be forked with an IPC channel (see embedded.ts)\n');
    process.exit(2);
  }
  // Until the server is up there is nothing to close gracefully: any stop request, or losing the
  // parent mid-startup, just exits. Registered first so that no window leaves an orphan.
  let shutdown = (): void => process.exit(0);
  let readStats = (): Record<string, number> | undefined => undefined;
  let configured: (config: BrokerChildConfig) => void = () => {};
  const config = new Promise<BrokerChildConfig>((resolve) => (configured = resolve));
  process.on('SIGTERM', () => shutdown());
  // Ctrl-C reaches the whole process group: the harness stops this process in order after its
  // load, and a harness that is gone closes the IPC channel (disconnect, below).
  process.on('SIGINT', () => {});
  process.on('disconnect', () => shutdown());
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'config') configured(message.config);
    else if (message.type === 'stop') shutdown();
    else if (message.type === 'stats') {
      const stats = readStats();
      if (stats !== undefined) send({ type: 'stats', id: message.id, stats });
    }
  });
  send({ type: 'awaiting-config' });

  const { port, persistence: kind, redis, security, max_publish_bytes } = checkedConfig(await config);
  // Redis persistence keeps sessions, subscriptions and queued QoS 1 messages outside this process,
  // so a SIGKILLed broker restarted with the same prefix carries on where it stopped. One broker
  // needs no shared emitter (mqemitter-redis is for several brokers behind one topic space).
  // The memory store is aedes-persistence's own with each session's un-acked queue indexed, so that
  // a consumer acking after its commit does not make every delivery cost the broker more (see the module).
  const persistence = kind === 'redis' ? await redisPersistence(redis!.url, redis!.key_prefix) : indexedMemoryPersistence();

  // Aedes 1.x: the default export only throws a migration error; the broker must be awaited.
  const broker = await Aedes.createBroker({ persistence, ...aedesSecurityHooks(security) });
  // Aedes restarts packet ids at random on each connection, which can give a reconnecting
  // subscriber's new messages the ids of its still un-acked ones and lose those (see the module).
  shareSessionPacketIds(broker);
  const counters = { published: 0, delivered: 0 };
  broker.on('publish', (packet, client) => {
    // client is null for Aedes' own $SYS heartbeats and wills; count only what clients sent.
    if (client !== null && packet.qos > 0) counters.published++;
  });
  // 'ack' fires when a subscriber acknowledges a QoS > 0 delivery (PUBACK for QoS 1). For a
  // persistent session (the aggregator's) it comes with the queued packet the PUBACK cleared, and
  // without one for a PUBACK whose id the session does not hold (a repeated or stray one): that
  // finishes no delivery, so it is not counted. A clean session's deliveries are not queued in the
  // persistence, so every PUBACK of one counts.
  broker.on('ack', (packet, client) => {
    if (packet || client.clean) counters.delivered++;
  });
  // Aedes emits 'error' on persistence failures; its typings only declare client-level errors.
  (broker as EventEmitter).on('error', (error: Error) => {
    process.stderr.write(`embedded broker: ${error.stack ?? error.message}\n`);
  });

  const handle = max_publish_bytes === undefined ? broker.handle : (socket: net.Socket) => limitPublishSize(socket, max_publish_bytes, broker.handle);
  const server = security?.tls === undefined ? net.createServer(handle) : tls.createServer(tlsOptions(security.tls), handle);
  // A failed TLS handshake (plain TCP, no client certificate under mTLS) is the client's problem, not the broker's.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    const onListenError = (error: NodeJS.ErrnoException): void => {
      reject(new StartupError(`cannot listen on 127.0.0.1:${port}: ${error.message}`, error.code));
    };
    server.once('error', onListenError);
    server.listen({ port, host: '127.0.0.1' }, () => {
      server.off('error', onListenError);
      resolve();
    });
  });
  server.on('error', (error) => process.stderr.write(`embedded broker: server error: ${error.message}\n`));
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new StartupError(`unexpected server address ${String(address)}`);
  }

  let closing = false;
  shutdown = (): void => {
    if (closing) return;
    closing = true;
    // A hung client must not keep the broker alive; the parent would SIGKILL us anyway.
    setTimeout(() => process.exit(0), CLOSE_TIMEOUT_MS).unref();
    // Stop accepting first, then let Aedes close its clients (which ends their sockets, which lets
    // server.close() complete).
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    const brokerClosed = new Promise<void>((resolve) => broker.close(() => resolve()));
    void Promise.all([serverClosed, brokerClosed]).then(() => process.exit(0));
  };
  readStats = () => ({ ...counters, clients: broker.connectedClients });

  send({ type: 'ready', port: address.port });
}

/**
 * Hands the connection to Aedes, then watches the bytes Aedes reads (a 'data' listener beside Aedes'
 * 'readable' one sees each chunk as read() returns it, without changing the flow) for the fixed
 * header of a PUBLISH longer than maxBytes: such a client is disconnected there, before Aedes
 * (whose parser holds a packet whole) has more than that chunk of it.
 */
function limitPublishSize(socket: net.Socket, maxBytes: number, handle: (socket: net.Socket) => void): void {
  handle(socket);
  const splitter = new PacketSplitter(
    { above_bytes: maxBytes, prefix_bytes: 0, protocolVersion: 5 },
    { bytes: () => {}, publish: () => {}, error: () => socket.destroy(), oversized: () => socket.destroy() },
  );
  socket.on('data', (chunk: Buffer) => splitter.push(chunk));
}

function tlsOptions(material: NonNullable<EmbeddedBrokerSecurity['tls']>): tls.TlsOptions {
  const mutual = material.client_ca !== undefined;
  return { cert: material.cert, key: material.key, ...(mutual ? { ca: material.client_ca, requestCert: true, rejectUnauthorized: true } : {}) };
}

/**
 * Aedes's Redis persistence on the server, database and credentials of `url`. The database its path
 * names (redis://host:port/5) is selected before the broker starts, or the broker does not start,
 * naming it (ioredis alone would go on in database 0 when the server refuses the index).
 */
async function redisPersistence(url: string, keyPrefix: string): Promise<AedesOptions['persistence']> {
  // The harness refuses such a URL before it starts anything (engine/resolve.ts); this is for any other caller.
  const database = redisDatabaseProblem(url);
  if (database) throw new StartupError(`redis persistence: ${database}`);
  // ioredis reads the whole URL: host, port, database, user and password.
  // Fail fast if Redis is down rather than queueing commands while clients wait.
  const conn = new Redis(url, { keyPrefix, maxRetriesPerRequest: 3, lazyConnect: true });
  // Until the database is selected, errors reach the StartupError below (one line); without a
  // listener ioredis would print each with its stack.
  const quiet = () => {};
  conn.on('error', quiet);
  try {
    await conn.connect();
    await selectDatabase(conn);
  } catch (error) {
    conn.disconnect();
    throw new StartupError(`redis persistence: ${redactPassword((error as Error).message)}`);
  }
  // Then one line per distinct error (ioredis repeats it on every reconnect attempt), never its stack.
  conn.off('error', quiet);
  let lastError = '';
  conn.on('error', (error: Error) => {
    if (error.message !== lastError) process.stderr.write(`embedded broker: redis persistence: ${(lastError = error.message)}\n`);
  });
  return aedesPersistenceRedis({ conn }) as AedesOptions['persistence'];
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const detail = error instanceof StartupError || !(error instanceof Error) ? message : (error.stack ?? message);
  process.stderr.write(`embedded broker: ${detail}\n`);
  const code = error instanceof StartupError ? error.code : undefined;
  // Exit explicitly once the report is out: a half-started server or broker may keep us alive.
  send(code === undefined ? { type: 'error', message } : { type: 'error', code, message }, () => process.exit(1));
});
