// The relay: a near-free MQTT forwarder in its own process (relay-process.ts), for `npm run perf`'s
// generator-capacity variant only. A MEASUREMENT FIXTURE, NOT A BROKER FOR VERDICTS: it keeps
// nothing (no sessions, no queue for a subscriber that is not connected: its messages are dropped,
// no retained messages, no wills, no persistence) and refuses QoS 2 and shared subscriptions. A
// run through it says how fast the harness can publish when the broker costs almost nothing; it
// says nothing about delivery guarantees, so no scenario, gate or check may rest on it.
//
// Why it exists: on a 2-core machine a private Mosquitto spent 42.5 µs of CPU per message (about a
// syscall per packet) and saturated a core at about 20,000 ev/s, so the generator variant measured
// Mosquitto's ceiling, not the generator's (docs/lab/2026-12-03-perf-quiet.md).
//
// Like startMosquitto it returns the URL, the pid (perf reads its CPU from /proc as the broker's,
// RunOptions.external_broker_pid) and stop(). It binds 127.0.0.1 on an ephemeral port chosen by
// the child itself (no race for a port), and dies with its parent (the IPC channel).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RELAY_SOFTWARE, type RelayChildMessage } from './relay-protocol.ts';
import { TYPESCRIPT_EXEC_ARGV } from '../typescript-child.ts';

export { RELAY_SOFTWARE };

const CHILD_PATH = fileURLToPath(new URL('./relay-process.ts', import.meta.url));
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const STDERR_TAIL_CHARS = 4_000;

export interface Relay {
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The relay process's id while it runs; undefined once it has exited. */
  readonly pid: number | undefined;
  /** SIGTERM (SIGKILL after 3 s) and wait for the exit. Idempotent. */
  stop(): Promise<void>;
}

/** Forks the relay and resolves once it listens; rejects with its reason (and stderr) otherwise. */
export async function startRelay(): Promise<Relay> {
  const child = fork(CHILD_PATH, [], { execArgv: [...TYPESCRIPT_EXEC_ARGV], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL_CHARS);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  child.on('error', () => {});
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay not listening within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      child.on('message', (message: RelayChildMessage) => {
        clearTimeout(timer);
        if (message.type === 'ready') resolve(message.port);
        else reject(new Error(`relay failed to start: ${message.message}`));
      });
      void exit.then(() => {
        clearTimeout(timer);
        reject(new Error(`relay exited before it listened${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`));
      });
    });
    return new RunningRelay(child, port, exit, () => exited);
  } catch (error) {
    if (!exited) child.kill('SIGKILL');
    await exit;
    throw error;
  }
}

class RunningRelay implements Relay {
  readonly url: string;
  #stopping: Promise<void> | undefined;

  constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly exit: Promise<void>,
    private readonly hasExited: () => boolean,
  ) {
    this.url = `mqtt://127.0.0.1:${port}`;
  }

  get pid(): number | undefined {
    return this.hasExited() ? undefined : this.child.pid;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.hasExited()) return;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS)));
    const outcome = await Promise.race([this.exit, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.child.kill('SIGKILL');
      await this.exit;
    }
  }
}
