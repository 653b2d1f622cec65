// Publisher connections: QoS 1 publishes with our own bounded window of un-acked messages per
// connection (mqtt.js does not cap outgoing in-flight QoS 1). This module only *does*; what was
// sent and acked is written into the PublishLog (harness/load/log.ts), which only *records*.

import mqtt, { type MqttClient } from 'mqtt';
import { nowMicros } from '../../aggregator/clock.ts';

export interface Outgoing {
  /** Index of the original event in the publish log. */
  index: number;
  topic: string;
  payload: Buffer;
  /** True for an injected copy (same event_id as the original). */
  copy: boolean;
}

export interface PublisherEvents {
  sent(item: Outgoing, sentUs: number): void;
  acked(item: Outgoing, ackedUs: number): void;
  failed(item: Outgoing, error: Error): void;
}

/** One MQTT connection with a FIFO queue in front of its window. */
export class PublisherConnection {
  private inFlight = 0;
  private readonly queue: Outgoing[] = [];
  private queueHead = 0;
  /** Times a publish had to wait because the window was full. */
  window_waits = 0;

  private constructor(
    readonly client: MqttClient,
    private readonly window: number,
    private readonly events: PublisherEvents,
  ) {}

  static async connect(url: string, clientId: string, window: number, events: PublisherEvents): Promise<PublisherConnection> {
    const client = await mqtt.connectAsync(url, {
      clientId,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 500,
      connectTimeout: 5_000,
      // mqtt.js would otherwise keep un-acked QoS 1 publishes only in memory and resend on
      // reconnect; that is what we want, and the window bounds how many there can be.
      queueQoSZero: false,
    });
    return new PublisherConnection(client, window, events);
  }

  get pending(): number {
    return this.queue.length - this.queueHead + this.inFlight;
  }

  publish(item: Outgoing): void {
    if (this.inFlight >= this.window) {
      this.window_waits++;
      this.queue.push(item);
      return;
    }
    this.send(item);
  }

  private send(item: Outgoing): void {
    this.inFlight++;
    this.events.sent(item, nowMicros());
    this.client.publish(item.topic, item.payload, { qos: 1 }, (error) => {
      this.inFlight--;
      if (error) this.events.failed(item, error);
      else this.events.acked(item, nowMicros());
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.window && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++]!;
      this.send(next);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(false);
  }
}
