// SqliteDedupStore beyond the shared contract: joining the sink's transaction, purging expired
// rows, durability across reopen, and real concurrent processes claiming on one file.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteSink } from '../sink/sqlite.ts';
import type { ClaimProcessInput } from './sqlite-claim-process.ts';
import { SqliteDedupStore } from './sqlite.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const TTL_MS = 1_000;

let dir: string;
let nowMs: number;
const now = () => nowMs;
const toClose: Array<{ close(): Promise<void> }> = [];

const newDir = tempDirs('sqlite-dedup');

beforeEach(() => {
  dir = newDir();
  nowMs = 1_767_225_600_000;
});

afterEach(async () => {
  // Stores before sinks: a store sharing a sink's handle must not outlive it in use.
  for (const closable of toClose.splice(0)) await closable.close();
});

function track<T extends { close(): Promise<void> }>(closable: T): T {
  toClose.push(closable);
  return closable;
}

/** Runs sqlite-claim-process.ts under tsx; see its header for the ready/start protocol. */
function startClaimProcess(input: ClaimProcessInput): {
  ready: Promise<void>;
  start(): void;
  result: Promise<string[]>;
} {
  const script = fileURLToPath(new URL('./sqlite-claim-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(input)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (stdout.startsWith('ready\n')) markReady();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const result = new Promise<string[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`claim process exited with ${code}: ${stderr}`));
        return;
      }
      resolve(JSON.parse(stdout.slice('ready\n'.length)) as string[]);
    });
  });
  // A process that dies before "ready" must fail the test, not hang it.
  const readyOrFailed = Promise.race([ready, result.then(() => undefined)]);
  return { ready: readyOrFailed, start: () => child.stdin.end('go\n'), result };
}

function rowCount(store: SqliteDedupStore): number {
  return store.db.prepare<[], { rows: number }>('SELECT count(*) AS rows FROM dedup').get()?.rows ?? 0;
}

describe('SqliteDedupStore', () => {
  it("offers a transactional claimer only for a SqliteSink on the very same handle", async () => {
    const sink = new SqliteSink({ path: join(dir, 'sink.db'), mode: 'idempotent' });
    const otherSink = new SqliteSink({ path: join(dir, 'other.db'), mode: 'idempotent' });
    const shared = track(new SqliteDedupStore({ db: sink.db, now }));
    // Same file, different connection: its transactions are not the sink's.
    const sameFile = track(new SqliteDedupStore({ path: join(dir, 'sink.db'), now }));
    track(sink);
    track(otherSink);

    const claimer = shared.claimerFor(sink);
    expect(claimer).toBeTypeOf('function');
    expect(claimer?.(['a', 'a'], TTL_MS)).toEqual(['new', 'duplicate']);
    expect(await shared.claimMany(['a'], TTL_MS)).toEqual(['duplicate']);
    expect(shared.claimerFor(otherSink)).toBeUndefined();
    expect(sameFile.claimerFor(sink)).toBeUndefined();
  });

  it('leaves a shared handle open on close, and closes a handle it opened', async () => {
    const sink = track(new SqliteSink({ path: ':memory:', mode: 'idempotent' }));
    const shared = new SqliteDedupStore({ db: sink.db, now });
    await shared.close();
    expect(sink.db.open).toBe(true);

    const own = new SqliteDedupStore({ path: join(dir, 'own.db'), now });
    await own.close();
    expect(own.db.open).toBe(false);
  });

  it('keeps claims across a reopen of the file (durable)', async () => {
    const path = join(dir, 'dedup.db');
    const first = new SqliteDedupStore({ path, now });
    await first.claimMany(['a', 'b'], TTL_MS);
    await first.close();
    const second = track(new SqliteDedupStore({ path, now }));
    expect(await second.claimMany(['a', 'b', 'c'], TTL_MS)).toEqual(['duplicate', 'duplicate', 'new']);
  });

  it('purges expired rows on demand, never live ones', async () => {
    const store = track(new SqliteDedupStore({ path: join(dir, 'dedup.db'), now }));
    await store.claimMany(['a', 'b', 'c'], TTL_MS);
    await store.claimMany(['long'], 100 * TTL_MS);
    nowMs += TTL_MS;
    expect(rowCount(store)).toBe(4);
    expect(store.purgeExpired(2)).toBe(2);
    expect(store.purgeExpired()).toBe(1);
    expect(rowCount(store)).toBe(1);
    expect(await store.claimMany(['long'], TTL_MS)).toEqual(['duplicate']);
  });

  it('purges expired rows by itself once every N claims', async () => {
    const store = track(new SqliteDedupStore({ path: join(dir, 'dedup.db'), now, purgeEveryClaims: 10 }));
    await store.claimMany(Array.from({ length: 9 }, (_, index) => `x${index}`), TTL_MS);
    nowMs += TTL_MS;
    expect(rowCount(store)).toBe(9);
    // The 10th claim reaches the threshold: the 9 expired rows go, the live one stays.
    await store.claimMany(['y'], TTL_MS);
    expect(rowCount(store)).toBe(1);
    expect(await store.size()).toBe(1);
  });

  it('footprint counts every row held, expired ones until they are purged', async () => {
    const store = track(new SqliteDedupStore({ path: join(dir, 'dedup.db'), now, purgeEveryClaims: 10 }));
    await store.claimMany(['a', 'b', 'c'], TTL_MS);
    expect(store.footprint()).toEqual({ entries: 3, bytes_estimate: null });
    nowMs += TTL_MS;
    expect(await store.size()).toBe(0);
    expect(store.footprint().entries).toBe(3);
    store.purgeExpired();
    expect(store.footprint().entries).toBe(0);
  });

  it('gives exactly one new per id when three processes claim the same ids at once', async () => {
    const path = join(dir, 'dedup.db');
    // Create the schema once up front, so the racing processes do not also race on CREATE TABLE.
    await new SqliteDedupStore({ path }).close();
    const ids = Array.from({ length: 3_000 }, (_, index) => `01J${String(index).padStart(23, '0')}`);
    // Forwards, backwards, and forwards from the middle: every pair meets somewhere.
    const half = ids.length / 2;
    const orders = [ids, [...ids].reverse(), [...ids.slice(half), ...ids.slice(0, half)]];
    const children = orders.map((order) => startClaimProcess({ path, ids: order, batchSize: 5, ttlMs: 600_000 }));
    await Promise.all(children.map((child) => child.ready));
    for (const child of children) child.start();
    const results = await Promise.all(children.map((child) => child.result));

    const counts = new Map<string, number>();
    for (const id of results.flat()) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(counts.size).toBe(ids.length);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    // Not a vacuous pass: the processes really raced, so more than one of them won ids.
    expect(results.filter((won) => won.length > 0).length).toBeGreaterThanOrEqual(2);
  });
});
