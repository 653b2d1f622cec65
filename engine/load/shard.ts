// Shards: how several harness processes (on one machine or many) share one run's load. Shard i of n
// owns the publishers p with p mod n = i − 1 and publishes exactly their events of the scenario's
// schedule, so the shards together publish the events one harness running the whole scenario
// would (the same sources and seqs, each due at the same offset from its shard's start), and no two
// shards ever share a source, so never an event_id either. Pure: which process owns what.

export interface Shard {
  /** 1-based: shard 1 of 3 is { index: 1, count: 3 }. */
  index: number;
  count: number;
}

/** The whole run in one process: what a harness without --shard is. */
export const WHOLE_RUN: Shard = { index: 1, count: 1 };

/** Parses `--shard I/N` ("2/3"); throws with a message naming the flag. */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!match) throw new Error(`--shard must look like 1/3 (this process's shard / number of shards), got '${text}'`);
  const shard = { index: Number(match[1]), count: Number(match[2]) };
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count) {
    throw new Error(`--shard ${text}: the shard must be in 1..${Math.max(1, shard.count)} and the number of shards at least 1`);
  }
  return shard;
}

export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/** Publishers (0-based indexes out of `publishers`) this shard runs. */
export function shardPublishers(shard: Shard, publishers: number): number[] {
  const owned: number[] = [];
  for (let p = shard.index - 1; p < publishers; p += shard.count) owned.push(p);
  return owned;
}

/**
 * Does load worker `worker` (of `workers` in this process) run publisher p? Within a shard the
 * publishers go round robin over the workers by their position in the shard, so that every worker
 * gets some whatever the shard count; with one shard this is the familiar p mod workers.
 */
export function runsPublisher(shard: Shard, workers: number, worker: number, p: number): boolean {
  return p % shard.count === shard.index - 1 && Math.floor(p / shard.count) % workers === worker;
}

/** The share of the scenario's events this shard publishes (its publishers / all publishers). */
export function shardShare(shard: Shard, publishers: number): number {
  return publishers === 0 ? 0 : shardPublishers(shard, publishers).length / publishers;
}

/**
 * How many of the global events first … first + count − 1 (event g is publisher g mod publishers's)
 * belong to this shard's publishers.
 */
export function shardEventCount(shard: Shard, publishers: number, first: number, count: number): number {
  // Events g in [a, b) of publisher p: those with g ≡ p (mod P).
  const upTo = (end: number, p: number) => (end <= p ? 0 : Math.ceil((end - p) / publishers));
  return shardPublishers(shard, publishers).reduce((sum, p) => sum + upTo(first + count, p) - upTo(first, p), 0);
}

/** Problems with running `shard` of a scenario with this load (empty: fine), for the CLI to report. */
export function shardProblems(shard: Shard, load: { model: string; publishers: number; workers: number }): string[] {
  if (shard.count === 1) return [];
  const problems: string[] = [];
  if (load.model !== 'open') {
    problems.push(`--shard ${formatShard(shard)} needs the open model: in the closed model each shard would keep its own load.concurrency in flight`);
  }
  // The smallest shard owns ⌊P/n⌋ publishers, and every load worker must run at least one.
  if (load.publishers < shard.count * load.workers) {
    problems.push(
      `--shard ${formatShard(shard)} needs load.publishers >= ${shard.count * load.workers} (${shard.count} shards × ${load.workers} load worker${load.workers === 1 ? '' : 's'}: each shard runs its share of the publishers, each worker at least one), got ${load.publishers}: raise --publishers`,
    );
  }
  return problems;
}
