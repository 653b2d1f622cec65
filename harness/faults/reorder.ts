// reorder: hold back a seeded fraction of events and release each one after 1..window later events
// of the same source have been sent, so the aggregator sees that source's seqs out of order (the
// way a retrying producer or a multi-path network delivers them). Held events are never dropped:
// stop() sends whatever is still held.

import type { ReorderFault } from '../../scenarios/schema.ts';
import type { PublishFault, PublishFaultContext } from './index.ts';

interface Held {
  send: () => void;
  /** Release at the start of this publisher's call number `due` (after due − held_at − 1 later events). */
  due: number;
}

export function reorderFault(spec: ReorderFault): PublishFault {
  let unsubscribe: () => void = () => {};
  const held = new Map<number, Held[]>();
  const calls = new Map<number, number>();
  const counts = { held: 0, released: 0, max_hold: 0 };

  const release = (entry: Held) => {
    counts.released++;
    entry.send();
  };

  return {
    kind: 'reorder',
    start(context: PublishFaultContext) {
      const random = context.random;
      unsubscribe = context.intercept((_item, publisher, send) => {
        const call = (calls.get(publisher) ?? 0) + 1;
        calls.set(publisher, call);
        const list = held.get(publisher) ?? [];
        const waiting = list.filter((entry) => {
          if (entry.due > call) return true;
          release(entry);
          return false;
        });
        let taken = false;
        if (random() < spec.fraction) {
          const hold = 1 + Math.floor(random() * spec.window);
          waiting.push({ send, due: call + hold + 1 });
          counts.held++;
          counts.max_hold = Math.max(counts.max_hold, hold);
          taken = true;
        }
        held.set(publisher, waiting);
        return taken;
      });
    },
    async stop() {
      unsubscribe();
      for (const list of held.values()) for (const entry of list) release(entry);
      held.clear();
    },
    injected: () => ({ ...counts }),
  };
}
