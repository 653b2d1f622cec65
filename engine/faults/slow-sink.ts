// slow-sink: for the length of its phase, every sink commit waits delay_ms plus seeded uniform
// jitter in [0, jitter_ms), and every stall_every_s seconds the sink stalls for stall_ms (commits
// wait until the stall ends); a seeded error_rate of commits fails with a transient error.
// Backpressure then reaches the broker; the ledger shows the latency and the backlog, and the phase
// after shows the recovery.

import type { SlowSinkFault } from '../../scenarios/schema.ts';
import type { SystemFault, SystemFaultContext } from './index.ts';

export function slowSinkFault(spec: SlowSinkFault): SystemFault {
  let context: SystemFaultContext | undefined;
  let timer: NodeJS.Timeout | undefined;
  const counts = { stalls: 0 };
  return {
    kind: 'slow-sink',
    start(ctx: SystemFaultContext) {
      context = ctx;
      ctx.setSinkSlowdown({ delay_ms: spec.delay_ms, jitter_ms: spec.jitter_ms, error_rate: spec.error_rate ?? 0 }, Math.floor(ctx.random() * 2 ** 32));
      if (spec.stall_every_s > 0 && spec.stall_ms > 0) {
        timer = setInterval(() => {
          counts.stalls++;
          ctx.stallSink(spec.stall_ms);
        }, spec.stall_every_s * 1000);
      }
    },
    async stop() {
      clearInterval(timer);
      context?.setSinkSlowdown(null, 0);
    },
    injected: () => ({ ...counts }),
  };
}
