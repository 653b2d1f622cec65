// Runs the reference aggregator (aggregator/main.ts) as a child process, so that chaos work can
// SIGKILL and restart it. Its counters arrive over IPC and are only ever reported as
// "self-reported": the ledger's loss and duplicate figures come from the sink, not from here.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { combineCounters, type AggregatorCounters } from '../aggregator/pipeline.ts';
import type { AggregatorConfig } from '../aggregator/service.ts';
import type { HarnessMessage } from '../aggregator/main.ts';
import { cpuProfileArgv, TYPESCRIPT_EXEC_ARGV } from './typescript-child.ts';
import { BROKER_ENV } from '../aggregator/consumer/access.ts';

function withoutBrokerPassword(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { [BROKER_ENV.password]: _password, CHAOSBENCH_BROKER_URL: _url, ...rest } = env;
  return rest;
}
import type { ConsumerProcess } from './target/interface.ts';

const MAIN = fileURLToPath(new URL('../aggregator/main.ts', import.meta.url));

interface ChildMessage {
  type: 'awaiting-config' | 'ready' | 'counters' | 'stopped';
  counters?: AggregatorCounters;
  claim_order?: string;
  /** The HTTP ingest's bound port, when the aggregator runs one. */
  http_port?: number;
  /** The metrics endpoint's bound port, when the aggregator runs one. */
  metrics_port?: number;
}

export class AggregatorProcess implements ConsumerProcess {
  private child: ChildProcess | undefined;
  /** Counters of the current incarnation; earlier incarnations (before a kill) are in `previous`. */
  counters: AggregatorCounters | undefined;
  private readonly previous: AggregatorCounters[] = [];
  claim_order: string | undefined;
  /** The current incarnation's HTTP ingest port (config.http_port 0 picks a new one at every start). */
  http_port: number | undefined;
  /**
   * The metrics endpoint's port (config.metrics_port 0 picks one at the first start; later
   * incarnations, after a kill, bind the same one so that a scraper keeps finding it).
   */
  metrics_port: number | undefined;
  stderr = '';
  restarts = 0;

  private readonly listeners = new Set<(counters: AggregatorCounters) => void>();

  constructor(
    readonly config: AggregatorConfig,
    private readonly options: {
      report_interval_ms?: number;
      /** Write a CPU profile of every incarnation into this directory (node --cpu-prof). */
      cpu_prof_dir?: string;
    } = {},
  ) {}

  /** Called with every counters report (about every report_interval_ms); returns an unsubscribe. */
  onCounters(listener: (counters: AggregatorCounters) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 20_000): Promise<void> {
    // The configuration goes over IPC as one object, sent when the child asks for it, not as argv:
    // argv is public (/proc/<pid>/cmdline) and a sink or dedup URL may carry a password. A file in
    // the run's directory would keep the password on disk after the run; the IPC channel is
    // already there for stop and slow-sink.
    const child = fork(MAIN, [], {
      execArgv: [...TYPESCRIPT_EXEC_ARGV, ...cpuProfileArgv(this.options.cpu_prof_dir)],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      // The broker password reaches the child in its configuration only, not in its environment too.
      env: { ...withoutBrokerPassword(process.env), CHAOSBENCH_REPORT_INTERVAL_MS: String(this.options.report_interval_ms ?? 100) },
    });
    this.child = child;
    this.counters = undefined;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      if (this.stderr.length > 64_000) this.stderr = this.stderr.slice(-32_000);
    });
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'awaiting-config') {
        const config = this.metrics_port === undefined ? this.config : { ...this.config, metrics_port: this.metrics_port };
        child.send({ type: 'config', config } satisfies HarnessMessage);
      }
      if (message.counters) {
        this.counters = message.counters;
        for (const listener of this.listeners) listener(message.counters);
      }
      if (message.claim_order) this.claim_order = message.claim_order;
      if (message.http_port !== undefined) this.http_port = message.http_port;
      if (message.metrics_port !== undefined) this.metrics_port = message.metrics_port;
      if (message.type === 'ready' && this.slowSink) child.send(this.slowSink);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`aggregator did not become ready within ${timeoutMs} ms\n${this.stderr}`));
      }, timeoutMs);
      const onMessage = (message: ChildMessage) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve();
      };
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`aggregator exited with code ${code} before it was ready\n${this.stderr}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  /** Counters summed over every incarnation of the process. */
  totalCounters(): AggregatorCounters | undefined {
    const all = [...this.previous, ...(this.counters ? [this.counters] : [])];
    return all.length === 0 ? undefined : combineCounters(all);
  }

  /**
   * Graceful stop: the aggregator drains in-flight batches, acks them and disconnects; with
   * finalScrapeMs, its metrics endpoint then waits that long at most for the final scrapes (aggregator/metrics/server.ts).
   */
  async stop(timeoutMs = 15_000, finalScrapeMs = 0): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.send({ type: 'stop', final_scrape_ms: finalScrapeMs } satisfies HarnessMessage);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + finalScrapeMs);
    await exited;
    clearTimeout(timer);
  }

  /** SIGKILL: no drain, no ack; what was in flight must come back as broker redeliveries. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    if (this.counters) this.previous.push(this.counters);
    this.counters = undefined;
  }

  /**
   * Send a harness message (e.g. the slow-sink profile). The last slow-sink profile is sent again
   * to every later incarnation, so a crash during a slow-sink phase does not cure the sink.
   */
  send(message: HarnessMessage): void {
    if (message.type === 'slow-sink') this.slowSink = message;
    this.child?.send(message);
  }

  private slowSink: HarnessMessage | undefined;

  /** SIGSTOP / SIGCONT: freeze the process for a known time (a GC pause, a stalled disk) and let it go on. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    this.restarts++;
    await this.start();
  }
}
