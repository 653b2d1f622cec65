// Test and bench helper: a private Mosquitto on its own ephemeral port with a config we control
// (queue and in-flight limits), for scenarios that need a real, non-Node broker we may kill. It
// reports itself as 'external' (it is not Aedes) but, unlike ExternalBroker, it owns its process.
// It must never touch port 1883, which belongs to the machine's shared Mosquitto.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeMqttBroker } from './external.ts';
import type { BrokerHandle } from './handle.ts';
import type { BrokerAccess } from '../../aggregator/consumer/access.ts';

export interface MosquittoOptions {
  /** Per-client queue of QoS > 0 messages beyond those in flight; 0 = unlimited. Mosquitto's default: 1000. */
  maxQueuedMessages?: number;
  /** Outgoing QoS > 0 messages in flight per client; 0 = unlimited. Mosquitto's default: 20. */
  maxInflightMessages?: number;
  /**
   * A secured listener instead of the plain one: TLS (mqtts://, files in PEM), a client certificate
   * required or not, and a password file (mosquitto_passwd) with anonymous clients refused.
   * `probe` is how the readiness probe connects (a client the listener accepts).
   */
  security?: {
    tls?: { cafile: string; certfile: string; keyfile: string; require_certificate: boolean };
    password_file?: string;
    /** An ACL file (acl_file): which users may read and write which topics. */
    acl_file?: string;
    probe: BrokerAccess;
  };
}

const MOSQUITTO_DEFAULTS = { maxQueuedMessages: 1000, maxInflightMessages: 20 } as const;
type Limits = { maxQueuedMessages: number; maxInflightMessages: number };
const SHARED_BROKER_PORT = 1883;
const READY_TIMEOUT_MS = 5_000;
const READY_POLL_INTERVAL_MS = 25;
const STOP_TIMEOUT_MS = 3_000;
/** Fresh ports tried by startMosquitto() when another process takes the chosen one first. */
const START_ATTEMPTS = 5;
const RESTART_BIND_RETRY_MS = 5_000;
const STDERR_TAIL_CHARS = 4_000;

class MosquittoStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = 'MosquittoStartError';
  }
}

interface RunningMosquitto {
  child: ChildProcess;
  exited: Promise<void>;
  hasExited: () => boolean;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const limits: Limits = { maxQueuedMessages: options.maxQueuedMessages ?? MOSQUITTO_DEFAULTS.maxQueuedMessages, maxInflightMessages: options.maxInflightMessages ?? MOSQUITTO_DEFAULTS.maxInflightMessages };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`startMosquitto: ${name} must be an integer >= 0 (got ${value})`);
  }
  const directory = await mkdtemp(path.join(os.tmpdir(), 'chaosbench-mosquitto-'));
  const configPath = path.join(directory, 'mosquitto.conf');
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await pickFreePort();
      await writeFile(configPath, mosquittoConfig(port, limits, options.security));
      const scheme = options.security?.tls ? 'mqtts' : 'mqtt';
      try {
        const running = await launch(configPath, port, options.security?.probe, scheme);
        return new MosquittoBroker(port, configPath, directory, running, scheme, options.security?.probe);
      } catch (error) {
        // The port was free when we looked, but something else bound it before Mosquitto did.
        if (!(error instanceof MosquittoStartError && error.addressInUse) || attempt >= START_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}

export class MosquittoBroker implements BrokerHandle {
  readonly kind = 'external' as const;
  readonly software = 'mosquitto (private, started by the harness)';
  readonly url: string;
  #running: RunningMosquitto | undefined;
  #stopping: Promise<void> | undefined;

  /** Use startMosquitto(). */
  constructor(
    readonly port: number,
    private readonly configPath: string,
    private readonly directory: string,
    running: RunningMosquitto,
    scheme: 'mqtt' | 'mqtts' = 'mqtt',
    private readonly probe?: BrokerAccess,
  ) {
    this.url = `${scheme}://127.0.0.1:${port}`;
    this.#running = running;
  }

  /** The Mosquitto process id; undefined after kill() or stop(). */
  get pid(): number | undefined {
    return this.#running !== undefined && !this.#running.hasExited() ? this.#running.child.pid : undefined;
  }

  async kill(): Promise<void> {
    this.#assertNotStopped('kill');
    const running = this.#running;
    this.#running = undefined;
    if (running === undefined) return;
    running.child.kill('SIGKILL');
    await running.exited;
  }

  async restart(): Promise<void> {
    this.#assertNotStopped('restart');
    if (this.#running !== undefined && !this.#running.hasExited()) {
      throw new Error(`cannot restart mosquitto at ${this.url}: it is still running (kill() it first)`);
    }
    const deadline = Date.now() + RESTART_BIND_RETRY_MS;
    for (;;) {
      try {
        this.#running = await launch(this.configPath, this.port, this.probe, new URL(this.url).protocol === 'mqtts:' ? 'mqtts' : 'mqtt');
        return;
      } catch (error) {
        if (!(error instanceof MosquittoStartError && error.addressInUse) || Date.now() >= deadline) throw error;
        await sleep(100);
      }
    }
  }

  /** SIGTERM (SIGKILL after 3 s), then removes the config directory. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async stats(): Promise<Record<string, number> | undefined> {
    return undefined;
  }

  async #stop(): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    if (running !== undefined && !running.hasExited()) {
      running.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
      });
      const outcome = await Promise.race([running.exited, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        running.child.kill('SIGKILL');
        await running.exited;
      }
    }
    await rm(this.directory, { recursive: true, force: true });
  }

  #assertNotStopped(operation: string): void {
    if (this.#stopping !== undefined) throw new Error(`cannot ${operation} mosquitto at ${this.url}: it has been stopped`);
  }
}

function mosquittoConfig(port: number, limits: Limits, security: MosquittoOptions['security']): string {
  const tls = security?.tls;
  return [
    `listener ${port} 127.0.0.1`,
    ...(tls ? [`cafile ${tls.cafile}`, `certfile ${tls.certfile}`, `keyfile ${tls.keyfile}`, `require_certificate ${tls.require_certificate}`] : []),
    ...(security?.password_file ? [`password_file ${security.password_file}`, 'allow_anonymous false'] : ['allow_anonymous true']),
    ...(security?.acl_file ? [`acl_file ${security.acl_file}`] : []),
    'persistence false',
    `max_queued_messages ${limits.maxQueuedMessages}`,
    `max_inflight_messages ${limits.maxInflightMessages}`,
    // Errors only, on stderr, which we keep for the start error message.
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
}

/** An ephemeral port that was free a moment ago (the caller retries if it is taken meanwhile). */
export async function pickFreePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen({ port: 0, host: '127.0.0.1' }, () => {
        const address = server.address();
        const bound = address !== null && typeof address === 'object' ? address.port : 0;
        server.close(() => resolve(bound));
      });
    });
    if (port !== 0 && port !== SHARED_BROKER_PORT) return port;
  }
}

/** Spawns mosquitto and resolves once it answers an MQTT CONNECT on `port`. */
async function launch(configPath: string, port: number, probe?: BrokerAccess, scheme: 'mqtt' | 'mqtts' = 'mqtt'): Promise<RunningMosquitto> {
  if (port === SHARED_BROKER_PORT) throw new Error(`refusing to start a private mosquitto on ${SHARED_BROKER_PORT}`);
  const child = spawn('mosquitto', ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderrTail = '';
  let spawnError: NodeJS.ErrnoException | undefined;
  let exitDescription: string | undefined;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const stderrClosed = new Promise<void>((resolve) => (child.stderr === null ? resolve() : child.stderr.once('close', resolve)));
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      exitDescription ??= `spawn failed: ${error.message}`;
      resolve();
    });
    child.once('exit', (code, signal) => {
      exitDescription = signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    });
  });
  const running: RunningMosquitto = { child, exited, hasExited: () => exitDescription !== undefined };

  // An MQTT CONNECT rather than a bare TCP connect: if another process grabbed the port between
  // pickFreePort() and mosquitto's bind, a TCP accept would be that process, not our broker.
  const url = `${scheme}://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!running.hasExited()) {
    const ready = await probeMqttBroker(url, 1_000, probe).then(
      () => true,
      () => false,
    );
    if (ready && !running.hasExited()) return running;
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new MosquittoStartError(`mosquitto on port ${port} not accepting MQTT connections within ${READY_TIMEOUT_MS} ms`, false);
    }
    await sleep(READY_POLL_INTERVAL_MS);
  }
  // It exited before it listened. Let stderr drain so the message carries the reason.
  await Promise.race([stderrClosed, sleep(500)]);
  const stderr = stderrTail.trim();
  const hint = spawnError?.code === 'ENOENT' ? ' (is mosquitto on PATH?)' : '';
  throw new MosquittoStartError(
    `mosquitto failed to start on port ${port} (${exitDescription})${hint}${stderr === '' ? '' : `: ${stderr}`}`,
    /address already in use/i.test(stderr),
  );
}
