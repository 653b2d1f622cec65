// `npm run capacity`: how many events per second the aggregator commits when flooded (closed
// model: publishers keep a full window of un-acked publishes), per dedup store, against a bare
// subscriber that acks on receipt on the same broker. Variants are interleaved (A B C A B C …) so
// that they share the machine's noise; the table shows the median of the replicates and the ratio
// to the bare subscriber. This is a capacity probe, not a latency measurement (closed model hides
// queueing delay by design; use `npm run bench` for latency).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { median, min, max } from 'simple-statistics';
import { ulid } from 'ulid';
import { startBroker } from '../harness/broker/index.ts';
import { AggregatorProcess } from '../harness/aggregator-process.ts';
import { PublisherConnection, type Outgoing } from '../harness/load/publishers.ts';
import { SourceRecord } from '../harness/load/log.ts';
import { DEFAULT_AGGREGATOR_CONFIG } from '../aggregator/service.ts';
import { serializeEvent } from '../aggregator/event/parse.ts';
import { nowMicros, sleep } from '../aggregator/clock.ts';
import { seededRandom } from '../aggregator/random.ts';

const args = await yargs(hideBin(process.argv))
  .scriptName('npm run capacity --')
  .usage('Flood the aggregator and measure committed events/s per variant, against a bare subscriber.')
  .options({
    variants: { type: 'string', default: 'bare,memory,sqlite,none', describe: 'bare and/or dedup stores to compare, comma-separated' },
    events: { type: 'number', default: 20_000, describe: 'events per replicate' },
    replicates: { type: 'number', default: 3, describe: 'runs per variant, interleaved' },
    publishers: { type: 'number', default: 4, describe: 'publisher connections' },
    window: { type: 'number', default: 500, describe: 'un-acked publishes per publisher' },
    'batch-size': { type: 'number', default: DEFAULT_AGGREGATOR_CONFIG.batch_size },
    broker: { type: 'string', default: 'embedded', describe: 'embedded or mqtt://host:port' },
  })
  .strict()
  .help()
  .version(false)
  .fail((message) => {
    process.stderr.write(`error: ${message}\n`);
    process.exit(2);
  })
  .parseAsync();

const variants = args.variants.split(',').map((v) => v.trim());
const random = seededRandom(1);

function events(count: number, topicRoot: string): Outgoing[] {
  // Nothing reads these records back: capacity counts the aggregator's acks, not a ledger.
  const records = Array.from({ length: args.publishers }, (_, p) => new SourceRecord(`pub-${p}`));
  return Array.from({ length: count }, (_, index) => {
    const source = `pub-${index % args.publishers}`;
    const topic = `${topicRoot}/${source}`;
    const payload = serializeEvent({
      v: 1,
      event_id: ulid(Date.now(), random),
      source,
      seq: Math.floor(index / args.publishers),
      topic,
      ts: new Date().toISOString(),
      payload: { data: 'x'.repeat(256) },
    });
    return { record: records[index % args.publishers]!, seq: Math.floor(index / args.publishers), topic, payload: Buffer.from(payload), copy: false };
  });
}

async function once(variant: string, replicate: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-capacity-'));
  const broker = await startBroker(args.broker, { persistence: 'memory' });
  const tag = `cap-${process.pid}-${variant}-${replicate}`;
  const aggregator = new AggregatorProcess({
    ...DEFAULT_AGGREGATOR_CONFIG,
    broker_url: broker.url,
    client_id: tag,
    topic: `events/${tag}/#`,
    dedup: variant === 'bare' ? 'none' : variant,
    sink: `sqlite:${join(dir, 'sink.db')}`,
    batch_size: args['batch-size'],
    bare: variant === 'bare',
  });
  try {
    await aggregator.start();
    const batch = events(args.events, `events/${tag}`);
    const noop = { sent() {}, acked() {}, failed() {} };
    const publishers = await Promise.all(
      Array.from({ length: args.publishers }, (_, i) => PublisherConnection.connect(broker.url, `${tag}-pub-${i}`, { window: args.window, puback_timeout_ms: 60_000 }, noop)),
    );
    const start = nowMicros();
    batch.forEach((item, i) => publishers[i % publishers.length]!.publish(item));
    const deadline = Date.now() + 120_000;
    while ((aggregator.counters?.acked ?? 0) < args.events) {
      if (Date.now() > deadline) throw new Error(`${variant}: only ${aggregator.counters?.acked ?? 0}/${args.events} acked after 120 s`);
      await sleep(5);
    }
    const seconds = (nowMicros() - start) / 1e6;
    await Promise.all(publishers.map((p) => p.close()));
    return args.events / seconds;
  } finally {
    await aggregator.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rates = new Map<string, number[]>(variants.map((v) => [v, []]));
for (let r = 0; r < args.replicates; r++) {
  for (const variant of variants) {
    const rate = await once(variant, r);
    rates.get(variant)!.push(rate);
    process.stderr.write(`replicate ${r + 1}/${args.replicates} ${variant.padEnd(8)} ${rate.toFixed(0)} ev/s\n`);
  }
}

const baseline = rates.has('bare') ? median(rates.get('bare')!) : median(rates.get(variants[0]!)!);
const baselineName = rates.has('bare') ? 'bare' : variants[0]!;
process.stdout.write(
  `\n${args.events} events per replicate, ${args.replicates} replicates interleaved, ${args.publishers} publishers × window ${args.window}, batch size ${args['batch-size']}, broker ${args.broker}\n\n`,
);
process.stdout.write(`| variant | median ev/s | min | max | ratio to ${baselineName} |\n| --- | --- | --- | --- | --- |\n`);
for (const [variant, values] of rates) {
  process.stdout.write(
    `| ${variant} | ${median(values).toFixed(0)} | ${min(values).toFixed(0)} | ${max(values).toFixed(0)} | ${(median(values) / baseline).toFixed(2)} |\n`,
  );
}
