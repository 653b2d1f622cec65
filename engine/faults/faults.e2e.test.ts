// Every fault end to end: one small real run each (embedded Aedes broker as a child process, the
// reference aggregator as a child process, SQLite sink), proving that the fault injects what it
// claims. What the fault says it injected (result.faults, its own injected() counts) is compared
// with what is counted independently: from the sink file (sink.db, opened read-only here), from
// the ledger, or from the processes themselves.

import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runScenario } from '../run.ts';
import type { RunResult } from '../result.ts';
import type { FaultSpec, Phase, Scenario } from '../../scenarios/schema.ts';
import { validateScenario } from '../../scenarios/validate.ts';
import { reorder } from '../../scenarios/shipped/reorder.ts';
import { poisonPill } from '../../scenarios/shipped/poison-pill.ts';
import { clockSkew } from '../../scenarios/shipped/clock-skew.ts';
import { consumerCrash } from '../../scenarios/shipped/consumer-crash.ts';
import { brokerKill } from '../../scenarios/shipped/broker-kill.ts';
import { slowSink } from '../../scenarios/shipped/slow-sink.ts';
import { smoke } from '../../scenarios/shipped/smoke.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { notYetDurable, withMutations } from '../../test-support/mutations.ts';
import type { Mutation } from '../../aggregator/config.ts';
import type { AggregatorCounters } from '../../aggregator/pipeline.ts';

const TIMEOUT_MS = 90_000;

const outDir = tempDirs('faults-e2e');

/** A shipped scenario, cut down: phases replaced, a short drain, validated like the CLI does. */
function small(shipped: Scenario, phases: Phase[], change: (s: Scenario) => void = () => {}): Scenario {
  const scenario: Scenario = structuredClone(shipped);
  scenario.phases = structuredClone(phases);
  scenario.drain_timeout_s = 20;
  change(scenario);
  const validated = validateScenario(scenario);
  expect(validated.ok, validated.ok ? '' : validated.errors.join('; ')).toBe(true);
  return scenario;
}

const warmup = (rate = 200): Phase => ({ name: 'warmup', duration_s: 0.5, rate, faults: [] });
const phase = (name: string, duration_s: number, rate: number, faults: FaultSpec[] = []): Phase => ({ name, duration_s, rate, faults });

async function run(scenario: Scenario, extra: Partial<Parameters<typeof runScenario>[0]> = {}): Promise<{ result: RunResult; dir: string }> {
  const dir = outDir();
  const result = await runScenario({ scenario, overrides: {}, broker: 'embedded', out_dir: dir, ...extra });
  return { result, dir };
}

/** Read the run's sink file read-only, independently of the harness's own reader. */
function withSink<T>(dir: string, read: (db: Database.Database) => T): T {
  const db = new Database(join(dir, 'sink.db'), { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

interface EventRow {
  event_id: string;
  source: string;
  seq: number;
  ts: string;
  intended_us: number;
  committed_us: number;
  deliveries: number;
}

function sinkEvents(dir: string): EventRow[] {
  return withSink(dir, (db) =>
    db
      .prepare<[], EventRow>(
        'SELECT e.event_id, e.source, e.seq, e.ts, e.intended_us, COALESCE(c.committed_us, e.batch_started_us) AS committed_us, e.deliveries FROM events e LEFT JOIN commits c ON c.batch_started_us = e.batch_started_us ORDER BY e.rowid',
      )
      .all(),
  );
}

function sinkDeadLetters(dir: string): { raw: string; topic: string; reason: string; event_id: string | null }[] {
  return withSink(dir, (db) => db.prepare<[], { raw: string; topic: string; reason: string; event_id: string | null }>('SELECT raw, topic, reason, event_id FROM dlq ORDER BY id').all());
}

/** Distinct (source, seq) pairs in the sink: events committed at least once. */
function distinctCommitted(rows: readonly EventRow[]): number {
  return new Set(rows.map((r) => `${r.source}#${r.seq}`)).size;
}

/** ISO 8601 UTC text with up to 6 fractional digits → µs since the epoch (exact, no float rounding). */
function isoToMicros(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/.exec(text);
  if (!match) throw new Error(`not an ISO 8601 UTC timestamp: ${text}`);
  const seconds = Date.parse(`${match[1]}Z`);
  return seconds * 1000 + Number((match[2] ?? '').padEnd(6, '0'));
}

/** The injected counts of the one fault record of `kind`. */
function injectedOf(result: RunResult, kind: string): Record<string, number> {
  const records = result.faults.filter((f) => f.kind === kind);
  expect(records, `one fault record of kind ${kind}`).toHaveLength(1);
  return records[0]!.injected;
}

function expectNoLossNoDuplicates(result: RunResult, rows: readonly EventRow[]): void {
  const t = result.totals;
  expect(t.lost).toBe(0);
  expect(t.lost_unacked).toBe(0);
  expect(t.sink_duplicates).toBe(0);
  expect(t.unexpected).toBe(0);
  expect(t.unique_committed).toBe(t.published);
  // Independently: every published event has exactly one row in the sink.
  expect(rows.length).toBe(t.published);
  expect(distinctCommitted(rows)).toBe(t.published);
}

describe('publish faults end to end (counted from the sink, not from the fault)', () => {
  it(
    'reorder (fraction 0.1, window 5): sink reordered == fault reordered (≈ held), ≤ window ordinary overtakers each, nothing lost or doubled',
    async () => {
      const window = 5;
      const scenario = small(reorder, [warmup(), phase('reorder', 3, 300, [{ kind: 'reorder', fraction: 0.1, window }])]);
      const { result, dir } = await run(scenario);
      const rows = sinkEvents(dir);
      expectNoLossNoDuplicates(result, rows);
      expect(result.totals.published).toBe(100 + 900);

      // Our own pass over the sink in commit order (rowid): an event is reordered when a later seq
      // of its source was committed before it; its displacement is how far behind it came.
      const highest = new Map<string, number>();
      const late: { source: string; seq: number; top: number }[] = [];
      for (const row of rows) {
        const top = highest.get(row.source);
        if (top !== undefined && row.seq < top) late.push({ source: row.source, seq: row.seq, top });
        else highest.set(row.source, row.seq);
      }
      const reordered = late.length;
      const maxDisplacement = Math.max(0, ...late.map((l) => l.top - l.seq));
      expect(reordered).toBe(result.totals.reordered);
      expect(maxDisplacement).toBe(result.totals.max_reorder_displacement);

      const injected = injectedOf(result, 'reorder');
      expect(reordered).toBeGreaterThan(0);
      // held is about fraction × the phase's events (900 × 0.1 = 90), not an artefact.
      expect(injected.held).toBeGreaterThan(60);
      expect(injected.held).toBeLessThan(120);
      expect(injected.max_hold).toBeLessThanOrEqual(window);
      // Every held event is released: after at least one later event of its source (reordered) or,
      // held after its publisher's last ordinary send of the phase, by stop() in seq order (in_order).
      expect(injected.reordered! + injected.in_order!).toBe(injected.held);
      // reordered vs held. Only a held event can arrive after a later one, and one released after a
      // later send always does (one connection keeps its order through the broker, and the
      // aggregator commits in arrival order): the sink's count equals the fault's `reordered`
      // exactly, with no tolerance. The gap to `held` is `in_order` alone: events held after their
      // publisher's last ordinary send, at most a few per publisher (p ≈ fraction per publisher
      // for one, fraction² for two); tolerance: one per publisher.
      expect(reordered).toBe(injected.reordered);
      expect(injected.held! - reordered).toBeLessThanOrEqual(scenario.load.publishers);

      // Displacement. A held event is released right after `hold` (1..window) later *ordinary*
      // events of its source were sent; other held events released meanwhile can also overtake it.
      // So, per late event, the overtakers that were not themselves held number 1..window. Every
      // held event between it and its overtaker is a late event of the sink too, so this is checked
      // exactly from the sink: displacement − late events in (seq, top] ∈ [1, window].
      const lateSeqs = new Map<string, Set<number>>();
      for (const l of late) lateSeqs.set(l.source, (lateSeqs.get(l.source) ?? new Set()).add(l.seq));
      for (const l of late) {
        let heldBetween = 0;
        for (let seq = l.seq + 1; seq <= l.top; seq++) if (lateSeqs.get(l.source)!.has(seq)) heldBetween++;
        const ordinaryOvertakers = l.top - l.seq - heldBetween;
        expect(ordinaryOvertakers, `${l.source}#${l.seq} overtaken by ${l.top}`).toBeGreaterThanOrEqual(1);
        expect(ordinaryOvertakers, `${l.source}#${l.seq} overtaken by ${l.top}`).toBeLessThanOrEqual(window);
      }
      // Hence the overall bound: at most window ordinary overtakers plus the held ones interleaved.
      // Beyond 2 × window would take ≥ 6 held among the ~11 events after a held one (p ≈ 3e-4 each
      // at fraction 0.1); with the seed fixed the run is deterministic (observed: 7).
      expect(maxDisplacement).toBeGreaterThanOrEqual(1);
      expect(maxDisplacement).toBeLessThanOrEqual(2 * window);
      console.log(`[reorder] injected ${JSON.stringify(injected)}; sink: reordered ${reordered}, max displacement ${maxDisplacement}`);
    },
    TIMEOUT_MS,
  );

  it(
    'poison (fraction 0.05, all three shapes): every poison message is a dlq row with the reason of its shape; healthy events all committed',
    async () => {
      const scenario = small(poisonPill, [warmup(), phase('poison', 3, 300, [{ kind: 'poison', fraction: 0.05, shapes: ['not-json', 'oversized', 'schema'] }])]);
      const { result, dir } = await run(scenario);
      const rows = sinkEvents(dir);
      expectNoLossNoDuplicates(result, rows);
      expect(result.totals.dead_lettered).toBe(0);

      const injected = injectedOf(result, 'poison');
      const letters = sinkDeadLetters(dir);
      expect(letters.length).toBe(injected.poison);
      expect(letters.length).toBe(result.totals.dlq);
      expect(injected.poison).toBeGreaterThan(20); // ~45 expected: 900 × 0.05
      // Every poison message came in on the poison subtopic, none from an event source.
      for (const letter of letters) expect(letter.topic).toMatch(/\/poison-w\d+-p\d+f\d+$/);

      // Classify each dead letter by its reason, as the aggregator's parser words it.
      const kind = (reason: string): string => {
        if (/not valid JSON/.test(reason)) return 'not-json';
        if (/larger than the limit/.test(reason)) return 'oversized';
        if (/^invalid event: /.test(reason)) return 'schema';
        return `other: ${reason}`;
      };
      const byKind: Record<string, number> = {};
      for (const letter of letters) byKind[kind(letter.reason)] = (byKind[kind(letter.reason)] ?? 0) + 1;
      expect(byKind).toEqual({ 'not-json': injected['not-json'], oversized: injected.oversized, schema: injected.schema });
      for (const shape of ['not-json', 'oversized', 'schema']) expect(injected[shape], shape).toBeGreaterThan(0);
      // The schema poison is refused for its fields (seq, event_id, ts), not for its size or syntax.
      for (const letter of letters.filter((l) => kind(l.reason) === 'schema')) {
        expect(letter.reason).toMatch(/seq must be a number/);
        expect(letter.reason).toMatch(/event_id/);
        expect(letter.reason).toMatch(/ts must be ISO 8601/);
      }
      console.log(`[poison] injected ${JSON.stringify(injected)}, dlq rows by reason ${JSON.stringify(byKind)}`);
    },
    TIMEOUT_MS,
  );

  it(
    'poison in two phases: each fault numbers its messages from 1, yet no two dead letters are the same message, and dlq counts every one',
    async () => {
      const poison = { kind: 'poison' as const, fraction: 0.05, shapes: ['not-json' as const, 'schema' as const] };
      const scenario = small(poisonPill, [warmup(), phase('poison-a', 1.5, 300, [poison]), phase('poison-b', 1.5, 300, [poison])]);
      const { result, dir } = await run(scenario);
      const injected = result.faults.filter((f) => f.kind === 'poison').map((f) => f.injected.poison!);
      expect(injected).toHaveLength(2);
      for (const count of injected) expect(count).toBeGreaterThan(5); // ~22 each: 450 × 0.05
      const letters = sinkDeadLetters(dir);
      expect(letters.length).toBe(injected[0]! + injected[1]!);
      // No redelivery in this run: as many distinct messages as rows, and the ledger's DLQ says so.
      expect(new Set(letters.map((l) => `${l.topic}\n${l.raw}`)).size).toBe(letters.length);
      expect(result.totals.dlq).toBe(letters.length);
      expect(result.totals.dead_lettered).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'clock-skew (publisher 1, −3 s): pub-1 rows carry ts = intended − 3 s to the µs, every other row ts = intended',
    async () => {
      const skewUs = -3_000_000;
      const scenario = small(clockSkew, [warmup(), phase('skewed', 3, 300, [{ kind: 'clock-skew', publisher: 1, skew_ms: skewUs / 1000 }])]);
      const { result, dir } = await run(scenario);
      const rows = sinkEvents(dir);
      expectNoLossNoDuplicates(result, rows);

      let skewed = 0;
      let pub1Unskewed = 0;
      let latestUnskewedPub1 = -Infinity;
      let earliestSkewed = Infinity;
      const bad: string[] = [];
      for (const row of rows) {
        expect(Number.isInteger(row.intended_us), 'intended_us is whole µs').toBe(true);
        const delta = isoToMicros(row.ts) - row.intended_us;
        if (row.source === 'pub-1' && delta === skewUs) {
          skewed++;
          earliestSkewed = Math.min(earliestSkewed, row.intended_us);
        } else if (delta === 0) {
          if (row.source === 'pub-1') {
            pub1Unskewed++;
            latestUnskewedPub1 = Math.max(latestUnskewedPub1, row.intended_us);
          }
        } else bad.push(`${row.source}#${row.seq}: ts ${row.ts} is ${delta} µs off intended ${row.intended_us}`);
      }
      expect(bad).toEqual([]);
      const injected = injectedOf(result, 'clock-skew');
      expect(skewed).toBe(injected.skewed);
      // pub-1 publishes every 4th event: 900 / 4 in the skewed phase, 100 / 4 in the warm-up (no fault there).
      expect(injected.skewed).toBe(900 / 4);
      expect(pub1Unskewed).toBe(100 / 4);
      // The unskewed pub-1 events are exactly the warm-up ones: all intended before the first skewed one.
      expect(latestUnskewedPub1).toBeLessThan(earliestSkewed);
      console.log(`[clock-skew] skewed rows ${skewed} == injected ${injected.skewed}; pub-1 unskewed (warm-up) ${pub1Unskewed}`);
    },
    TIMEOUT_MS,
  );
});

/**
 * consumer-crash's sink delay: every commit waits this long first, so the aggregator always holds a
 * batch received and not yet durable, and the kill lands on one (asserted). Without it a commit took
 * ~2 ms and a planted ack on receipt lost nothing in 1 run of 2.
 */
const CRASH_SINK_DELAY_MS = 200;

interface CrashRun {
  result: RunResult;
  rows: EventRow[];
  pids: number[];
  restarts: number;
  firstAliveAfter: boolean;
  /** Received and not yet durable in the first incarnation's last report before the kill. */
  in_flight_at_kill: number;
}

async function consumerCrashRun(mutation?: Mutation): Promise<CrashRun> {
  const scenario = small(consumerCrash, [warmup(), phase('crashes', 3.5, 300, [{ kind: 'consumer-crash', at_s: 1, every_s: 0, downtime_ms: 500 }])], (s) => {
    s.aggregator.sink_delay_ms = CRASH_SINK_DELAY_MS;
    // The control's lost events never come: a drain waits that long for them (the rest drains in ~1.5 s).
    s.drain_timeout_s = 8;
  });
  // RunResult does not expose the aggregator's pid or restart count (self_reported holds only
  // the pipeline counters), so the `during` hook watches the process itself.
  const pids: number[] = [];
  let restarts = -1;
  let firstAliveAfter = true;
  let lastOfFirst: AggregatorCounters | undefined;
  const during: Parameters<typeof runScenario>[0]['during'] = async ({ aggregator, start_us }) => {
    const first = aggregator.pid!;
    pids.push(first);
    const unsubscribe = aggregator.onCounters((counters) => {
      if (aggregator.pid === first) lastOfFirst = counters;
    });
    const deadline = start_us / 1000 + 20_000;
    // The new pid appears when the replacement is forked; `restarts` is bumped once it is ready.
    while (Date.now() < deadline) {
      const pid = aggregator.pid;
      if (pid !== undefined && pid !== first && aggregator.restarts > 0) {
        pids.push(pid);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    unsubscribe();
    restarts = aggregator.restarts;
    try {
      process.kill(first, 0);
    } catch {
      firstAliveAfter = false;
    }
  };
  const { result, dir } = await run(scenario, { during, ...(mutation ? { mutation } : {}) });
  return { result, rows: sinkEvents(dir), pids, restarts, firstAliveAfter, in_flight_at_kill: lastOfFirst ? notYetDurable(lastOfFirst) : 0 };
}

/** What consumer-crash must show: a new process, and nothing lost or doubled. */
function expectCrashSurvived({ result, rows, pids, restarts, firstAliveAfter }: CrashRun): void {
  // Not asserted: result.drain.complete (the drain counts the sink, not the killed
  // incarnation's self-reported acks, so it completes; the ledger below is what matters).
  expect(pids).toHaveLength(2);
  expect(pids[1]).not.toBe(pids[0]);
  expect(firstAliveAfter, 'the first aggregator process is gone').toBe(false);
  expect(restarts).toBe(1);
  expect(injectedOf(result, 'consumer-crash')).toMatchObject({ crashes: 1, downtime_ms: 500 });
  expectNoLossNoDuplicates(result, rows);
  // Redeliveries after the crash are absorbed: at most one row per event, and every row's
  // deliveries count says how many reached the sink.
  const sinkAbsorbed = rows.reduce((sum, r) => sum + r.deliveries - 1, 0);
  expect(sinkAbsorbed).toBe(result.totals.absorbed_by_sink);
}

interface BrokerKillRun {
  result: RunResult;
  rows: EventRow[];
  /** The broker's pid at the start and after the kill (a new process), as the `during` hook saw them. */
  broker_pids: (number | undefined)[];
}

/**
 * The phase after the kill phase. Its events must reach the sink once the broker is back and the
 * aggregator has subscribed again, which on a loaded machine (a CI run beside other work) took more
 * than the 1 s this phase had: the broker child compiles its modules again on restart. 3 s leaves
 * room for that.
 */
const RECOVER_S = 3;

async function brokerKillRun(mutation?: 'noop-broker-kill'): Promise<BrokerKillRun> {
  const scenario = small(brokerKill, [warmup(), phase('kill', 3, 300, [{ kind: 'broker-kill', at_s: 1, every_s: 0, downtime_ms: 500 }]), phase('recover', RECOVER_S, 300)], (s) => {
    s.broker = { persistence: 'memory' };
    // A slow aggregator (batches of 20, 100 ms each: ~200 events/s against 300 offered) that reads
    // no more than 20 ahead, so the broker holds a queue for it when it dies, and memory
    // persistence loses that queue whatever the order the clients reconnect in. (Without it the
    // loss was only what reached the new broker before the aggregator subscribed again: 0 in some runs.)
    Object.assign(s.aggregator, { batch_size: 20, sink_delay_ms: 100, max_in_flight: 20 });
    // What was lost never comes: a drain waits that long for it (the rest drains in ~2 s).
    s.drain_timeout_s = 8;
  });
  const broker_pids: (number | undefined)[] = [];
  const during: Parameters<typeof runScenario>[0]['during'] = async ({ broker, start_us }) => {
    const first = broker.pid;
    broker_pids.push(first);
    // Bounded: the kill comes 1.5 s in and the broker is down 0.5 s; a restart on a loaded machine
    // may take seconds more. A no-op kill leaves the first pid, so this runs to its deadline.
    const deadline = start_us / 1000 + 12_000;
    while (Date.now() < deadline) {
      if (broker.pid !== undefined && broker.pid !== first) {
        broker_pids.push(broker.pid);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const { result, dir } = await run(scenario, { during, ...(mutation ? { mutation } : {}) });
  return { result, rows: sinkEvents(dir), broker_pids };
}

/** What broker-kill must show: a new broker process, and with memory persistence the loss, counted from the sink, reported by the ledger. */
function expectBrokerKilled({ result, rows, broker_pids }: BrokerKillRun): void {
  const t = result.totals;
  expect(injectedOf(result, 'broker-kill')).toMatchObject({ kills: 1, downtime_ms: 500 });
  expect(broker_pids, 'the broker pid before the kill and a new one after it').toHaveLength(2);
  expect(broker_pids[1]).not.toBe(broker_pids[0]);
  // The killed broker and its restart are two processes: both counted, the aggregator once.
  const roles = Object.fromEntries(result.cost!.processes.map((p) => [p.role, p]));
  expect(roles.broker).toMatchObject({ incarnations: 2 });
  expect(roles.broker!.cpu_s).toBeGreaterThan(0);
  expect(roles.aggregator).toMatchObject({ incarnations: 1 });
  expect(t.published).toBe(100 + 900 + RECOVER_S * 300);
  expect(t.unexpected).toBe(0);
  expect(t.sink_duplicates).toBe(0);
  // Independently: the sink holds exactly unique_committed published events, once each.
  expect(distinctCommitted(rows)).toBe(t.unique_committed);
  expect(rows.length).toBe(t.unique_committed);
  // What happens with memory persistence (observed with a 1-s recover phase: ~470 of 1,300 lost, lost_unacked 0): the
  // broker's queue and the aggregator's subscription die with it. The publishers' QoS 1
  // publishes wait out the downtime and are acked by the new broker before the aggregator has
  // subscribed again, so every event intended from the kill until the aggregator's
  // resubscription (~1.5 s here) is acked but never delivered: `lost`, contiguous per source.
  // The loss must be there, and be what the sink is missing (counted from the sink file, not
  // from the ledger's own sum, which adds up by construction).
  const missing = t.published - distinctCommitted(rows);
  expect(missing, 'published events not in the sink').toBeGreaterThan(0);
  expect(t.lost, 'lost reported by the ledger').toBeGreaterThan(0);
  expect(t.lost + t.lost_unacked + t.never_sent).toBe(missing);
  // Events before the kill were all committed; the pipeline works again after it.
  const warm = result.phases.find((p) => p.name === 'warmup')!;
  expect(warm.lost).toBe(0);
  expect(warm.unique_committed).toBe(warm.published);
  const recover = result.phases.find((p) => p.name === 'recover')!;
  expect(recover.unique_committed).toBeGreaterThan(0);
}

describe('system faults end to end', () => {
  it(
    'consumer-crash (at 1 s, 500 ms down): a new aggregator process replaces the SIGKILLed one, killed holding uncommitted messages; nothing lost or doubled',
    async () => {
      const crash = await consumerCrashRun();
      expect(crash.in_flight_at_kill, 'messages received but not yet durable at the kill').toBeGreaterThan(0);
      expectCrashSurvived(crash);
      const { result, rows, pids } = crash;
      const sinkAbsorbed = rows.reduce((sum, r) => sum + r.deliveries - 1, 0);
      console.log(
        `[consumer-crash] pids ${pids.join(' -> ')}, in flight at the kill ${crash.in_flight_at_kill}, self-reported seen again ${result.aggregator.self_reported.redelivered}, self-reported absorbed ${result.aggregator.self_reported.duplicates_absorbed}, copies absorbed ${result.totals.copies_absorbed}, absorbed_by_sink ${sinkAbsorbed}, broker_redeliveries ${result.aggregator.self_reported.broker_redeliveries}, published ${result.totals.published}, self-reported acked ${result.aggregator.self_reported.acked}, drain ${JSON.stringify(result.drain)}`,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'control: consumer-crash with the aggregator acking on receipt (mutation ack-on-receipt) fails the same checks: the kill loses what it held',
    async () => {
      const crash = await withMutations(() => consumerCrashRun('ack-on-receipt'));
      expect(crash.in_flight_at_kill, 'messages received but not yet durable at the kill').toBeGreaterThan(0);
      expect(() => expectCrashSurvived(crash)).toThrow();
      expect(crash.result.totals.lost).toBeGreaterThan(0);
      console.log(`[consumer-crash control] in flight at the kill ${crash.in_flight_at_kill}, lost ${crash.result.totals.lost}`);
    },
    TIMEOUT_MS,
  );

  it(
    'broker-kill (memory persistence, at 1 s, 500 ms down): a new broker process, and the loss it causes reported, equal to what the sink misses',
    async () => {
      const kill = await brokerKillRun();
      expectBrokerKilled(kill);
      const t = kill.result.totals;
      const recover = kill.result.phases.find((p) => p.name === 'recover')!;
      console.log(
        `[broker-kill] broker pids ${kill.broker_pids.join(' -> ')}, published ${t.published}, committed ${t.unique_committed}, lost ${t.lost}, lost_unacked ${t.lost_unacked}, dead_lettered ${t.dead_lettered}, recover phase committed ${recover.unique_committed}/${recover.published}, drain ${JSON.stringify(kill.result.drain)}, publish errors ${t.publish_errors}, puback timeouts ${t.puback_timeouts}`,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'control: broker-kill made a no-op (mutation noop-broker-kill) fails the same checks: no new broker, no loss',
    async () => {
      const kill = await withMutations(() => brokerKillRun('noop-broker-kill'));
      expect(() => expectBrokerKilled(kill)).toThrow();
      expect(kill.broker_pids).toHaveLength(1);
      expect(kill.result.totals.lost).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'slow-sink (20 ms per commit) in the middle of three phases: p50 rises by ≥ 15 ms and comes back within 10 ms after',
    async () => {
      const scenario = small(slowSink, [
        phase('before', 2, 100),
        phase('slow', 2, 100, [{ kind: 'slow-sink', delay_ms: 20, jitter_ms: 0, stall_every_s: 0, stall_ms: 0 }]),
        phase('after', 2, 100),
      ]);
      const { result, dir } = await run(scenario);
      const rows = sinkEvents(dir);
      expectNoLossNoDuplicates(result, rows);
      expect(injectedOf(result, 'slow-sink')).toMatchObject({ stalls: 0 });

      // Observed: p50 ≈ 6 ms before and after, ≈ 32 ms in the slow phase (the 20 ms commit plus
      // waiting out the commit in progress). Before the group commit of 988643c the slow phase
      // measured ≈ 200 ms: each 5 ms batch of 1-3 events queued behind the previous 20 ms commit.
      const [before, slow, after] = result.phases.map((p) => p.latency.p50_ms) as [number, number, number];
      expect(result.phases.map((p) => p.name)).toEqual(['before', 'slow', 'after']);
      expect(slow - before).toBeGreaterThanOrEqual(15);
      expect(Math.abs(after - before)).toBeLessThanOrEqual(10);
      console.log(`[slow-sink] p50 before ${before} ms, slow ${slow} ms, after ${after} ms`);
    },
    TIMEOUT_MS,
  );
});

describe('transient sink errors (slow-sink error_rate)', () => {
  it(
    'a third of commits fail transiently: the aggregator retries them, nothing is lost, doubled or dead-lettered',
    async () => {
      const scenario = small(slowSink, [
        phase('before', 1, 200),
        phase('errors', 3, 200, [{ kind: 'slow-sink', delay_ms: 0, jitter_ms: 0, stall_every_s: 0, stall_ms: 0, error_rate: 0.33 }]),
      ]);
      const { result, dir } = await run(scenario);
      const rows = sinkEvents(dir);
      expectNoLossNoDuplicates(result, rows);
      expect(sinkDeadLetters(dir)).toHaveLength(0);
      // Each failed commit is retried; with ~1/3 failing and tens of batches there must be several.
      expect(result.aggregator.self_reported.retries).toBeGreaterThanOrEqual(3);
      expect(result.phases.find((p) => p.name === 'errors')!.retries).toBeGreaterThan(0);
      console.log(`[sink-errors] retries ${result.aggregator.self_reported.retries}, batches ${result.aggregator.self_reported.batches}`);
    },
    TIMEOUT_MS,
  );
});

describe('seeded replay', () => {
  it(
    'two runs of the same scenario with duplicate + reorder + poison inject exactly the same counts',
    async () => {
      const faults: FaultSpec[] = [
        { kind: 'duplicate', fraction: 0.2, immediate_share: 0.5, delay_ms: 200, other_connection_share: 0.5 },
        { kind: 'reorder', fraction: 0.1, window: 5 },
        { kind: 'poison', fraction: 0.05, shapes: ['not-json', 'oversized', 'schema'] },
      ];
      const scenario = small(smoke, [warmup(), phase('faults', 2, 300, faults)]);
      const a = await run(scenario);
      const b = await run(scenario);
      expect(a.result.faults.map((f) => f.kind)).toEqual(['duplicate', 'reorder', 'poison']);
      for (const record of a.result.faults) expect(Object.values(record.injected).some((n) => n > 0), record.kind).toBe(true);
      expect(b.result.faults).toEqual(a.result.faults);
      // And what reached the sink agrees between the runs too.
      expect(sinkDeadLetters(b.dir).length).toBe(sinkDeadLetters(a.dir).length);
      expect(b.result.totals.copies_published).toBe(a.result.totals.copies_published);
      console.log(`[replay] ${JSON.stringify(a.result.faults.map((f) => [f.kind, f.injected]))}`);
    },
    TIMEOUT_MS,
  );
});

describe('network faults through the proxy', () => {
  it(
    'partition: the aggregator consumes nothing while cut off, loses nothing, and the report measures the recovery',
    async () => {
      const scenario = small(smoke, [
        warmup(),
        phase('before', 3, 200),
        phase('cut', 2, 200, [{ kind: 'partition', target: 'aggregator', direction: 'both', toxicity: 1, close_after_ms: 0 }]),
        phase('heal', 6, 200),
      ]);
      scenario.checks = [{ metric: 'lost', op: '==', value: 0 }];
      const { result, dir } = await run(scenario);
      expect(result.faults).toEqual([{ phase: 'cut', fault: 0, kind: 'partition', injected: { connections_affected: 1, resets: 0, closed: 0 } }]);
      // Independently from the sink: the cut runs from 3.5 s to 5.5 s of the schedule; nothing may
      // be committed in the whole second 4-5 inside it (events of 'before' commit within ms).
      const cut = result.phases.find((p) => p.name === 'cut')!;
      const origin_us = Math.min(...sinkEvents(dir).map((e) => e.intended_us));
      const inSecond4 = sinkEvents(dir).filter((e) => e.committed_us - origin_us >= 4e6 && e.committed_us - origin_us < 5e6);
      expect(inSecond4).toHaveLength(0);
      expect(result.commits_per_second.find((c) => c.t_s === 4)).toBeUndefined();
      expect(cut.latency.max_ms).toBeGreaterThan(1_500);
      expect(result.totals.lost + result.totals.lost_unacked + result.totals.never_sent).toBe(0);
      expect(result.totals.unique_committed).toBe(result.totals.published);
      expect(cut.recovery).not.toBeNull();
      console.log(`[partition] recovery ${JSON.stringify(cut.recovery)}; p99 per second ${JSON.stringify(result.commits_per_second.map((c) => [c.t_s, c.p99_ms]))}`);
      expect(cut.recovery!.recovery_s).not.toBeNull();
      expect(cut.recovery!.backlog_peak).toBeGreaterThan(200);
    },
    TIMEOUT_MS,
  );

  it(
    'latency 100 ms on the publishers’ upstream moves p50 of that phase by about 100 ms, and only that phase',
    async () => {
      const scenario = small(smoke, [
        warmup(),
        phase('clean', 2, 100),
        phase('slow-net', 2, 100, [{ kind: 'latency', target: 'publishers', direction: 'upstream', toxicity: 1, latency_ms: 100, jitter_ms: 0 }]),
        phase('after', 2, 100),
      ]);
      const { result } = await run(scenario);
      const p50 = (name: string) => result.phases.find((p) => p.name === name)!.latency.p50_ms;
      expect(p50('slow-net') - p50('clean')).toBeGreaterThanOrEqual(85);
      expect(p50('slow-net') - p50('clean')).toBeLessThanOrEqual(140);
      expect(Math.abs(p50('after') - p50('clean'))).toBeLessThanOrEqual(15);
      // Every publisher connection (4 sources + the worker's copy connection) went through the toxic.
      expect(result.faults[0]!.injected.connections_affected).toBe(5);
    },
    TIMEOUT_MS,
  );
});
