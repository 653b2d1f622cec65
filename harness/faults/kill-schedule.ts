// When a kill fault strikes: `at_s` into its phase, then every `every_s` (0 = once) while the
// phase lasts. Each strike runs to the end (kill, downtime, restart) even if the phase ends in
// between: stop() waits for it, so no process is left dead.

import { nowMicros } from '../../aggregator/clock.ts';

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
