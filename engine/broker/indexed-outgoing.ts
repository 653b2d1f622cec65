// The embedded broker's memory persistence, with the outgoing queue of a persistent session indexed.
//
// aedes-persistence (memory) keeps each clean: false client's un-acked QoS 1 deliveries in one array
// and finds a packet by scanning it: outgoingUpdate (before every send) walks from the oldest entry
// to the packet just enqueued at the end, and outgoingClearMessageId (every PUBACK) walks to the
// acked id and splices the array. Each delivery therefore costs the broker time in proportion to
// how many deliveries the subscriber has not acked yet. A consumer that acks after its commit (the
// reference aggregator, about a thousand un-acked in a closed-model capacity run) paid the broker
// about 3 µs more per message than a subscriber that acks on receipt, and a slow consumer with a
// deep queue pays far more: the broker slows down because the consumer is behind.
//
// This subclass keeps the same queue in a Map (insertion order = queue order, O(1) delete) with two
// indexes, by (brokerId, brokerCounter) and by messageId, and answers every call the way the array
// scan would: the same entry is found, updated, replaced or removed, and outgoingStream yields the
// queue in the same order (indexed-outgoing.test.ts runs both side by side on random operations).
// Everything else (subscriptions, retained, wills, incoming) is the parent's.
import { Readable } from 'node:stream';
import type { AedesOptions } from 'aedes';
import MemoryPersistence, { Packet } from 'aedes-persistence/asyncPersistence.js';
import { CallBackPersistence } from 'aedes-persistence/callBackPersistence.js';

/** The fields of a queued packet this queue reads; the packet itself is Aedes'. */
export interface OutgoingPacket {
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
}

/**
 * Entry keys by a value, each list oldest first (entry keys grow with queue position). A list is an
 * array read from `head`: the oldest key almost always goes first, and a list can be as long as the
 * queue (every packet enqueued before Aedes gives it a packet id sits under `undefined`), so taking
 * it off the front must not move the rest: with splice, giving 100,000 queued packets their ids
 * in order took 1.6 s (0.65 s with shift, which moves large arrays too), and 0.2 s like this.
 */
class KeysBy<V> {
  private readonly lists = new Map<V, { keys: number[]; head: number }>();

  first(value: V): number | undefined {
    const list = this.lists.get(value);
    return list?.keys[list.head];
  }

  all(value: V): readonly number[] {
    const list = this.lists.get(value);
    return list ? list.keys.slice(list.head) : [];
  }

  add(value: V, key: number): void {
    const list = this.lists.get(value);
    if (!list) {
      this.lists.set(value, { keys: [key], head: 0 });
      return;
    }
    const { keys } = list;
    let at = keys.length;
    while (at > list.head && keys[at - 1]! > key) at--;
    keys.splice(at, 0, key);
  }

  remove(value: V, key: number): void {
    const list = this.lists.get(value);
    if (!list) return;
    const { keys } = list;
    if (keys[list.head] === key) {
      list.head++;
      // Drop the consumed front once it is half the array: amortised O(1) per removal.
      if (list.head * 2 >= keys.length) {
        keys.splice(0, list.head);
        list.head = 0;
      }
    } else {
      const at = keys.indexOf(key, list.head);
      if (at >= 0) keys.splice(at, 1);
    }
    if (keys.length === list.head) this.lists.delete(value);
  }
}

/** One client's un-acked deliveries, oldest first, found by broker identity or by packet id in O(1). */
export class OutgoingQueue<P extends OutgoingPacket = OutgoingPacket> {
  private readonly entries = new Map<number, P>();
  /** Keyed by brokerId and brokerCounter together: one delivery of one broker. */
  private readonly byDelivery = new KeysBy<string>();
  /** Packet ids repeat only after the 16-bit counter wraps, so these lists are mostly of one. */
  private readonly byMessageId = new KeysBy<number | undefined>();
  private nextKey = 0;

  get size(): number {
    return this.entries.size;
  }

  push(packet: P): void {
    const key = this.nextKey++;
    this.entries.set(key, packet);
    this.index(key, packet);
  }

  /** The oldest entries first, as the parent's array would list them. */
  values(): P[] {
    return [...this.entries.values()];
  }

  /**
   * The parent's outgoingUpdate: the first entry, oldest first, that is this delivery (same
   * brokerId and brokerCounter: it takes the packet's messageId) or that has its messageId and
   * came from another broker (it is replaced by the packet). False when there is none.
   */
  update(packet: P): boolean {
    const own = this.byDelivery.first(deliveryOf(packet));
    // An entry of the same broker with another counter but this messageId is passed over, as the scan passes it.
    const foreign = this.byMessageId.all(packet.messageId).find((key) => this.entries.get(key)!.brokerId !== packet.brokerId);
    if (own !== undefined && (foreign === undefined || own < foreign)) {
      const entry = this.entries.get(own)!;
      this.byMessageId.remove(entry.messageId, own);
      entry.messageId = packet.messageId;
      this.byMessageId.add(entry.messageId, own);
      return true;
    }
    if (foreign !== undefined) {
      this.unindex(foreign, this.entries.get(foreign)!);
      // Map.set on an existing key keeps its place in the queue.
      this.entries.set(foreign, packet);
      this.index(foreign, packet);
      return true;
    }
    return false;
  }

  /** The parent's outgoingClearMessageId: removes and returns the oldest entry with this messageId. */
  clear(messageId: number | undefined): P | undefined {
    const key = this.byMessageId.first(messageId);
    if (key === undefined) return undefined;
    const entry = this.entries.get(key)!;
    this.entries.delete(key);
    this.unindex(key, entry);
    return entry;
  }

  private index(key: number, packet: P): void {
    this.byDelivery.add(deliveryOf(packet), key);
    this.byMessageId.add(packet.messageId, key);
  }

  private unindex(key: number, packet: P): void {
    this.byDelivery.remove(deliveryOf(packet), key);
    this.byMessageId.remove(packet.messageId, key);
  }
}

function deliveryOf(packet: OutgoingPacket): string {
  return `${packet.brokerId}\u0000${packet.brokerCounter}`;
}

interface Sub {
  clientId: string;
}
interface ClientRef {
  id: string;
}

/** aedes-persistence's memory store with OutgoingQueue in place of its per-client arrays. */
export class IndexedMemoryPersistence extends MemoryPersistence {
  private readonly queues = new Map<string, OutgoingQueue>();

  private queue(clientId: string): OutgoingQueue {
    let queue = this.queues.get(clientId);
    if (!queue) this.queues.set(clientId, (queue = new OutgoingQueue()));
    return queue;
  }

  override async outgoingEnqueue(sub: Sub, packet: OutgoingPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  override async outgoingEnqueueCombi(subs: Sub[], packet: OutgoingPacket): Promise<void> {
    for (const sub of subs) this.queue(sub.clientId).push(new Packet(packet));
  }

  override async outgoingUpdate(client: ClientRef, packet: OutgoingPacket): Promise<void> {
    if (!this.queue(client.id).update(packet)) throw new Error('no such packet');
  }

  override async outgoingClearMessageId(client: ClientRef, packet: OutgoingPacket): Promise<OutgoingPacket | undefined> {
    return this.queue(client.id).clear(packet.messageId);
  }

  override outgoingStream(client: ClientRef): Readable {
    // A copy, as the parent's: the queue may change while the stream is read.
    return Readable.from(this.queues.get(client.id)?.values() ?? []);
  }

  override async destroy(): Promise<void> {
    await super.destroy();
    this.queues.clear();
  }
}

/** The persistence option for Aedes.createBroker: the callback facade Aedes expects over the store above. */
export function indexedMemoryPersistence(): AedesOptions['persistence'] {
  return new CallBackPersistence(() => new IndexedMemoryPersistence()) as unknown as AedesOptions['persistence'];
}
