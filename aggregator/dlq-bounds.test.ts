// Issue 21: the dead-letter queue is bounded. A poison message is kept as its first
// DLQ_RAW_PREFIX_BYTES bytes with its size and SHA-256 (a 250 MB message used to be stored whole),
// and past the DLQ's byte budget (dlq_max_bytes) the pipeline stalls — no ack, no dead letter,
// retries and dlq_over_budget counted — instead of filling the disk. Against a real SQLite sink.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pipeline, type PipelineMessage, type PipelineOptions } from './pipeline.ts';
import { SqliteSink } from './sink/sqlite.ts';
import { MemoryDedupStore } from './dedup/memory.ts';
import { DLQ_RAW_PREFIX_BYTES } from './sink/index.ts';
import { seededRandom } from './random.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './event/types.ts';
import { checkAggregatorConfig, DEFAULT_AGGREGATOR_CONFIG } from './config.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

const options: PipelineOptions = {
  batch_size: 1,
  batch_wait_ms: 1,
  dedup_ttl_ms: 60_000,
  retry: { base_ms: 1, cap_ms: 5, max_attempts: 4 },
  parse: { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES },
  random: seededRandom(7),
};
const newDir = tempDirs('dlq-bounds');
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function sink(): SqliteSink {
  const opened = new SqliteSink({ path: join(newDir(), 'sink.db'), mode: 'idempotent' });
  closers.push(() => opened.close());
  return opened;
}

function message(payload: Buffer): PipelineMessage & { acked: boolean } {
  const m = { topic: 'events/test/pub-0', payload, dup: false, acked: false, ack: () => void (m.acked = true) };
  return m;
}

describe('dead letters are bounded', () => {
  it('a 5 MB poison message is stored as its first 4 KiB, its size and its SHA-256, and acked', async () => {
    const target = sink();
    const pipeline = new Pipeline(new MemoryDedupStore(), target, options);
    const payload = Buffer.alloc(5 * 1024 * 1024, 'x');
    const poison = message(payload);
    pipeline.push(poison);
    await pipeline.drain();
    expect(poison.acked).toBe(true);
    const [letter, ...rest] = target.readDeadLetters();
    expect(rest).toEqual([]);
    expect(letter!.raw).toBe('x'.repeat(DLQ_RAW_PREFIX_BYTES));
    expect(letter!.reason).toContain(`[raw: the first ${DLQ_RAW_PREFIX_BYTES} of ${payload.length} bytes kept, sha256 ${createHash('sha256').update(payload).digest('hex')}]`);
    expect(letter!.reason).toMatch(/^invalid event: /);
    expect(pipeline.counters.dlq).toBe(1);
  });

  it('a message the consumer streamed (oversized: only its first bytes, size and SHA-256 came) is dead-lettered as too large from them, and acked', async () => {
    const target = sink();
    const pipeline = new Pipeline(new MemoryDedupStore(), target, options);
    const prefix = Buffer.from(`{"v":1,"event_id":"01JE0000000000000000000000","source":"big","seq":0,"payload":"${'y'.repeat(DLQ_RAW_PREFIX_BYTES)}`).subarray(0, DLQ_RAW_PREFIX_BYTES);
    const sha256 = 'ab'.repeat(32);
    const streamed = { ...message(prefix), oversized: { bytes: 262_144_163, sha256 } };
    streamed.ack = () => void (streamed.acked = true);
    pipeline.push(streamed);
    await pipeline.drain();
    expect(streamed.acked).toBe(true);
    const [letter] = target.readDeadLetters();
    expect(letter!.raw).toBe(prefix.toString('utf8'));
    expect(letter!.event_id).toBe('01JE0000000000000000000000');
    expect(letter!.reason).toBe(
      `invalid event: message is 262144163 bytes, larger than the limit of ${DEFAULT_MAX_PAYLOAD_BYTES + 4096} bytes (payload limit ${DEFAULT_MAX_PAYLOAD_BYTES} + 4096 for the envelope); not parsed` +
        ` [raw: the first ${DLQ_RAW_PREFIX_BYTES} of 262144163 bytes kept, sha256 ${sha256}]`,
    );
  });

  it('a short poison message is kept whole, its reason unchanged', async () => {
    const target = sink();
    const pipeline = new Pipeline(new MemoryDedupStore(), target, options);
    pipeline.push(message(Buffer.from('not json')));
    await pipeline.drain();
    const [letter] = target.readDeadLetters();
    expect(letter!.raw).toBe('not json');
    expect(letter!.reason).not.toContain('[raw:');
  });

  it('past dlq_max_bytes the pipeline stalls: the message is neither acked nor dead-lettered, and the counters say why', async () => {
    const target = sink();
    const pipeline = new Pipeline(new MemoryDedupStore(), target, { ...options, dlq_max_bytes: 6_000 });
    const first = message(Buffer.alloc(3_000, 'a'));
    pipeline.push(first);
    await pipeline.drain();
    expect(first.acked).toBe(true);
    const second = message(Buffer.alloc(3_000, 'b'));
    pipeline.push(second);
    const deadline = Date.now() + 10_000;
    while (pipeline.counters.dlq_over_budget < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(pipeline.counters.dlq_over_budget).toBeGreaterThanOrEqual(5);
    expect(pipeline.counters.retries).toBeGreaterThanOrEqual(pipeline.counters.dlq_over_budget);
    expect(second.acked).toBe(false);
    expect(target.readDeadLetters()).toHaveLength(1);
    expect(pipeline.counters.dlq).toBe(1);
    // Shutting down gives up on it: still un-acked, for the broker to redeliver.
    pipeline.abandonRetries();
    await pipeline.drain().catch(() => undefined);
    expect(second.acked).toBe(false);
    expect(target.readDeadLetters()).toHaveLength(1);
  });

  it('dlq_max_bytes is a setting with a default, bounded like every number', () => {
    expect(DEFAULT_AGGREGATOR_CONFIG.dlq_max_bytes).toBe(64 * 1024 * 1024);
    const checked = checkAggregatorConfig({ ...DEFAULT_AGGREGATOR_CONFIG, dlq_max_bytes: Number.POSITIVE_INFINITY });
    expect(checked.ok).toBe(false);
  });
});
