// Starts and stops the system faults (consumer-crash, broker-kill, slow-sink) of each phase on the
// run's schedule, in the main thread. Publish faults run inside the load workers instead. Owns
// timers only; what a fault does goes through the context the run gives it.

import { nowMicros } from '../../aggregator/clock.ts';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import type { FaultRecord } from '../load/messages.ts';
import { Schedule } from '../load/schedule.ts';
import type { SystemFaultContext } from './index.ts';
import { createSystemFault, runsIn } from './registry.ts';

export type SystemControls = Omit<SystemFaultContext, 'random' | 'phase'>;

export interface SystemFaultRun {
  /**
   * Waits until every system fault has been stopped (each stops at its phase's end) and returns their records.
   * now (the run interrupted): faults running are stopped at once and phases not begun are left out.
   */
  finish(now?: boolean): Promise<FaultRecord[]>;
}

export function scheduleSystemFaults(scenario: Scenario, start_us: number, controls: SystemControls): SystemFaultRun {
  const schedule = new Schedule(scenario.phases, start_us, scenario.load.publishers);
  const timers: NodeJS.Timeout[] = [];
  const stopped: Promise<FaultRecord[]>[] = [];
  /** Per phase with system faults: end it now (its faults stopped if they started, none recorded if not). */
  const endNow: (() => void)[] = [];
  const at = (us: number, action: () => void) => timers.push(setTimeout(action, Math.max(0, (us - nowMicros()) / 1000)));

  schedule.phases.forEach((phase, i) => {
    const specs = scenario.phases[i]!.faults.map((spec, j) => ({ spec, j })).filter(({ spec }) => runsIn(spec) === 'system');
    if (specs.length === 0) return;
    let resolveStopped: (records: FaultRecord[]) => void = () => {};
    let rejectStopped: (error: unknown) => void = () => {};
    const phaseStopped = new Promise<FaultRecord[]>((resolve, reject) => {
      resolveStopped = resolve;
      rejectStopped = reject;
    });
    // finish() reports a failure; until it is called, a rejection must not count as unhandled.
    phaseStopped.catch(() => {});
    stopped.push(phaseStopped);
    let stopPhase = () => resolveStopped([]);
    endNow.push(() => stopPhase());
    at(phase.start_us, () => {
      const window = { name: phase.name, start_us: phase.start_us, end_us: phase.end_us };
      const active = specs.map(({ spec, j }) => {
        const fault = createSystemFault(spec);
        fault.start({ ...controls, random: seededRandom(deriveSeed(scenario.seed, `system.phase${i}.fault${j}.${spec.kind}`)), phase: window });
        return { fault, spec, j };
      });
      let ended = false;
      stopPhase = () => {
        if (ended) return;
        ended = true;
        void Promise.all(active.map(({ fault }) => fault.stop())).then(
          () => resolveStopped(active.map(({ fault, spec, j }) => ({ phase: phase.name, fault: j, kind: spec.kind, injected: fault.injected() }))),
          rejectStopped,
        );
      };
      at(phase.end_us, stopPhase);
    });
  });

  return {
    async finish(now = false) {
      if (now) {
        for (const timer of timers) clearTimeout(timer);
        for (const end of endNow) end();
      }
      const records = (await Promise.all(stopped)).flat();
      for (const timer of timers) clearTimeout(timer);
      return records;
    },
  };
}

/** Publish-fault records (from the workers) and system-fault records, in scenario order. Pure. */
export function orderFaultRecords(scenario: Scenario, records: readonly FaultRecord[]): FaultRecord[] {
  const phaseIndex = new Map(scenario.phases.map((p, i) => [p.name, i]));
  return [...records].sort((a, b) => (phaseIndex.get(a.phase) ?? 0) - (phaseIndex.get(b.phase) ?? 0) || a.fault - b.fault);
}
