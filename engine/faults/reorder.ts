// reorder: hold back a seeded fraction of events and release each one right after 1..window later
// events of the same source have been sent, so the aggregator sees that source's seqs out of order
// (the way a retrying producer or a multi-path network delivers them). The fault sends every event
// of a publisher itself while it holds any, so "after" is by send, not by call. Held events are
// never dropped: stop() sends whatever is still held.

import type { ReorderFault } from '../../scenarios/schema.ts';
import type { PublishFault, PublishFaultContext } from './index.ts';

interface Held {
  seq: number;
  send: () => void;
  /** Later events of its publisher to send before this one. */
  hold: number;
  /** Later (higher-seq) events of its publisher sent so far. */
  passed: number;
}

export function reorderFault(spec: ReorderFault): PublishFault {
  let unsubscribe: () => void = () => {};
  const held = new Map<number, Held[]>();
  // held: events taken out of order; reordered: released after at least one later event (so
  // really out of order); in_order: released by stop() before any later event was sent.
  const counts = { held: 0, reordered: 0, in_order: 0, max_hold: 0 };

  const release = (entry: Held) => {
    if (entry.passed > 0) counts.reordered++;
    else counts.in_order++;
    entry.send();
  };

  /**
   * Send `seq` of a publisher now, then, one at a time and lowest seq first, every held event whose
   * turn has come. A release is itself a later event for the lower seqs still held, so it can bring
   * their turn: the loop looks again after each one, and no event waits past its hold.
   */
  const sendAndRelease = (publisher: number, seq: number, send: () => void) => {
    const waiting = held.get(publisher) ?? [];
    const passedBy = (sent: number) => {
      for (const entry of waiting) if (entry.seq < sent) entry.passed++;
    };
    send();
    passedBy(seq);
    for (;;) {
      let next = -1;
      waiting.forEach((entry, i) => {
        if (entry.passed >= entry.hold && (next < 0 || entry.seq < waiting[next]!.seq)) next = i;
      });
      if (next < 0) break;
      const [entry] = waiting.splice(next, 1);
      release(entry!);
      passedBy(entry!.seq);
    }
  };

  return {
    kind: 'reorder',
    start(context: PublishFaultContext) {
      const random = context.random;
      unsubscribe = context.intercept((item, publisher, send) => {
        const waiting = held.get(publisher) ?? [];
        if (random() < spec.fraction) {
          const hold = 1 + Math.floor(random() * spec.window);
          waiting.push({ seq: item.seq, send, hold, passed: 0 });
          held.set(publisher, waiting);
          counts.held++;
          counts.max_hold = Math.max(counts.max_hold, hold);
          return true;
        }
        if (waiting.length === 0) return false;
        sendAndRelease(publisher, item.seq, send);
        return true;
      });
    },
    async stop() {
      unsubscribe();
      for (const list of held.values()) for (const entry of list.sort((a, b) => a.seq - b.seq)) release(entry);
      held.clear();
    },
    injected: () => ({ ...counts }),
  };
}
