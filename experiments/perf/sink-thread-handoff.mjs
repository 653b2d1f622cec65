// What handing a batch's rows to another thread costs (aggregator/sink/sqlite-thread.ts sends each
// batch's rows as arrays in column order): postMessage of 100 sink rows to a worker that answers
// with their count, three ways — structured clone of the arrays, one JSON string, one flat array.
// Prints the main thread's µs per postMessage (making the message included), twice each.
//
//   node experiments/perf/sink-thread-handoff.mjs

import { Worker } from 'node:worker_threads';

const worker = new Worker(
  `const { parentPort } = require('node:worker_threads');
   parentPort.on('message', (m) => parentPort.postMessage((typeof m === 'string' ? JSON.parse(m) : m).length));`,
  { eval: true },
);
const row = (i) => [`01JEVENT${String(i).padStart(18, '0')}`, 'pub-0', i, 'events/pub-0', '2026-01-01T00:00:00.000001Z', `{"n":${i},"filler":"${'x'.repeat(100)}"}`, 1767225600000000 + i];
const rows = Array.from({ length: 100 }, (_, i) => row(i));
const N = 2000;

async function measure(name, make) {
  let ns = 0;
  for (let i = 0; i < N; i++) {
    const answered = new Promise((resolve) => worker.once('message', resolve));
    const started = process.hrtime.bigint();
    worker.postMessage(make());
    ns += Number(process.hrtime.bigint() - started);
    await answered;
  }
  console.log(`${name}: ${(ns / N / 1000).toFixed(1)} µs per postMessage of ${rows.length} rows`);
}

for (let round = 0; round < 2; round++) {
  await measure('arrays (structured clone)', () => rows);
  await measure('one JSON string', () => JSON.stringify(rows));
  await measure('one flat array', () => rows.flat());
}
await worker.terminate();
