// Issue 21, end to end: a 160 MiB event between two valid ones, published at QoS 1 through a real
// broker to a real aggregator child process. The aggregator must never hold it whole: its peak
// resident memory (VmHWM from /proc) grows by less than half the message (it grew by about twice the
// message before, mqtt-packet's parser holding it whole, then copies). Its dead letter holds the
// first 4 KiB, the size and the SHA-256 of what was sent, with the reason "too large"; the two valid
// events are in the sink exactly once; the harness's ledger counts the big one as dead-lettered.
// A memory bound, never a time. The probe is test-support/oversized-message.ts.

import { describe, expect, it } from 'vitest';
import { probeOversizedMessage } from '../../test-support/oversized-message.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { buildLedger, deadLetterKey } from '../../engine/ledger/index.ts';
import { DLQ_RAW_PREFIX_BYTES } from '../sink/index.ts';

const PAYLOAD_BYTES = 160 * 1024 * 1024;
const newDir = tempDirs('oversized-e2e');

const CASES = [
  { broker: 'mosquitto', mqtt_version: 4 },
  { broker: 'mosquitto', mqtt_version: 5 },
  { broker: 'embedded', mqtt_version: 4 },
] as const;

for (const { broker, mqtt_version } of CASES) describe(`a 160 MiB message through ${broker} in MQTT ${mqtt_version === 4 ? '3.1.1' : '5'}`, () => {
  it(
    'is dead-lettered as its prefix, size and SHA-256 without the aggregator holding it, and the events around it are committed once',
    async () => {
      const r = await probeOversizedMessage({ broker, mqtt_version, payload_bytes: PAYLOAD_BYTES, dir: newDir(), timeout_ms: 120_000 });
      const messageMb = r.big.bytes / 2 ** 20;

      // The memory bound: well under the message, where it used to be about twice it.
      expect(r.aggregator_peak_mb - r.aggregator_baseline_mb).toBeLessThan(messageMb / 2);

      // The dead letter: its first 4 KiB as sent, the size and the sender's own hash, the reason.
      expect(r.dead_letters).toHaveLength(1);
      const letter = r.dead_letters[0]!;
      const expectedPrefix = Buffer.concat([r.big.prefix, Buffer.alloc(DLQ_RAW_PREFIX_BYTES - r.big.prefix.length, 'x')]).toString('utf8');
      expect(letter.raw).toBe(expectedPrefix);
      expect(letter.topic).toBe(r.big.topic);
      expect(letter.event_id).toBe(r.big.event_id);
      expect(letter.reason).toMatch(new RegExp(`^invalid event: message is ${r.big.bytes} bytes, larger than the limit of \\d+ bytes`));
      expect(letter.reason).toContain(`[raw: the first ${DLQ_RAW_PREFIX_BYTES} of ${r.big.bytes} bytes kept, sha256 ${r.big.sha256}]`);

      // The events before and after it: in the sink once each, delivered once.
      expect(r.sink_rows.map((row) => [row.event_id, row.deliveries])).toEqual(r.small.map((e) => [e.event_id, 1]));

      // The harness's ledger, from its own publish records, the sink and the DLQ.
      const { totals } = buildLedger({ log: r.log, phases: [], sink: r.sink_rows, dead_letters: r.dead_letters.map(deadLetterKey) });
      expect(totals).toMatchObject({ published: 3, acked_by_broker: 3, unique_committed: 2, lost: 1, dead_lettered: 1, dlq: 1, unexpected: 0, sink_duplicates: 0, lost_unacked: 0, never_sent: 0 });
      // Acked after its dead letter was written: the aggregator's own word agrees.
      expect(r.counters).toMatchObject({ received: 3, committed: 2, dlq: 1, acked: 3 });
    },
    180_000,
  );
});
