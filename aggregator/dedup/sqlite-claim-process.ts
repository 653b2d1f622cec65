// Child process for sqlite.test.ts: claims ids on its own SqliteDedupStore connection and prints
// the ids it got as 'new'. Several of these racing on one file are aggregator processes sharing a
// dedup database.
// Protocol: argv[2] is a ClaimProcessInput as JSON; the process opens the store, prints "ready",
// waits for one line on stdin (the start signal, so that all processes start together), claims,
// and prints the JSON array of ids it won.

import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteDedupStore } from './sqlite.ts';

export interface ClaimProcessInput {
  path: string;
  ids: string[];
  batchSize: number;
  ttlMs: number;
}

const input = JSON.parse(process.argv[2] ?? '') as ClaimProcessInput;
const store = new SqliteDedupStore({ path: input.path, busyTimeoutMs: 10_000 });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.pause();

const fresh: string[] = [];
for (let offset = 0; offset < input.ids.length; offset += input.batchSize) {
  const batch = input.ids.slice(offset, offset + input.batchSize);
  const results = store.claimManySync(batch, input.ttlMs);
  batch.forEach((id, index) => {
    if (results[index] === 'new') fresh.push(id);
  });
  // Yield a timer tick between transactions: a tight synchronous loop can finish every claim
  // before a busy 2-core machine has even scheduled the other processes, and then nothing races.
  await sleep(2);
}
await store.close();
process.stdout.write(`${JSON.stringify(fresh)}\n`);
