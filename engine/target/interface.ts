// What run.ts needs of the consumer process under test, whichever it is: the reference aggregator
// (engine/aggregator-process.ts, also the bare subscriber) or your own command (external-process.ts).
// A process that reports no counters (an external command) returns undefined from totalCounters():
// nothing the harness judges rests on them anyway (the ledger reads the sink).

import type { AggregatorCounters } from '../../aggregator/pipeline.ts';

/** reference: the reference aggregator; none: the bare subscriber; external: a command given as data (scenario `target`). */
export type TargetKind = 'reference' | 'none' | 'external';

export interface ConsumerProcess {
  /** The current incarnation's process id (its CPU time is read from /proc); undefined before the first start. */
  readonly pid: number | undefined;
  /** Starts it and resolves once it is ready to consume; rejects (with its stderr tail) when it cannot. */
  start(): Promise<void>;
  /** Asks it to stop (its graceful path), and SIGKILLs it after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL: no goodbye. consumer-crash then start()s it again. */
  kill(): Promise<void>;
  /** Restarts after a kill (consumer-crash), counted by run.ts. */
  restarts: number;
  /** Its self-reported counters over every incarnation, or undefined when it reports none. */
  totalCounters(): AggregatorCounters | undefined;
  /** Called with every counters report; returns an unsubscribe. A process that reports none never calls it. */
  onCounters(listener: (counters: AggregatorCounters) => void): () => void;
  /** The reference aggregator's dedup claim order; undefined for any other. */
  readonly claim_order: string | undefined;
}
