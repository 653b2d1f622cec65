// A fault is a small injector with parameters as plain data (scenarios/schema.ts) and a seeded
// random source. It is started when its phase begins and stopped when the phase ends; stop()
// resolves once everything it decided to inject has been injected (no data dropped on the floor).

import type { Random } from '../../aggregator/random.ts';
import type { FaultKind, FaultSpec } from '../../scenarios/schema.ts';
import type { Outgoing } from '../load/publishers.ts';

export interface FaultContext {
  random: Random;
  /** Subscribe to every original event the load generator publishes; returns an unsubscribe. */
  onPublished(listener: (item: Outgoing, publisher: number) => void): () => void;
  /** Publish `item` again from the given publisher's connection or from a separate one. */
  republish(item: Outgoing, via: { publisher: number } | 'other-connection'): void;
}

export interface Fault {
  readonly kind: FaultKind;
  start(context: FaultContext): void;
  stop(): Promise<void>;
  /** What it injected, counted by the fault itself (checked independently by the ledger). */
  injected(): Record<string, number>;
}

export type FaultFactory<S extends FaultSpec = FaultSpec> = (spec: S) => Fault;
