// The embedded broker: Aedes in a forked child process (embedded-process.ts), so that the
// broker-kill fault can SIGKILL a real process and restart it on the same port while the harness
// keeps measuring. This module owns that process; it must never leave it running after stop().
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerHandle, BrokerOptions, BrokerPersistence } from './handle.ts';
import type { BrokerChildConfig, ChildMessage, ParentMessage } from './embedded-process.ts';
import { cpuProfileArgv, TYPESCRIPT_EXEC_ARGV } from '../typescript-child.ts';
import { installedVersion } from '../package-version.ts';

const CHILD_PATH = fileURLToPath(new URL('./embedded-process.ts', import.meta.url));

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const STATS_TIMEOUT_MS = 2_000;
/** kill() asks the doomed process for its last counts first, but never holds the fault up longer than this. */
const LAST_STATS_TIMEOUT_MS = 200;
/** How long restart() keeps retrying while the old port is still taken. */
const RESTART_BIND_RETRY_MS = 5_000;
const RESTART_BIND_RETRY_INTERVAL_MS = 100;
const STDERR_TAIL_CHARS = 4_000;
const AEDES_VERSION = installedVersion('aedes');

export class BrokerStartError extends Error {
  constructor(
    message: string,
    /** The child's errno code when it reported one, e.g. EADDRINUSE. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'BrokerStartError';
  }
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One forked broker process, from fork to exit. A restart is a new BrokerProcess. */
class BrokerProcess {
  #exitInfo: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  #stderrTail = '';
  #ready = false;
  #nextStatsId = 1;
  readonly #pendingStats = new Map<number, (stats: Record<string, number> | undefined) => void>();

  private constructor(
    readonly child: ChildProcess,
    config: BrokerChildConfig,
    errorOutput: ((line: string) => void) | undefined,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitInfo = { code, signal };
        for (const settle of this.#pendingStats.values()) settle(undefined);
        this.#pendingStats.clear();
        resolve(this.#exitInfo);
      });
    });
    child.stderr?.setEncoding('utf8');
    let partial = '';
    child.stderr?.on('data', (chunk: string) => {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
      // Before 'ready' the text goes into the start error instead; after, a broker error must be
      // seen: whole lines to the caller's error_output.
      if (!this.#ready) return;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) errorOutput?.(`[embedded broker pid ${child.pid}] ${line}`);
    });
    child.stderr?.on('end', () => {
      if (this.#ready && partial !== '') errorOutput?.(`[embedded broker pid ${child.pid}] ${partial}`);
    });
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'awaiting-config') child.send({ type: 'config', config } satisfies ParentMessage);
      else if (message.type === 'stats') {
        this.#pendingStats.get(message.id)?.(message.stats);
        this.#pendingStats.delete(message.id);
      }
    });
    // A failed send or spawn surfaces here; the exit (or the ready timeout) reports it.
    child.on('error', () => {});
  }

  get running(): boolean {
    return this.#exitInfo === undefined;
  }

  /** Forks the child and resolves with the port it bound, or rejects with its reason and stderr. */
  static async fork(port: number, options: BrokerOptions): Promise<{ process: BrokerProcess; port: number }> {
    // The configuration goes over IPC when the child asks for it, not in argv: argv is public
    // (/proc/<pid>/cmdline) and a Redis URL may carry a password.
    const config: BrokerChildConfig = {
      port,
      persistence: options.persistence,
      ...(options.redis ? { redis: options.redis } : {}),
      ...(options.security ? { security: options.security } : {}),
      ...(options.max_publish_bytes === undefined ? {} : { max_publish_bytes: options.max_publish_bytes }),
    };
    const child = fork(CHILD_PATH, [], {
      // Always explicit: a tsx-launched parent carries tsx's own flags, a vitest worker carries
      // vitest's, and an inherited --inspect would collide on its port.
      execArgv: [...TYPESCRIPT_EXEC_ARGV, ...cpuProfileArgv(options.cpu_prof_dir)],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const brokerProcess = new BrokerProcess(child, config, options.error_output);
    try {
      const boundPort = await brokerProcess.#waitReady();
      brokerProcess.#ready = true;
      return { process: brokerProcess, port: boundPort };
    } catch (error) {
      if (brokerProcess.running) {
        child.kill('SIGKILL');
        await brokerProcess.exited;
      }
      throw error;
    }
  }

  #waitReady(): Promise<number> {
    return new Promise((resolve, reject) => {
      let reported: { message: string; code?: string } | undefined;
      const onMessage = (message: ChildMessage): void => {
        if (message.type === 'ready') {
          cleanup();
          resolve(message.port);
        } else if (message.type === 'error') {
          // The child exits right after reporting; reject on exit, when all of stderr is in.
          reported = message.code === undefined ? { message: message.message } : message;
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        const how = signal === null ? `code ${code}` : `signal ${signal}`;
        const reason = reported?.message ?? 'no reason reported';
        // The child also writes its reported reason to stderr; do not show it twice.
        const stderr = this.#stderrTail.replace(`embedded broker: ${reason}\n`, '').trim();
        reject(
          new BrokerStartError(
            `embedded broker failed to start (exit ${how}): ${reason}${stderr === '' ? '' : `\nstderr:\n${stderr}`}`,
            reported?.code,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        const stderr = this.#stderrTail.trim();
        reject(
          new BrokerStartError(
            `embedded broker not ready within ${READY_TIMEOUT_MS} ms${stderr === '' ? '' : `\nstderr:\n${stderr}`}`,
          ),
        );
      }, READY_TIMEOUT_MS);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.child.on('exit', onExit);
    });
  }

  send(message: ParentMessage): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.child.connected) return resolve(false);
      this.child.send(message, (error) => resolve(error === null));
    });
  }

  async stats(timeoutMs = STATS_TIMEOUT_MS): Promise<Record<string, number> | undefined> {
    if (!this.running) return undefined;
    const id = this.#nextStatsId++;
    const reply = new Promise<Record<string, number> | undefined>((resolve) => this.#pendingStats.set(id, resolve));
    if (!(await this.send({ type: 'stats', id }))) {
      this.#pendingStats.delete(id);
      return undefined;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`embedded broker pid ${this.child.pid} did not answer a stats request within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([reply, timeout]);
    } finally {
      clearTimeout(timer);
      this.#pendingStats.delete(id);
    }
  }

  /** Resolves true if the process exited within `ms`. */
  async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true as const), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async killNow(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export class EmbeddedBroker implements BrokerHandle {
  readonly kind = 'embedded' as const;
  readonly software = `aedes ${AEDES_VERSION} (embedded)`;
  readonly url: string;
  readonly port: number;
  readonly #options: BrokerOptions;
  #process: BrokerProcess | undefined;
  #restarting = false;
  #stopping: Promise<void> | undefined;
  /**
   * Subscriber PUBACKs counted by the broker processes already killed: a new process counts from 0.
   * Each one's last count is read just before its SIGKILL, so only PUBACKs of the last moments
   * before the kill can be missed.
   */
  #acksOfKilled = 0;
  /** The latest count read from the current process, in case it cannot answer before its kill. */
  #lastAcks = 0;

  private constructor(port: number, options: BrokerOptions, brokerProcess: BrokerProcess) {
    this.port = port;
    this.url = `${options.security?.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`;
    this.#options = options;
    this.#process = brokerProcess;
  }

  /** Forks the broker and waits (up to 10 s) until it listens. Port 0 (the default) = ephemeral. */
  static async start(options: BrokerOptions = { persistence: 'memory' }): Promise<EmbeddedBroker> {
    const { process: brokerProcess, port } = await BrokerProcess.fork(options.port ?? 0, options);
    return new EmbeddedBroker(port, options, brokerProcess);
  }

  /** The current broker process id; undefined after kill() or stop(). */
  get pid(): number | undefined {
    return this.#process?.running ? this.#process.child.pid : undefined;
  }

  async kill(): Promise<void> {
    this.#assertNotStopped('kill');
    const brokerProcess = this.#process;
    this.#process = undefined;
    if (brokerProcess) {
      const last = await brokerProcess.stats(LAST_STATS_TIMEOUT_MS).catch(() => undefined);
      this.#acksOfKilled += Math.max(last?.delivered ?? 0, this.#lastAcks);
      this.#lastAcks = 0;
    }
    await brokerProcess?.killNow();
  }

  async restart(): Promise<void> {
    this.#assertNotStopped('restart');
    if (this.#process?.running) {
      throw new Error(`cannot restart the embedded broker at ${this.url}: it is still running (kill() it first)`);
    }
    if (this.#restarting) throw new Error(`a restart of the embedded broker at ${this.url} is already in progress`);
    this.#restarting = true;
    try {
      const brokerProcess = await this.#forkOnSamePort();
      if (this.#stopping !== undefined) {
        // stop() was called while we were starting: it found nothing to stop, so finish its job.
        await brokerProcess.killNow();
        return;
      }
      this.#process = brokerProcess;
    } finally {
      this.#restarting = false;
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stopGracefully();
    return this.#stopping;
  }

  async stats(): Promise<Record<string, number> | undefined> {
    return this.#process?.stats();
  }

  async subscriberAcks(): Promise<number | undefined> {
    // Taken before the await: a kill() in between adds this process's count to #acksOfKilled.
    const brokerProcess = this.#process;
    const ofKilled = this.#acksOfKilled;
    const stats = await brokerProcess?.stats().catch(() => undefined);
    if (stats?.delivered === undefined) return undefined;
    if (brokerProcess === this.#process) this.#lastAcks = Math.max(this.#lastAcks, stats.delivered);
    return ofKilled + stats.delivered;
  }

  async #forkOnSamePort(): Promise<BrokerProcess> {
    const deadline = Date.now() + RESTART_BIND_RETRY_MS;
    for (;;) {
      try {
        const { process: brokerProcess } = await BrokerProcess.fork(this.port, this.#options);
        return brokerProcess;
      } catch (error) {
        // Listening sockets reuse the address past TIME_WAIT, but another process may have
        // grabbed the ephemeral port while the broker was down; give it a moment to go away.
        if (!(error instanceof BrokerStartError && error.code === 'EADDRINUSE') || Date.now() >= deadline) {
          throw error;
        }
        await sleep(RESTART_BIND_RETRY_INTERVAL_MS);
      }
    }
  }

  async #stopGracefully(): Promise<void> {
    const brokerProcess = this.#process;
    this.#process = undefined;
    if (brokerProcess === undefined || !brokerProcess.running) return;
    if (!(await brokerProcess.send({ type: 'stop' }))) brokerProcess.child.kill('SIGTERM');
    if (!(await brokerProcess.exitsWithin(STOP_TIMEOUT_MS))) await brokerProcess.killNow();
  }

  #assertNotStopped(operation: string): void {
    if (this.#stopping !== undefined) {
      throw new Error(`cannot ${operation} the embedded broker at ${this.url}: it has been stopped`);
    }
  }
}
