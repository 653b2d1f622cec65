// consumer-crash: SIGKILL the aggregator mid-batch and restart it after a downtime. With
// ack-after-commit and an idempotent sink there must be no loss and no sink duplicate: whatever
// it had received but not acked comes back from the broker (same client id, clean: false).

import type { ConsumerCrashFault } from '../../scenarios/schema.ts';
import type { SystemFault, SystemFaultContext } from './index.ts';
import { killSchedule } from './kill-schedule.ts';

export function consumerCrashFault(spec: ConsumerCrashFault): SystemFault {
  let schedule: { stop(): Promise<void> } | undefined;
  const counts = { crashes: 0, downtime_ms: 0 };
  return {
    kind: 'consumer-crash',
    start(context: SystemFaultContext) {
      schedule = killSchedule(spec, context.phase, async () => {
        counts.crashes++;
        counts.downtime_ms += spec.downtime_ms;
        context.note(`consumer-crash: SIGKILL the aggregator, restart in ${spec.downtime_ms} ms`);
        await context.crashConsumer(spec.downtime_ms);
      });
    },
    async stop() {
      await schedule?.stop();
    },
    injected: () => ({ ...counts }),
  };
}
