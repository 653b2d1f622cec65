// Publisher connections: QoS 1 publishes with our own bounded window of un-acked messages per
// connection (mqtt.js does not cap outgoing in-flight QoS 1), and a PUBACK timeout that frees the
// slot and counts as an error. This module only *does*; what was sent and acked is written into
// the PublishLog (engine/load/log.ts) through PublisherEvents, which only *records*.

import mqtt, { type MqttClient } from 'mqtt';
import { nowMicros } from '../../aggregator/clock.ts';
import type { BrokerAccess } from '../../aggregator/consumer/access.ts';
import { mqttClientOptions } from '../broker/client-options.ts';
import type { SourceRecord } from './log.ts';

export interface Outgoing {
  record: SourceRecord;
  seq: number;
  topic: string;
  payload: Buffer;
  /** A raw message that is not an event of the ledger (poison); record and seq are placeholders. */
  raw?: boolean;
  /** True for an injected copy (same event_id as the original). */
  copy: boolean;
}

export interface PublisherEvents {
  sent(item: Outgoing): void;
  acked(item: Outgoing, sentUs: number, ackedUs: number): void;
  failed(item: Outgoing, error: Error, timedOut: boolean): void;
}

interface InFlight {
  item: Outgoing;
  sent_us: number;
  settled: boolean;
}

/** How long close() waits for PUBACKs still owed before it forces the connection shut. */
const CLOSE_GRACE_MS = 1_000;

/** One MQTT connection with a FIFO queue in front of its window. */
export class PublisherConnection {
  private readonly inFlight = new Set<InFlight>();
  private readonly queue: Outgoing[] = [];
  /** When each queued publish was due (µs): its intended time for an original, else when it was queued. */
  private readonly queueDue: number[] = [];
  private queueHead = 0;
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;
  /** Times a publish had to wait because the window was full. */
  window_waits = 0;

  private constructor(
    readonly client: MqttClient,
    private readonly window: number,
    private readonly pubackTimeoutMs: number,
    private readonly events: PublisherEvents,
    /** 1, or 0: mqtt.js then calls back once the packet is written, which is all the "ack" QoS 0 has. */
    private readonly qos: 0 | 1 = 1,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1_000, pubackTimeoutMs / 4)));
    this.sweeper.unref();
  }

  static async connect(
    url: string,
    clientId: string,
    options: { window: number; puback_timeout_ms: number; qos?: 0 | 1; access?: BrokerAccess },
    events: PublisherEvents,
  ): Promise<PublisherConnection> {
    const client = await mqtt.connectAsync(url, {
      // Version (3.1.1 by default), TLS material and credentials.
      ...mqttClientOptions(options.access),
      clientId,
      clean: true,
      reconnectPeriod: 500,
      connectTimeout: 5_000,
      // mqtt.js keeps un-acked QoS 1 publishes in memory and resends them on reconnect; that is
      // what we want, and the window bounds how many there can be.
      queueQoSZero: false,
    });
    return new PublisherConnection(client, options.window, options.puback_timeout_ms, events, options.qos ?? 1);
  }

  /** Publishes queued or in flight. */
  get pending(): number {
    return this.queue.length - this.queueHead + this.inFlight.size;
  }

  /** Hand `item` over: sent at once if the window has a slot, else queued in order. `due_us`: when it was meant to go. */
  publish(item: Outgoing, due_us = nowMicros()): void {
    if (this.inFlight.size >= this.window) {
      this.window_waits++;
      this.queue.push(item);
      this.queueDue.push(due_us);
      return;
    }
    this.send(item);
  }

  /**
   * How far behind its due time the oldest publish waiting for a window slot is at `now_us` (µs),
   * 0 when none waits: everything handed over now would go out at least this late.
   */
  queuedLateness(now_us: number): number {
    return this.queueHead < this.queue.length ? Math.max(0, now_us - this.queueDue[this.queueHead]!) : 0;
  }

  private send(item: Outgoing): void {
    const entry: InFlight = { item, sent_us: nowMicros(), settled: false };
    this.inFlight.add(entry);
    this.events.sent(item);
    this.client.publish(item.topic, item.payload, { qos: this.qos }, (error) => {
      if (entry.settled) {
        // Timed out earlier and counted as an error; a late PUBACK still means the broker has it.
        if (!error) this.events.acked(item, entry.sent_us, nowMicros());
        return;
      }
      this.settle(entry);
      if (error) this.events.failed(item, error, false);
      else this.events.acked(item, entry.sent_us, nowMicros());
    });
  }

  private settle(entry: InFlight): void {
    entry.settled = true;
    this.inFlight.delete(entry);
    this.pump();
  }

  /** In-flight publishes without a PUBACK for longer than the timeout free their slot, as errors. */
  private sweep(): void {
    const limit = nowMicros() - this.pubackTimeoutMs * 1000;
    for (const entry of this.inFlight) {
      if (entry.sent_us > limit) break; // insertion order = send order
      this.settle(entry);
      this.events.failed(entry.item, new Error(`no PUBACK within ${this.pubackTimeoutMs} ms`), true);
    }
  }

  private pump(): void {
    if (this.closing) return;
    while (this.inFlight.size < this.window && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++]!;
      this.send(next);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueDue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /**
   * End the connection. Whatever is still queued stays unsent (the log keeps it as queued, so the
   * ledger counts it as never acknowledged); a late PUBACK must not release it into a closing
   * client. PUBACKs still owed get a short grace period to arrive (the broker has those messages);
   * then the end is forced, because mqtt.js would otherwise wait for them for ever.
   */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    const owed = () => Object.keys((this.client as unknown as { outgoing: Record<number, unknown> }).outgoing).length;
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (owed() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.client.endAsync(owed() > 0);
  }
}
