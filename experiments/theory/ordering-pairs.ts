// Table 4's measuring half: given the events a consumer received (with the causal link each one
// declares), judge every ordering rule on every causally related pair. Pure functions only: no
// broker, no clock, no randomness; ordering.ts does the running and the tests feed hand-made events.
//
// The truth is the declared happens-before relation: program order within a source (each event
// happens after its predecessor) plus one reaction link per event at most (`caused_by`: the event
// of another source it reacts to), closed under transitivity. It is never read from a clock the
// rules under test use, so a rule cannot grade itself.

/** One event as the consumer saw it. */
export interface ObservedEvent {
  event_id: string;
  source: string;
  /** Per-source counter, from 0. */
  seq: number;
  /** Event time from the source's own (possibly skewed) clock, µs since the epoch. */
  ts_us: number;
  /** Lamport clock the event was sent with. */
  lamport: number;
  /** Vector clock the event was sent with: source → events of that source it has seen (itself included). */
  vector: Record<string, number>;
  /** The event of another source this one reacts to, or null. */
  caused_by: string | null;
  /** Position in the consumer's arrival order (first delivery), from 0. */
  arrival: number;
}

export const ORDERING_RULES = ['arrival', 'timestamp', 'source-seq', 'lamport', 'vector-clock'] as const;
export type OrderingRule = (typeof ORDERING_RULES)[number];

/** How a rule places a pair that truly happened `before` → `after`. */
export type Verdict = 'right' | 'wrong' | 'cannot-order';

function bySourceThenSeq(a: ObservedEvent, b: ObservedEvent): number {
  if (a.source !== b.source) return a.source < b.source ? -1 : 1;
  return a.seq - b.seq;
}

/** -1: `a` before `b`; 1: `b` before `a`; 0: equal; null: incomparable (concurrent). */
export function compareVectors(a: Record<string, number>, b: Record<string, number>): -1 | 0 | 1 | null {
  let aLess = false;
  let bLess = false;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key] ?? 0;
    const y = b[key] ?? 0;
    if (x < y) aLess = true;
    if (y < x) bLess = true;
  }
  if (aLess && bLess) return null;
  if (aLess) return -1;
  if (bLess) return 1;
  return 0;
}

/**
 * Where rule `rule` puts `a` relative to `b`: negative when a comes first, positive when b does,
 * null when the rule cannot order the two. The total orders (arrival, timestamp, Lamport) break
 * ties the way a sort would have to: timestamp by source then seq, Lamport by source id.
 */
export function ruleOrder(rule: OrderingRule, a: ObservedEvent, b: ObservedEvent): number | null {
  switch (rule) {
    case 'arrival':
      return a.arrival - b.arrival;
    case 'timestamp':
      return a.ts_us !== b.ts_us ? a.ts_us - b.ts_us : bySourceThenSeq(a, b);
    case 'source-seq':
      return a.source === b.source ? a.seq - b.seq : null;
    case 'lamport':
      if (a.lamport !== b.lamport) return a.lamport - b.lamport;
      return a.source === b.source ? a.seq - b.seq : a.source < b.source ? -1 : 1;
    case 'vector-clock': {
      const order = compareVectors(a.vector, b.vector);
      return order === 0 ? null : order;
    }
    default: {
      const unreachable: never = rule;
      throw new Error(`unknown ordering rule ${String(unreachable)}`);
    }
  }
}

/** The verdict of `rule` on a pair that truly happened `before` → `after`. */
export function judge(rule: OrderingRule, before: ObservedEvent, after: ObservedEvent): Verdict {
  const order = ruleOrder(rule, before, after);
  if (order === null || order === 0) return 'cannot-order';
  return order < 0 ? 'right' : 'wrong';
}

export interface CausalLink {
  before: ObservedEvent;
  after: ObservedEvent;
  /** same-source: consecutive events of one source; cross-source: a reaction and its cause. */
  kind: 'same-source' | 'cross-source';
}

/**
 * The direct links of the happens-before relation among the events present: consecutive events of
 * each source (a gap left by an undelivered event still links its neighbours, transitively), and
 * each reaction to its cause. A reaction whose cause was not delivered is counted, not linked.
 */
export function causalLinks(events: readonly ObservedEvent[]): { links: CausalLink[]; causes_missing: number } {
  const links: CausalLink[] = [];
  const bySource = new Map<string, ObservedEvent[]>();
  for (const event of events) {
    const list = bySource.get(event.source) ?? [];
    list.push(event);
    bySource.set(event.source, list);
  }
  for (const list of bySource.values()) {
    list.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < list.length; i++) links.push({ before: list[i - 1]!, after: list[i]!, kind: 'same-source' });
  }
  const byId = new Map(events.map((event) => [event.event_id, event]));
  let causes_missing = 0;
  for (const event of events) {
    if (event.caused_by === null) continue;
    const cause = byId.get(event.caused_by);
    if (cause === undefined) {
      causes_missing++;
      continue;
    }
    links.push({ before: cause, after: event, kind: cause.source === event.source ? 'same-source' : 'cross-source' });
  }
  return { links, causes_missing };
}

/**
 * For each event, the highest seq + 1 of every source that happens before it or is it, computed
 * from the declared links alone (not from the clocks the events carry). a → b exactly when
 * knowledge(b)[a.source] > a.seq and a ≠ b. Throws on a causal cycle, which only bad data can make.
 */
export function causalKnowledge(events: readonly ObservedEvent[]): Map<ObservedEvent, Map<string, number>> {
  const { links } = causalLinks(events);
  const predecessors = new Map<ObservedEvent, ObservedEvent[]>();
  for (const { before, after } of links) {
    const list = predecessors.get(after) ?? [];
    list.push(before);
    predecessors.set(after, list);
  }
  const knowledge = new Map<ObservedEvent, Map<string, number>>();
  const onStack = new Set<ObservedEvent>();
  // Iterative depth-first search: each event is pushed at most twice (enter, leave), so the loop is bounded.
  for (const root of events) {
    if (knowledge.has(root)) continue;
    const stack: { event: ObservedEvent; leaving: boolean }[] = [{ event: root, leaving: false }];
    while (stack.length > 0) {
      const { event, leaving } = stack.pop()!;
      if (knowledge.has(event)) continue;
      const preds = predecessors.get(event) ?? [];
      if (leaving) {
        const known = new Map<string, number>([[event.source, event.seq + 1]]);
        for (const pred of preds) {
          for (const [source, count] of knowledge.get(pred)!) {
            if ((known.get(source) ?? 0) < count) known.set(source, count);
          }
        }
        knowledge.set(event, known);
        onStack.delete(event);
        continue;
      }
      if (onStack.has(event)) throw new Error(`causal cycle through ${event.source}#${event.seq}`);
      onStack.add(event);
      stack.push({ event, leaving: true });
      for (const pred of preds) {
        if (onStack.has(pred)) throw new Error(`causal cycle through ${pred.source}#${pred.seq}`);
        if (!knowledge.has(pred)) stack.push({ event: pred, leaving: false });
      }
    }
  }
  return knowledge;
}

export interface VerdictCounts {
  pairs: number;
  right: number;
  wrong: number;
  cannot_order: number;
}

export interface RuleScore {
  rule: OrderingRule;
  same_source: VerdictCounts;
  cross_source: VerdictCounts;
  /** Pairs neither of which happens before the other, and how many of them this rule still puts in an order. */
  concurrent: { pairs: number; ordered: number };
}

export interface OrderingSummary {
  events: number;
  same_source_pairs: number;
  cross_source_pairs: number;
  /** All pairs related by happens-before, direct or through a chain. */
  causal_pairs: number;
  concurrent_pairs: number;
  causes_missing: number;
  scores: RuleScore[];
}

function emptyCounts(): VerdictCounts {
  return { pairs: 0, right: 0, wrong: 0, cannot_order: 0 };
}

function count(counts: VerdictCounts, verdict: Verdict): void {
  counts.pairs++;
  if (verdict === 'right') counts.right++;
  else if (verdict === 'wrong') counts.wrong++;
  else counts.cannot_order++;
}

/** Judges every rule on every direct causal link, and on every concurrent pair (O(n²) pairs; fine for hundreds of events). */
export function summariseOrdering(events: readonly ObservedEvent[], rules: readonly OrderingRule[] = ORDERING_RULES): OrderingSummary {
  const { links, causes_missing } = causalLinks(events);
  const scores: RuleScore[] = rules.map((rule) => ({ rule, same_source: emptyCounts(), cross_source: emptyCounts(), concurrent: { pairs: 0, ordered: 0 } }));
  for (const link of links) {
    for (const score of scores) {
      count(link.kind === 'same-source' ? score.same_source : score.cross_source, judge(score.rule, link.before, link.after));
    }
  }
  const knowledge = causalKnowledge(events);
  const happensBefore = (a: ObservedEvent, b: ObservedEvent) => (knowledge.get(b)!.get(a.source) ?? 0) > a.seq;
  let causal_pairs = 0;
  let concurrent_pairs = 0;
  for (let i = 0; i < events.length; i++) {
    for (let j = i + 1; j < events.length; j++) {
      const a = events[i]!;
      const b = events[j]!;
      if (happensBefore(a, b) || happensBefore(b, a)) {
        causal_pairs++;
        continue;
      }
      concurrent_pairs++;
      for (const score of scores) {
        score.concurrent.pairs++;
        const order = ruleOrder(score.rule, a, b);
        if (order !== null && order !== 0) score.concurrent.ordered++;
      }
    }
  }
  return {
    events: events.length,
    same_source_pairs: links.filter((link) => link.kind === 'same-source').length,
    cross_source_pairs: links.filter((link) => link.kind === 'cross-source').length,
    causal_pairs,
    concurrent_pairs,
    causes_missing,
    scores,
  };
}

/** The table cell for one kind of pair: fraction wrong, 'cannot order' when the rule orders none of them, null when there were none. */
export function wrongCell(counts: VerdictCounts): number | string | null {
  if (counts.pairs === 0) return null;
  if (counts.cannot_order === counts.pairs) return 'cannot order';
  return counts.wrong / counts.pairs;
}
