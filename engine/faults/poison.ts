// poison: malformed messages published beside the healthy stream — not JSON, larger than the
// aggregator accepts, or JSON that breaks the event schema. Each must land in the DLQ with its
// reason while the healthy stream keeps flowing. They are not events of the ledger (no source of
// the run publishes them), so their fate shows only in the DLQ, beside the count this fault reports
// as injected.

import { ulid } from 'ulid';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../aggregator/event/types.ts';

/** A fixed time for poison ids and timestamps, so the same n gives the same bytes. */
const POISON_EPOCH_MS = Date.UTC(2026, 0, 1);
import type { PoisonFault, PoisonShape } from '../../scenarios/schema.ts';
import type { PublishFault, PublishFaultContext } from './index.ts';

/** The bytes of one poison message of a shape; `n` makes each one distinct. Pure. */
export function poisonPayload(shape: PoisonShape, n: number): Buffer {
  switch (shape) {
    case 'not-json':
      return Buffer.from(`{"v":1,"event_id":"poison-${n}","payload": <<truncated`);
    case 'oversized': {
      // A well-formed event in every field, only over the aggregator's default size limit, so
      // size is the one reason it can be refused for.
      const event = {
        v: 1,
        event_id: ulid(POISON_EPOCH_MS + n, () => 0.5),
        source: 'poison',
        seq: n,
        topic: 'poison',
        ts: new Date(POISON_EPOCH_MS + n).toISOString(),
        payload: { data: 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES + 1024) },
      };
      return Buffer.from(JSON.stringify(event));
    }
    case 'schema':
      // Parses, but seq is a string and event_id is not a ULID.
      return Buffer.from(JSON.stringify({ v: 1, event_id: `poison-${n}`, source: 'poison', seq: 'seven', topic: 'x', ts: 'yesterday', payload: {} }));
  }
}

export function poisonFault(spec: PoisonFault): PublishFault {
  let unsubscribe: () => void = () => {};
  const counts: Record<string, number> = { poison: 0 };
  for (const shape of spec.shapes) counts[shape] = 0;
  return {
    kind: 'poison',
    start(context: PublishFaultContext) {
      const random = context.random;
      unsubscribe = context.onPublished(() => {
        if (random() >= spec.fraction) return;
        const shape = spec.shapes[Math.floor(random() * spec.shapes.length)]!;
        counts.poison!++;
        counts[shape]!++;
        context.publishRaw('poison', poisonPayload(shape, counts.poison!));
      });
    },
    async stop() {
      unsubscribe();
    },
    injected: () => ({ ...counts }),
  };
}
