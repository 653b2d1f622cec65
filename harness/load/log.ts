// What the harness published, as its own record (the ledger never trusts the system under test).
// One entry per original event; injected copies are counted on their original's entry.
// Pure data: no sockets, no timers.

export interface PublishedEvent {
  event_id: string;
  source: string;
  seq: number;
  phase: number;
  intended_us: number;
  /** First time a publish of this event left the harness (-1: never). */
  sent_us: number;
  /** PUBACK of the original publish (-1: never acked). */
  acked_us: number;
  copies_sent: number;
  copies_acked: number;
  publish_errors: number;
}

export class PublishLog {
  readonly events: PublishedEvent[] = [];

  add(event: Omit<PublishedEvent, 'sent_us' | 'acked_us' | 'copies_sent' | 'copies_acked' | 'publish_errors'>): number {
    this.events.push({ ...event, sent_us: -1, acked_us: -1, copies_sent: 0, copies_acked: 0, publish_errors: 0 });
    return this.events.length - 1;
  }

  sent(index: number, copy: boolean, atUs: number): void {
    const event = this.events[index]!;
    if (copy) event.copies_sent++;
    else event.sent_us = atUs;
  }

  acked(index: number, copy: boolean, atUs: number): void {
    const event = this.events[index]!;
    if (copy) event.copies_acked++;
    else event.acked_us = atUs;
  }

  failed(index: number): void {
    this.events[index]!.publish_errors++;
  }

  /** Publishes (originals and copies) that the broker acknowledged. */
  ackedPublishes(): number {
    let total = 0;
    for (const event of this.events) total += (event.acked_us >= 0 ? 1 : 0) + event.copies_acked;
    return total;
  }

  /** Publishes still waiting for a PUBACK or for their turn in a window. */
  unsettled(): number {
    let total = 0;
    for (const event of this.events) {
      total += (event.acked_us < 0 && event.publish_errors === 0 ? 1 : 0) + (event.copies_sent - event.copies_acked);
    }
    return total;
  }
}
