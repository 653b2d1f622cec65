// The reference aggregator started the way any consumer is started as a chaosbench target: from a
// command, configured by the contract's environment (docs/bring-your-own-consumer.md), ready when it
// prints its ready line, stopped by SIGTERM (it drains its in-flight batches, acks them and exits).
// It proves the target mechanism end to end: the same program the built-in path forks, reached only
// through the contract, must pass what it passes there. Its sink is the reference schema
// (docs/aggregator.md), so its target file reads the sink as such. Secrets stay in the environment.
// Settings beyond the contract (dedup store, sink mode) come from REFERENCE_DEDUP and REFERENCE_SINK_MODE.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { validateAggregatorConfig } from '../../aggregator/main.ts';
import { AggregatorService, DEFAULT_AGGREGATOR_CONFIG, parseSinkSpec, type AggregatorConfig } from '../../aggregator/service.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`reference consumer: ${name} is not set (the harness sets it: docs/bring-your-own-consumer.md)\n`);
    process.exit(2);
  }
  return value;
};

const config: AggregatorConfig = {
  ...DEFAULT_AGGREGATOR_CONFIG,
  broker_url: env('CHAOSBENCH_BROKER_URL'),
  topic: env('CHAOSBENCH_TOPIC_FILTER'),
  client_id: env('CHAOSBENCH_CLIENT_ID'),
  sink: env('CHAOSBENCH_SINK_URL'),
  ...(process.env.CHAOSBENCH_SINK_SCHEMA ? { sink_schema: process.env.CHAOSBENCH_SINK_SCHEMA } : {}),
  dedup: process.env.REFERENCE_DEDUP ?? DEFAULT_AGGREGATOR_CONFIG.dedup,
  sink_mode: process.env.REFERENCE_SINK_MODE === 'append' ? 'append' : 'idempotent',
};
try {
  validateAggregatorConfig(config);
} catch (error) {
  process.stderr.write(`reference consumer: ${(error as Error).message}\n`);
  process.exit(2);
}
const sink = parseSinkSpec(config.sink);
if (sink.kind === 'sqlite') mkdirSync(dirname(sink.path), { recursive: true });

const service = new AggregatorService(config, (line) => process.stderr.write(`[reference] ${line}\n`));
try {
  await service.start();
} catch (error) {
  process.stderr.write(`reference consumer: ${(error as Error).message}\n`);
  process.exit(3);
}
process.stderr.write(`reference consumer: ready (${service.claim_order})\n`);

const shutdown = async () => {
  await service.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
