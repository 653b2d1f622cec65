import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js';
import { IndexedMemoryPersistence, OutgoingQueue } from './indexed-outgoing.ts';

// The indexed queue must answer every outgoing call exactly as aedes-persistence's own array scan
// does: both stores get the same random calls and must agree after each one.

type Op =
  | { kind: 'enqueue'; client: string; brokerId: string; brokerCounter: number }
  | { kind: 'update'; client: string; brokerId: string; brokerCounter: number; messageId: number }
  | { kind: 'clear'; client: string; messageId: number };

const client = fc.constantFrom('sub-a', 'sub-a', 'sub-a', 'sub-b');
const brokerId = fc.constantFrom('broker-1', 'broker-2');
// Small ranges so that the rare cases (a repeated messageId, a repeated delivery) come up often.
const counter = fc.integer({ min: 1, max: 3 });
const messageId = fc.integer({ min: 1, max: 3 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('enqueue' as const), client, brokerId, brokerCounter: counter }),
  fc.record({ kind: fc.constant('update' as const), client, brokerId, brokerCounter: counter, messageId }),
  fc.record({ kind: fc.constant('clear' as const), client, messageId }),
);

type Store = MemoryPersistence;
const view = (packet: unknown) => {
  if (packet === undefined) return undefined;
  const { brokerId, brokerCounter, messageId, topic } = packet as Record<string, unknown>;
  return { brokerId, brokerCounter, messageId, topic };
};

async function apply(store: Store, o: Op, topic: string): Promise<unknown> {
  const ref = { id: o.client };
  // Every store gets its own packet object: a stored packet is mutated in place later.
  if (o.kind === 'enqueue') return store.outgoingEnqueue({ clientId: o.client }, { cmd: 'publish', topic, qos: 1, payload: Buffer.alloc(0), brokerId: o.brokerId, brokerCounter: o.brokerCounter });
  if (o.kind === 'update') {
    return store.outgoingUpdate(ref, { cmd: 'publish', topic, qos: 1, brokerId: o.brokerId, brokerCounter: o.brokerCounter, messageId: o.messageId }).then(
      () => 'updated',
      (error: Error) => `threw ${error.message}`,
    );
  }
  return view(await store.outgoingClearMessageId(ref, { messageId: o.messageId }));
}

async function queueOf(store: Store, id: string): Promise<unknown[]> {
  const all: unknown[] = [];
  for await (const packet of store.outgoingStream({ id })) all.push(view(packet));
  return all;
}

describe('IndexedMemoryPersistence', () => {
  it('answers random outgoing calls exactly as the array scan of aedes-persistence', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 60, size: 'max' }), async (ops) => {
        const scan = new MemoryPersistence();
        const indexed = new IndexedMemoryPersistence();
        for (const [n, o] of ops.entries()) {
          const topic = `t/${n}`;
          expect(await apply(indexed, o, topic)).toEqual(await apply(scan, o, topic));
          for (const id of ['sub-a', 'sub-b']) expect(await queueOf(indexed, id)).toEqual(await queueOf(scan, id));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('finds the packet being sent and the packet being acked without walking the queue', () => {
    // The regression this exists for: with 20,000 un-acked deliveries the array scan's cost grows
    // with the queue. Counted in entries visited, not in time.
    const queue = new OutgoingQueue();
    for (let n = 1; n <= 20_000; n++) queue.push({ brokerId: 'b', brokerCounter: n });
    let visited = 0;
    const entries = (queue as unknown as { entries: Map<number, unknown> }).entries;
    const get = entries.get.bind(entries);
    entries.get = (key: number) => (visited++, get(key));
    expect(queue.update({ brokerId: 'b', brokerCounter: 20_000, messageId: 7 })).toBe(true);
    expect(queue.clear(7)).toMatchObject({ brokerCounter: 20_000, messageId: 7 });
    expect(queue.size).toBe(19_999);
    expect(visited).toBeLessThan(5);
  });

  it('resends a deep queue in order without moving the rest of an index list for each packet', () => {
    // A reconnecting session's 20,000 queued packets get their packet ids one by one, oldest first,
    // and are acked in that order. Counted in array elements moved by splice and shift (a front
    // removal that moves the rest makes this quadratic: about 4 × 10⁸ here), not in time.
    const queue = new OutgoingQueue();
    const n = 20_000;
    for (let i = 1; i <= n; i++) queue.push({ brokerId: 'b', brokerCounter: i });
    let moved = 0;
    const { splice, shift } = Array.prototype;
    Array.prototype.splice = function (this: unknown[], start: number, ...rest: unknown[]) {
      moved += Math.max(0, this.length - start);
      return splice.call(this, start, ...(rest as [number, ...unknown[]]));
    } as typeof splice;
    Array.prototype.shift = function (this: unknown[]) {
      moved += this.length;
      return shift.call(this);
    } as typeof shift;
    try {
      for (let i = 1; i <= n; i++) expect(queue.update({ brokerId: 'b', brokerCounter: i, messageId: i })).toBe(true);
      for (let i = 1; i <= n; i++) expect(queue.clear(i)?.brokerCounter).toBe(i);
    } finally {
      Array.prototype.splice = splice;
      Array.prototype.shift = shift;
    }
    expect(queue.size).toBe(0);
    expect(moved).toBeLessThan(10 * n);
  });
});
