// Table 1's sentences come from its rows alone: the numbers in them are the rows' numbers.

import { describe, expect, it } from 'vitest';
import { httpVsMqttFindings } from './http-vs-mqtt.ts';

const rows = [
  { transport: 'HTTP straight to consumer', run: 'full speed', sent: 5000, throughput: 1200, p50: 8, p99: 40, max: 60, ack_p99: 45, down_ms: null, producer_failures: 0, lost: 0, note: '' },
  { transport: 'MQTT QoS 1 via broker', run: 'full speed', sent: 4000, throughput: 800, p50: 12, p99: 90, max: 120, ack_p99: 20, down_ms: null, producer_failures: 0, lost: 0, note: '' },
  { transport: 'HTTP straight to consumer', run: 'crash', sent: 4000, throughput: 300, p50: 9, p99: 35, max: 78, ack_p99: 50, down_ms: 3000, producer_failures: 1500, lost: 1490, note: '' },
  { transport: 'MQTT QoS 1 via broker', run: 'crash', sent: 4000, throughput: 500, p50: 900, p99: 3100, max: 3200, ack_p99: 15, down_ms: 2900, producer_failures: 0, lost: 0, note: '' },
];

describe('httpVsMqttFindings', () => {
  it('quotes the measured rows', () => {
    const findings = httpVsMqttFindings(rows);
    expect(findings).toHaveLength(4);
    expect(findings[0]).toMatch(/committed 1,200 ev\/s and MQTT through the broker 800 ev\/s: HTTP did 1\.50× the MQTT rate, the cost of the extra hop/);
    expect(findings[0]).toMatch(/p99 40\.0 ms against 90\.0 ms/);
    expect(findings[1]).toMatch(/commit itself \(p99 45\.0 ms\).*PUBACK comes from the broker \(p99 20\.0 ms\)/);
    expect(findings[2]).toMatch(/away for 3,000 ms, 1,500 of 4,000 HTTP requests \(37\.5%\) got no 200.*1,490 never reached the sink/);
    expect(findings[3]).toMatch(/away for 2,900 ms, 0 of 4,000 publishes failed and 0 events were lost.*slowest event took 3200 ms.*against 78\.0 ms/);
  });

  it('does not claim a broker cost when the two rates are close', () => {
    const close = rows.map((r) => (r.transport.startsWith('MQTT') && r.down_ms === null ? { ...r, throughput: 1150 } : r));
    expect(httpVsMqttFindings(close)[0]).toMatch(/within 10% of each other/);
    expect(httpVsMqttFindings(rows.slice(0, 2))).toHaveLength(2);
  });
});
