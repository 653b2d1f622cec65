// Workaround for an Aedes 1.x bug that loses QoS 1 messages of a persistent session across
// reconnects (seen as "acked by the broker, never committed" in consumer-crash runs).
//
// Aedes numbers outgoing PUBLISH packets per *connection*: every new Client starts its counter
// (`client._nextId`, lib/client.js) at an unseeded random value in 0–65535 (Aedes draws it; this
// module draws nothing), and lib/qos-packet.js hands out `_nextId++`. Un-acked packets of a
// clean: false session stay in the persistence with the id a previous connection gave them, and
// are resent with that id on reconnect (handlers/connect.js, emptyQueue). So a new connection can
// give a fresh packet an id that an older, still un-acked packet of the same session already has:
// two outstanding packets with one id, which MQTT forbids ([MQTT-2.3.1-2]). A PUBACK names only
// the id, and the stores resolve it to one packet — the memory persistence's
// outgoingClearMessageId removes the *first* queued packet with that id (the older one),
// aedes-persistence-redis keeps only the latest id → packet mapping. The subscriber's
// ack for one message thus deletes another it has not processed; if the subscriber then dies (or
// Aedes drops the connection when emptyQueue later finds that packet gone: "no such packet"), the
// deleted one is never sent again. Lost, though it was never acknowledged.
//
// The fix here: all connections of one persistent client id share one counter, so a reconnecting
// session continues numbering where its previous connection (or the one it takes over) stopped and
// the ids of its stored packets stay unique until the counter wraps after 65,535 more packets.
// It relies on Aedes' private `_nextId`; session-packet-ids.test.ts fails if that stops working.
// Limits: per broker process (a restarted broker with Redis persistence starts afresh), and a
// session with more than 65,535 packets outstanding can still collide.
import type { Aedes } from 'aedes';

interface SharedCounter {
  next: number;
}

/** Make reconnecting clean: false clients continue their predecessor's packet-id sequence. */
export function shareSessionPacketIds(broker: Aedes): void {
  const counters = new Map<string, SharedCounter>();
  const preConnect = broker.preConnect;
  broker.preConnect = (client, packet, callback) => {
    // preConnect runs before Aedes restores the session's subscriptions or resends its queue, so
    // no id has been handed out yet on this connection.
    if (packet.clean === false && packet.clientId) {
      const target = client as unknown as { _nextId: number };
      let counter = counters.get(packet.clientId);
      if (counter === undefined) {
        counter = { next: target._nextId };
        counters.set(packet.clientId, counter);
      }
      const shared = counter;
      Object.defineProperty(target, '_nextId', {
        configurable: true,
        enumerable: true,
        get: () => shared.next,
        set: (value: number) => {
          shared.next = value;
        },
      });
    }
    preConnect.call(broker, client, packet, callback);
  };
}
