// A fault is a small injector with parameters as plain data (scenarios/schema.ts) and a seeded
// random source. It is started when its phase begins and stopped when the phase ends; stop()
// resolves once everything it decided to inject has been injected (no data dropped on the floor).
//
// Faults run where their effect is made: publish faults (duplicate, reorder, poison, clock-skew)
// inside each load worker, on that worker's own events; system faults (consumer-crash,
// broker-kill, slow-sink) and network faults (latency, bandwidth, slicer, partition, reset-peer,
// through the harness's TCP proxy) in the main thread, on the processes and sockets it owns.

import type { Random } from '../../aggregator/random.ts';
import type { Event } from '../../aggregator/event/types.ts';
import type { FaultKind, FaultSpec, NetworkFaultSpec } from '../../scenarios/schema.ts';
import type { ToxicSpec } from '../network/proxy.ts';
import type { Outgoing } from '../load/publishers.ts';

export interface PublishFaultContext {
  random: Random;
  /** Subscribe to every original event the load generator publishes; returns an unsubscribe. */
  onPublished(listener: (item: Outgoing, publisher: number) => void): () => void;
  /** Publish `item` again from the given publisher's connection or from a separate one. */
  republish(item: Outgoing, via: { publisher: number } | 'other-connection'): void;
  /**
   * Take over sending an original: the hook returns true when it has taken `item` (it must then
   * call `send` itself, exactly once, before its stop() resolves). Returns an unsubscribe.
   */
  intercept(hook: (item: Outgoing, publisher: number, send: () => void) => boolean): () => void;
  /** Change an event before it is serialised (e.g. its `ts`); returns an unsubscribe. */
  reshape(hook: (event: Event, publisher: number) => Event): () => void;
  /** Publish a raw message (not an event of the ledger) on a topic under the run's root. */
  publishRaw(subtopic: string, payload: Buffer): void;
  /**
   * Run `task` `delay_ms` from now, never earlier: in the load worker on its next wake-up after
   * that (engine/load/wakeups.ts, one timer for the schedule and every fault's delayed work, so a
   * task may run up to a batch interval late); elsewhere a plain timer.
   */
  later(delay_ms: number, task: () => void): void;
}

/** What a system fault may act on: the processes and their controls, all owned by the harness. */
export interface SystemFaultContext {
  random: Random;
  /** SIGKILL the aggregator and start it again (same client id: the broker redelivers). */
  crashConsumer(downtimeMs: number): Promise<void>;
  /** SIGKILL the embedded broker and start it again on the same port. */
  killBroker(downtimeMs: number): Promise<void>;
  /** Set the aggregator's sink delay profile for this phase (null: back to the configured delay). */
  setSinkSlowdown(profile: { delay_ms: number; jitter_ms: number; error_rate?: number } | null, seed: number): void;
  stallSink(ms: number): void;
  /**
   * Put a toxic on the harness's proxy for the fault's clients and direction; remove() takes it
   * off and returns what it did (connections affected, resets, connections closed).
   */
  addToxic(spec: NetworkFaultSpec, toxic: ToxicSpec, seed: number): { remove(): Record<string, number> };
  /** Phase window, µs since the epoch. */
  phase: { name: string; start_us: number; end_us: number };
  /** A line for the progress display. */
  note(line: string): void;
}

export interface Fault<Context> {
  readonly kind: FaultKind;
  start(context: Context): void;
  stop(): Promise<void>;
  /** What it injected, counted by the fault itself (checked independently by the ledger). */
  injected(): Record<string, number>;
}

export type PublishFault = Fault<PublishFaultContext>;
export type SystemFault = Fault<SystemFaultContext>;

/**
 * What a fault needs of the system under test (engine/target/needs.ts checks a scenario against its
 * target before anything starts): 'process', a consumer process the harness started (to SIGKILL and
 * restart); 'reference', the reference aggregator (it takes the slow-sink profile over IPC, and only
 * its sink has a dead-letter table for poison); absent, nothing beyond a subscriber on the broker.
 */
export type TargetCapability = 'process' | 'reference';

export type FaultEntry<S extends FaultSpec> = (
  | { runs_in: 'publisher'; create: (spec: S) => PublishFault }
  | { runs_in: 'system'; create: (spec: S) => SystemFault }
) & { needs?: TargetCapability };
