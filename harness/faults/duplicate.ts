// duplicate: publish a seeded fraction of events again with the same event_id — right away or
// after a delay, from the original publisher's connection or from another one — the way retrying
// producers and redelivering brokers do.

import type { DuplicateFault } from '../../scenarios/schema.ts';
import type { PublishFault, PublishFaultContext } from './index.ts';

export function duplicateFault(spec: DuplicateFault): PublishFault {
  let unsubscribe: () => void = () => {};
  const timers = new Set<NodeJS.Timeout>();
  const pendingDone = new Set<() => void>();
  const counts = { copies: 0, immediate: 0, delayed: 0, same_connection: 0, other_connection: 0 };

  return {
    kind: 'duplicate',
    start(context: PublishFaultContext) {
      const random = context.random;
      unsubscribe = context.onPublished((item, publisher) => {
        if (random() >= spec.fraction) return;
        const immediate = random() < spec.immediate_share;
        const other = random() < spec.other_connection_share;
        counts.copies++;
        counts[immediate ? 'immediate' : 'delayed']++;
        counts[other ? 'other_connection' : 'same_connection']++;
        const copy = { ...item, copy: true };
        const send = () => context.republish(copy, other ? 'other-connection' : { publisher });
        if (immediate) return send();
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
          if (timers.size === 0) for (const done of pendingDone) done();
        }, spec.delay_ms);
        timers.add(timer);
      });
    },
    async stop() {
      unsubscribe();
      if (timers.size === 0) return;
      await new Promise<void>((resolve) => pendingDone.add(resolve));
    },
    injected: () => ({ ...counts }),
  };
}
