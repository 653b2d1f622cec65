// A run's result assembled from a hand-made load outcome and sink, without a broker or an
// aggregator (imported by *.test.ts files only): the unit tests of the validity and overload rules
// vary the load and the sink, and everything else is a clean run's.

import { emptyCounters } from '../aggregator/pipeline.ts';
import type { SinkRow } from '../aggregator/sink/index.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { buildLedger } from '../engine/ledger/index.ts';
import type { LoadOutcome } from '../engine/load/generator.ts';
import { assembleResult, type Assembly } from '../engine/result-assembly.ts';

/** `excluded`: indexes of the phases left out of the figures (the warm-up's). */
export function assembleFromLoad(runId: string, scenario: Scenario, load: LoadOutcome, sink: SinkRow[], excluded: Set<number>, extra: Partial<Assembly> = {}) {
  const ledger = buildLedger({ log: load.log, phases: load.phases, sink, dead_letters: [], excluded_phases: excluded });
  return assembleResult({
    runId,
    started: new Date(),
    options: { scenario, overrides: {} },
    aggregatorKind: 'reference',
    brokerKind: 'embedded',
    brokerSoftware: 'aedes (embedded)',
    brokerUrl: 'embedded',
    load,
    ledger,
    timeline: [],
    backlogSource: 'broker',
    drain: { drain_s: 0, complete: true, stopped: 'done', outstanding: 0 },
    counters: emptyCounters(),
    claimOrder: 'claim-first',
    excluded,
    rssPeakMb: 0,
    ...extra,
  });
}
