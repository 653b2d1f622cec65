// broker-kill: SIGKILL the embedded broker and restart it on the same port after a downtime.
// Publishers and the aggregator reconnect by themselves. What survives depends on the broker's
// persistence: with `memory`, queued QoS 1 messages and sessions die with it and the ledger shows
// that loss; with `redis` they survive. Either way the figures say what happened, nothing is hidden.

import type { BrokerKillFault } from '../../scenarios/schema.ts';
import type { SystemFault, SystemFaultContext } from './index.ts';
import { killSchedule } from './kill-schedule.ts';

export function brokerKillFault(spec: BrokerKillFault): SystemFault {
  let schedule: { stop(): Promise<void> } | undefined;
  const counts = { kills: 0, downtime_ms: 0 };
  return {
    kind: 'broker-kill',
    start(context: SystemFaultContext) {
      schedule = killSchedule(spec, context.phase, async () => {
        counts.kills++;
        counts.downtime_ms += spec.downtime_ms;
        context.note(`broker-kill: SIGKILL the broker, restart in ${spec.downtime_ms} ms`);
        await context.killBroker(spec.downtime_ms);
      });
    },
    async stop() {
      await schedule?.stop();
    },
    injected: () => ({ ...counts }),
  };
}
