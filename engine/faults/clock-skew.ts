// clock-skew: one publisher's clock is off by skew_ms. Its events carry a shifted `ts` (event
// time); their seq and the harness's intended send time stay true, so the ledger still measures
// real latency while anything that orders by `ts` is misled.

import { isoMicros } from '../../aggregator/clock.ts';
import type { ClockSkewFault } from '../../scenarios/schema.ts';
import type { PublishFault, PublishFaultContext } from './index.ts';

export function clockSkewFault(spec: ClockSkewFault): PublishFault {
  let unsubscribe: () => void = () => {};
  const counts = { skewed: 0 };
  return {
    kind: 'clock-skew',
    start(context: PublishFaultContext) {
      unsubscribe = context.reshape((event, publisher) => {
        if (publisher !== spec.publisher || event.bench === undefined) return event;
        counts.skewed++;
        // Whole microseconds: a fractional skew (1.2345 ms) must still give a valid ISO timestamp.
        return { ...event, ts: isoMicros(Math.round(event.bench.intended_us + spec.skew_ms * 1000)) };
      });
    },
    async stop() {
      unsubscribe();
    },
    injected: () => ({ ...counts }),
  };
}
