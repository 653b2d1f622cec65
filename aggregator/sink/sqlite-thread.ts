// The SQLite sink on a worker thread of its own (setting sink_thread, config.ts). better-sqlite3 is
// synchronous: in the aggregator's main thread every COMMIT blocked the socket reads, the parsing
// and the acks of the whole process for its duration. Here the main thread sends each batch's rows
// to the sink's thread and goes on receiving and parsing the next batch while this one commits
// (the pipeline cuts it when this commit returns: group commit), so receiving overlaps committing.
//
// The contract is SqliteSink's, unchanged: commit() resolves only after the transaction has
// committed (the worker answers after COMMIT returned), a failed batch writes nothing, requests
// run in the order they were sent, and a failure keeps its kind across the thread: a SQLite error
// comes back as a SqliteError with its code, a busy database as a TransientError, anything else as
// an Error (aggregator/failure.ts classifies them all as before). What cannot cross: a claim that
// runs inside the sink's transaction (a sqlite dedup store in the sink's database shares its
// handle), so that configuration keeps the sink in the main thread (AggregatorService).
// The slow-down knob stays in this thread (the harness turns it at run time): its delay and
// injected failures come before the batch is sent.
// If the thread itself dies, every request fails as a fault of the store: the pipeline stalls and
// acks nothing, the broker keeps the messages.

import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { sleep } from '../clock.ts';
import type { Event } from '../event/types.ts';
import type { ClaimResult } from '../dedup/claim.ts';
import { TransientError, type CommitOutcome, type DeadLetter, type Sink, type SinkMode, type TransactionalClaim } from './index.ts';
import { SinkSlowdown } from './slowdown.ts';
import { sinkRowValues, type SinkRowValues, type SqliteSinkOptions } from './sqlite.ts';

/** What the worker builds its SqliteSink from (plain data: it crosses the thread). */
export type SinkThreadOptions = Omit<SqliteSinkOptions, 'slowdown' | 'delayMs'>;

/** The worker's workerData: the module the entry runs, and the sink's options. */
export interface SinkThreadData {
  module_url: string;
  options: SinkThreadOptions;
}

export type SinkThreadRequest =
  | { id: number; op: 'commit'; rows: SinkRowValues[] }
  | { id: number; op: 'dead-letter'; entries: readonly DeadLetter[] }
  | { id: number; op: 'close' };

/** A failure as plain data: its kind, message and SQLite code, rebuilt by errorFromThread. */
export interface ThreadError {
  kind: 'sqlite' | 'transient' | 'other';
  message: string;
  /** SQLite's code, of a SqliteError or of the one a TransientError wraps. */
  code?: string;
}

export type SinkThreadReply = { id: number; ok: true; value?: CommitOutcome } | { id: number; ok: false; error: ThreadError };

export function describeThreadError(error: unknown): ThreadError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Database.SqliteError) return { kind: 'sqlite', message, code: error.code };
  if (error instanceof TransientError) {
    const cause = error.cause;
    return cause instanceof Database.SqliteError ? { kind: 'transient', message, code: cause.code } : { kind: 'transient', message };
  }
  return { kind: 'other', message };
}

export function errorFromThread(error: ThreadError): Error {
  if (error.kind === 'sqlite') return new Database.SqliteError(error.message, error.code ?? 'SQLITE_ERROR');
  if (error.kind === 'transient') {
    return new TransientError(error.message, error.code === undefined ? undefined : { cause: new Database.SqliteError(error.message, error.code) });
  }
  return new Error(error.message);
}

const ENTRY = new URL('../typescript-worker-entry.mjs', import.meta.url);
const WORKER_MODULE = new URL('./sqlite-thread-worker.ts', import.meta.url).href;

export class ThreadedSqliteSink implements Sink {
  readonly kind = 'sqlite' as const;
  readonly mode: SinkMode;
  readonly slowdown: SinkSlowdown;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (reply: SinkThreadReply) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  /** Set once the thread has gone: every request then fails with it. */
  private gone: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: SqliteSinkOptions) {
    const delayMs = options.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
    this.mode = options.mode;
    this.slowdown = options.slowdown ?? new SinkSlowdown(delayMs, 0);
    const data: SinkThreadOptions = { path: options.path, mode: options.mode };
    if (options.busyTimeoutMs !== undefined) data.busyTimeoutMs = options.busyTimeoutMs;
    if (options.holdMs !== undefined) data.holdMs = options.holdMs;
    this.worker = new Worker(ENTRY, { workerData: { module_url: WORKER_MODULE, options: data } satisfies SinkThreadData });
    this.worker.on('message', (reply: SinkThreadReply) => {
      const call = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      call?.resolve(reply);
    });
    const fail = (error: Error) => {
      this.gone ??= error;
      for (const call of this.waiting.values()) call.reject(this.gone);
      this.waiting.clear();
    };
    this.worker.on('error', (error) => fail(new Error(`the SQLite sink's thread failed: ${error.message}`, { cause: error })));
    this.worker.on('exit', (code) => fail(new Error(`the SQLite sink's thread exited (code ${code})`)));
  }

  async commit(events: readonly Event[], claim?: { run: TransactionalClaim; ttlMs: number }): Promise<CommitOutcome & { claims?: ClaimResult[] }> {
    if (claim) throw new Error("a SQLite sink on its own thread cannot run a claim in its transaction (a sqlite dedup store in the sink's database keeps the sink in the main thread)");
    const delay = this.slowdown.nextDelayMs();
    if (delay > 0) await sleep(delay);
    if (this.slowdown.nextFails()) throw new TransientError('injected transient sink error (slow-sink error_rate)');
    if (events.length === 0) return { inserted: 0, already_present: 0 };
    const reply = await this.request({ op: 'commit', rows: events.map(sinkRowValues) });
    return reply.value!;
  }

  async deadLetter(entries: readonly DeadLetter[]): Promise<void> {
    if (entries.length === 0) return;
    await this.request({ op: 'dead-letter', entries });
  }

  /** Records the commit times still pending (SqliteSink.close), closes the database and ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.gone) await this.request({ op: 'close' }).catch(() => {});
      this.gone ??= new Error('the SQLite sink is closed');
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private async request(request: { op: 'commit'; rows: SinkRowValues[] } | { op: 'dead-letter'; entries: readonly DeadLetter[] } | { op: 'close' }): Promise<SinkThreadReply & { ok: true }> {
    if (this.gone) throw this.gone;
    const id = this.nextId++;
    const reply = await new Promise<SinkThreadReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id } satisfies SinkThreadRequest);
    });
    if (!reply.ok) throw errorFromThread(reply.error);
    return reply;
  }
}
