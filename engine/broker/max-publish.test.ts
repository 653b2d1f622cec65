// The embedded broker's max_publish_bytes (issue 21): Aedes holds each packet whole (a 250 MiB
// message raised its peak RSS by about 500 MB), so a broker started with a limit disconnects a
// client at the fixed header of a longer PUBLISH. Real broker process, raw publisher, mqtt.js
// subscriber; then the same through `bench` with the limit as scenario data (broker.max_publish_bytes),
// the raw publisher reaching the run's broker on the port found in /proc.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { SCENARIOS } from '../../scenarios/index.ts';
import { runChaosbench } from '../../test-support/run-command.ts';
import { CHILD_ROLES, childProcesses } from '../../test-support/process-memory.ts';
import { listeningPorts } from '../../test-support/listening-ports.ts';
import { tempDir } from '../../test-support/temp-dirs.ts';
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

it('through bench: a scenario with broker.max_publish_bytes gets a longer PUBLISH\'s client cut at its header, the broker\'s peak RSS flat, and the run passes', async () => {
  const dir = tempDir('max-publish-bench');
  const file = join(dir, 'limited.json');
  writeFileSync(file, JSON.stringify({ ...SCENARIOS['dup-storm'], name: 'dup-storm-limited', broker: { max_publish_bytes: 1024 * 1024 } }));
  let harness: number | undefined;
  const run = runChaosbench('bench', ['--scenario', file, '--rate', '200', '--duration', '12s', '--out', join(dir, 'run'), '--quiet'], {
    timeout_ms: 120_000,
    onSpawn: (pid) => (harness = pid),
  });
  let finished: { stderr: string } | undefined;
  void run.then((outcome) => (finished = outcome));
  // The run's broker: the harness's child running embedded-process.ts, on the port it listens on.
  let broker: { pid: number; port: number } | undefined;
  await until(
    () => {
      if (finished) throw new Error(`the bench ended before its broker was found:\n${finished.stderr.slice(-2_000)}`);
      const child = harness === undefined ? undefined : childProcesses(harness).find((c) => CHILD_ROLES.broker(c.command));
      const port = child === undefined ? undefined : listeningPorts(child.pid)[0];
      if (child && port !== undefined) broker = { pid: child.pid, port };
      return broker !== undefined;
    },
    60_000,
    "the run's embedded broker to listen",
  );
  const url = `mqtt://127.0.0.1:${broker!.port}`;
  const publisher = new RawPublisher();
  stops.push(async () => publisher.close());
  await publisher.connect(url, 4);
  // A message under the limit is taken (on a topic of its own: not an event of the run's ledger).
  await publisher.publish({ event_id: 'a', source: 'limit', seq: 0, topic: `${TOPIC}/small` }, Buffer.alloc(900 * 1024, 'a'));
  const baseline = peakRssMb(broker!.pid)!;
  await publisher.publishBig(MESSAGE_BYTES);
  await until(() => publisher.closed, 30_000, 'the broker to close the connection of the oversized PUBLISH');
  const peak = peakRssMb(broker!.pid)!;

  // One line for the record (docs/lab/2026-12-03-hardening.md quotes runs of it).
  console.log(`bench with max_publish_bytes 1 MiB, a ${MESSAGE_BYTES / 2 ** 20} MiB PUBLISH: broker VmHWM ${baseline.toFixed(1)} → ${peak.toFixed(1)} MB, publisher cut: ${publisher.closed}`);
  const outcome = await run;
  expect(outcome.code, outcome.stderr.slice(-2_000)).toBe(0);
  expect(publisher.log.counters.acked).toBe(1);
  // Without the limit the broker took the whole message and grew by about twice its size.
  expect(peak - baseline).toBeLessThan(MESSAGE_BYTES / 2 ** 20 / 4);
  const result = JSON.parse(readFileSync(join(dir, 'run', 'result.json'), 'utf8')) as { broker: { url: string } };
  expect(result.broker.url).toBe('embedded aedes (child process, memory persistence, PUBLISH at most 1048576 bytes)');
}, 150_000);
