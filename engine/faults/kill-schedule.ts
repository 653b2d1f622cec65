// When a kill fault strikes: `at_s` into its phase, then every `every_s` (0 = once) while the
// phase lasts. Each strike runs to the end (kill, downtime, restart) even if the phase ends in
// between: stop() waits for it, so no process is left dead.

import { nowMicros } from '../../aggregator/clock.ts';
import type { SystemFault, SystemFaultContext } from './index.ts';

export function killSchedule(
  spec: { at_s: number; every_s: number },
  phase: { start_us: number; end_us: number },
  strike: () => Promise<void>,
): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let failure: Error | undefined;
  const schedule = (at_us: number) => {
    if (stopped || failure || at_us >= phase.end_us) return;
    timer = setTimeout(() => {
      running = running
        .then(strike)
        .then(() => {
          if (spec.every_s > 0) schedule(at_us + spec.every_s * 1e6);
        })
        // A restart that fails ends the strikes; stop() reports it, so the run fails with the reason.
        .catch((error: unknown) => {
          failure = error instanceof Error ? error : new Error(String(error));
        });
    }, Math.max(0, (at_us - nowMicros()) / 1000));
  };
  schedule(phase.start_us + spec.at_s * 1e6);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (failure) throw new Error(`a kill fault could not restart the process: ${failure.message}`, { cause: failure });
    },
  };
}

/** A fault that kills and restarts one process on the schedule above; `what` names it in counts and notes. */
export function killFault(
  kind: 'consumer-crash' | 'broker-kill',
  spec: { at_s: number; every_s: number; downtime_ms: number },
  what: { count: string; note: string },
  strike: (context: SystemFaultContext, downtimeMs: number) => Promise<void>,
): SystemFault {
  let schedule: { stop(): Promise<void> } | undefined;
  const counts: Record<string, number> = { [what.count]: 0, downtime_ms: 0 };
  return {
    kind,
    start(context: SystemFaultContext) {
      schedule = killSchedule(spec, context.phase, async () => {
        counts[what.count]!++;
        counts.downtime_ms! += spec.downtime_ms;
        context.note(`${kind}: ${what.note}, restart in ${spec.downtime_ms} ms`);
        await strike(context, spec.downtime_ms);
      });
    },
    async stop() {
      await schedule?.stop();
    },
    injected: () => ({ ...counts }),
  };
}
