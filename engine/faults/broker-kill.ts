// broker-kill: SIGKILL the embedded broker and restart it on the same port after a downtime.
// Publishers and the aggregator reconnect by themselves. What survives depends on the broker's
// persistence: with `memory`, queued QoS 1 messages and sessions die with it and the ledger shows
// that loss; with `redis` they survive. Either way the figures say what happened, nothing is hidden.

import type { BrokerKillFault } from '../../scenarios/schema.ts';
import { killFault } from './kill-schedule.ts';

export const brokerKillFault = (spec: BrokerKillFault) =>
  killFault('broker-kill', spec, { count: 'kills', note: 'SIGKILL the broker' }, (context, downtimeMs) => context.killBroker(downtimeMs));
