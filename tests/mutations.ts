// The mutation table (issue 22): for each safety property, a planted break and the test that must
// fail on it. Two kinds:
// - 'source': a one-line change of the source, applied as the module loads (tests/mutations.config.ts)
//   while the named test runs in a child vitest; tests/mutations.test.ts runs each and expects it to
//   fail. Cheap: the suite runs them. The change reaches the test's own process only, never a child
//   process (a forked aggregator, `npm run gate`).
// - 'control': a test-only switch (aggregator/config.ts `mutation`, engine/run.ts `mutation`,
//   refused without CHAOSBENCH_ALLOW_MUTATIONS=1) that a control run inside the named end-to-end file
//   turns on, asserting that the property's checks fail. They run with their file.
// docs/testing.md#the-mutation-table shows the table with the results before and after.

export interface SourceMutation {
  kind: 'source';
  id: string;
  property: string;
  /** The planted break, in words. */
  planted: string;
  /** Repository path of the module changed, and the change: `find` (must occur exactly once) → `replace`. */
  module: string;
  find: string;
  replace: string;
  /** The test that must fail on it: file and a -t pattern naming it. */
  test: { file: string; name: string };
}

export interface ControlMutation {
  kind: 'control';
  id: string;
  property: string;
  planted: string;
  /** The control run (with the switch on) and the test it mirrors (switch off). */
  test: { file: string; name: string; mirrors: string };
}

export type MutationRow = SourceMutation | ControlMutation;

export const MUTATION_TABLE: readonly MutationRow[] = [
  {
    kind: 'control',
    id: 'ack-on-receipt/scale-out',
    property: 'a SIGKILLed aggregator on a shared subscription loses nothing (ack after commit)',
    planted: "aggregator acks on receipt (mutation 'ack-on-receipt')",
    test: { file: 'engine/scale-out.test.ts', name: 'control: acked on receipt', mirrors: 'a SIGKILL mid-run loses nothing' },
  },
  {
    kind: 'control',
    id: 'claim-outside-transaction/scale-out',
    property: 'the PostgreSQL claim commits with the sink write, or not at all',
    planted: "claim in its own transaction before the sink's (mutation 'claim-outside-transaction')",
    test: { file: 'engine/scale-out.test.ts', name: "control: the PostgreSQL claim outside the sink", mirrors: 'shared PostgreSQL dedup table' },
  },
  {
    kind: 'control',
    id: 'ack-on-receipt/consumer-crash',
    property: 'consumer-crash: nothing lost or doubled across a SIGKILL',
    planted: "aggregator acks on receipt (mutation 'ack-on-receipt')",
    test: { file: 'engine/faults/faults.e2e.test.ts', name: 'control: consumer-crash', mirrors: 'consumer-crash (at 1 s' },
  },
  {
    kind: 'control',
    id: 'noop-broker-kill',
    property: 'broker-kill kills a broker process, and the loss it causes is reported',
    planted: "the fault kills nothing (mutation 'noop-broker-kill')",
    test: { file: 'engine/faults/faults.e2e.test.ts', name: 'control: broker-kill', mirrors: 'broker-kill (memory persistence' },
  },
  {
    kind: 'source',
    id: 'gate-regression-exit-3',
    property: 'the gate fails a regression with exit 1, not "undecidable" (exit 3)',
    planted: 'every regression reported as undecidable, exit 3',
    module: 'commands/gate/verdict.ts',
    find: "return { outcome: 'regression', exit: EXIT.check_failed,",
    replace: "return { outcome: 'undecidable', exit: EXIT.invalid_run,",
    test: { file: 'commands/gate/gate.test.ts', name: 'a 2× p99 is a regression' },
  },
  {
    kind: 'source',
    id: 'live-p99-us-as-ms',
    property: "the live p99 is in milliseconds",
    planted: 'live p99 reported in µs as ms (the SQLite reader)',
    module: 'engine/metrics/live-latency.ts',
    find: 'p99_ms: this.recorder.valueAtPercentile(99) / 1000',
    replace: 'p99_ms: this.recorder.valueAtPercentile(99)',
    test: { file: 'engine/run-sink/run-sink.test.ts', name: 'sqlite\\) live latency' },
  },
  {
    kind: 'source',
    id: 'live-p99-us-as-ms/postgres',
    property: 'the live p99 is in milliseconds',
    planted: 'live p99 reported in µs as ms (the PostgreSQL reader)',
    module: 'engine/metrics/live-latency.ts',
    find: 'p99_ms: (row?.p99_us ?? 0) / 1000',
    replace: 'p99_ms: row?.p99_us ?? 0',
    test: { file: 'engine/run-sink/run-sink.test.ts', name: 'postgres\\) live latency' },
  },
  {
    kind: 'source',
    id: 'set-path-returns-input',
    property: 'setPath never mutates its input and returns a copy',
    planted: 'setPath returns its input',
    module: 'scenarios/override.ts',
    find: 'return copy as T;',
    replace: 'return target;',
    test: { file: 'scenarios/override.test.ts', name: 'never mutates' },
  },
  {
    kind: 'source',
    id: 'ledger-latency-clamp',
    property: 'the ledger records every latency as measured, µs to minutes',
    planted: 'ledger latency clamped at 500 ms',
    module: 'engine/ledger/index.ts',
    find: 'const micros = row.committed_us - intended;',
    replace: 'const micros = Math.min(row.committed_us - intended, 500_000);',
    test: { file: 'engine/ledger/ledger.test.ts', name: 'classifies a random history exactly' },
  },
];
