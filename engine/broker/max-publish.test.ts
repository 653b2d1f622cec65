// The embedded broker's max_publish_bytes (issue 21): Aedes holds each packet whole (a 250 MiB
// message raised its peak RSS by about 500 MB), so a broker started with a limit disconnects a
// client at the fixed header of a longer PUBLISH. Real broker process, raw publisher, mqtt.js subscriber.

import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { EmbeddedBroker } from './embedded.ts';
import { RawPublisher } from '../../test-support/oversized-message.ts';
import { peakRssMb } from '../../test-support/process-memory.ts';
import { until } from '../../test-support/until.ts';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const TOPIC = 'events/limit';
const MESSAGE_BYTES = 64 * 1024 * 1024;

it('a PUBLISH over max_publish_bytes closes its client before the broker buffers it; the broker and its other clients carry on', async () => {
  const broker = await EmbeddedBroker.start({ persistence: 'memory', max_publish_bytes: 1024 * 1024 });
  stops.push(() => broker.stop());
  const subscriber = await mqtt.connectAsync(broker.url, { clientId: 'limit-sub', clean: true, reconnectPeriod: 0 });
  stops.push(() => subscriber.endAsync());
  const received: string[] = [];
  subscriber.on('message', (topic, payload) => received.push(`${topic} ${payload.length}`));
  await subscriber.subscribeAsync(`${TOPIC}/#`, { qos: 1 });

  const first = new RawPublisher();
  stops.push(async () => first.close());
  await first.connect(broker.url, 4);
  await first.publish({ event_id: 'a', source: 'limit', seq: 0, topic: `${TOPIC}/small` }, Buffer.alloc(900 * 1024, 'a'));
  const baseline = peakRssMb(broker.pid!)!;
  await first.publishBig(MESSAGE_BYTES);
  await until(() => first.closed, 30_000, 'the broker to close the connection of the oversized PUBLISH');
  const peak = peakRssMb(broker.pid!)!;

  const second = new RawPublisher();
  stops.push(async () => second.close());
  await second.connect(broker.url, 4);
  await second.publish({ event_id: 'b', source: 'limit', seq: 1, topic: `${TOPIC}/after` }, Buffer.from('after'));
  await until(() => received.length >= 2, 10_000, 'the messages under the limit');

  expect(received).toEqual([`${TOPIC}/small ${900 * 1024}`, `${TOPIC}/after 5`]);
  // Without the limit the broker took the whole message and grew by about twice its size.
  expect(peak - baseline).toBeLessThan(MESSAGE_BYTES / 2 ** 20 / 4);
  expect(first.log.counters.acked).toBe(1);
});
