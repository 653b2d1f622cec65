// Ack after commit, proved with real processes: the aggregator is SIGKILLed while it holds
// messages it has received but not committed; the embedded broker must redeliver them to the
// restarted aggregator (same client id, clean: false), and each event must be in the sink once.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { ulid } from 'ulid';
import { AggregatorProcess } from './aggregator-process.ts';
import { startBroker, type BrokerHandle } from './broker/index.ts';
import { DEFAULT_AGGREGATOR_CONFIG, type AggregatorConfig } from '../aggregator/service.ts';
import { readSinkRows } from '../aggregator/sink/sqlite.ts';
import { serializeEvent } from '../aggregator/event/parse.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';
import { until } from '../test-support/until.ts';

let dir: string;
let broker: BrokerHandle;
const processes: AggregatorProcess[] = [];

const newDir = tempDirs('crash');

beforeEach(async () => {
  dir = newDir();
  broker = await startBroker({ kind: 'embedded' }, { persistence: 'memory' });
});
afterEach(async () => {
  for (const p of processes.splice(0)) await p.kill();
  await broker.stop();
});

function config(overrides: Partial<AggregatorConfig>): AggregatorConfig {
  return {
    ...DEFAULT_AGGREGATOR_CONFIG,
    broker_url: broker.url,
    client_id: 'crash-test-aggregator',
    topic: 'events/crash/#',
    sink: `sqlite:${join(dir, 'sink.db')}`,
    dedup: 'sqlite',
    ...overrides,
  };
}

async function startAggregator(overrides: Partial<AggregatorConfig>): Promise<AggregatorProcess> {
  const aggregator = new AggregatorProcess(config(overrides));
  processes.push(aggregator);
  await aggregator.start();
  return aggregator;
}

async function publish(count: number): Promise<string[]> {
  const client = await mqtt.connectAsync(broker.url, { clientId: `crash-test-pub-${Date.now()}` });
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: count }, (_, seq) => {
      const event_id = ulid();
      ids.push(event_id);
      const payload = serializeEvent({
        v: 1,
        event_id,
        source: 'pub-0',
        seq,
        topic: 'events/crash/pub-0',
        ts: new Date().toISOString(),
        payload: { seq },
      });
      return client.publishAsync('events/crash/pub-0', payload, { qos: 1 });
    }),
  );
  await client.endAsync();
  return ids;
}

describe('ack after commit (real broker, real aggregator process, SIGKILL)', () => {
  it('an event received but not yet committed is redelivered after a kill and committed exactly once', async () => {
    // A 5 s sink delay holds the batch between receive and commit.
    const first = await startAggregator({ sink_delay_ms: 5_000 });
    const [id] = await publish(1);
    await until(() => (first.counters?.received ?? 0) >= 1, 10_000, 'the aggregator to receive the event');
    await first.kill();
    expect(readSinkRows(join(dir, 'sink.db'))).toHaveLength(0);

    const second = await startAggregator({ sink_delay_ms: 0 });
    await until(() => (second.counters?.committed ?? 0) >= 1, 10_000, 'the redelivered event to be committed');
    // Redelivered by the broker (Aedes resends stored QoS 1 messages on reconnect but never sets
    // the DUP flag, so the second incarnation's receive count is the evidence, not broker_redeliveries).
    expect(second.counters?.received).toBe(1);
    await second.stop();
    const rows = readSinkRows(join(dir, 'sink.db'));
    expect(rows.map((r) => r.event_id)).toEqual([id]);
    expect(rows[0]!.deliveries).toBe(1);
  });

  it('a kill in the middle of a stream of batches loses nothing and duplicates nothing', async () => {
    const first = await startAggregator({ sink_delay_ms: 30, batch_size: 20 });
    const ids = await publish(600);
    await until(() => (first.counters?.committed ?? 0) >= 100, 20_000, 'some batches to commit');
    await first.kill();
    const committedBeforeKill = readSinkRows(join(dir, 'sink.db')).length;
    expect(committedBeforeKill).toBeGreaterThan(0);
    expect(committedBeforeKill).toBeLessThan(ids.length);

    const second = await startAggregator({ sink_delay_ms: 0, batch_size: 200 });
    await until(() => readSinkRows(join(dir, 'sink.db')).length >= ids.length, 20_000, 'every event to be committed');
    await second.stop();
    const rows = readSinkRows(join(dir, 'sink.db'));
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
    expect(rows).toHaveLength(ids.length);
  });
});
