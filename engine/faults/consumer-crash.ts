// consumer-crash: SIGKILL the aggregator mid-batch and restart it after a downtime. With
// ack-after-commit and an idempotent sink there must be no loss and no sink duplicate: whatever
// it had received but not acked comes back from the broker (same client id, clean: false).

import type { ConsumerCrashFault } from '../../scenarios/schema.ts';
import { killFault } from './kill-schedule.ts';

export const consumerCrashFault = (spec: ConsumerCrashFault) =>
  killFault('consumer-crash', spec, { count: 'crashes', note: 'SIGKILL the aggregator' }, (context, downtimeMs) => context.crashConsumer(downtimeMs));
