// Issue 21: `npm run clean` when the servers a dead run used cannot be reached: a closed port (refused
// at once) and a server that accepts the connection and never answers (a hung or firewalled one). Each
// attempt is bounded, so clean never hangs; it says in one line per leftover what it could not remove
// and why, keeps the run's record for a later clean, and exits 3 (cli/exit.ts: could not complete),
// with no stack and no ioredis "Unhandled error event". Run as a user runs it (a real process).

import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit.ts';
import { LIVE_RUN_SCHEMA, type LiveRunRecord } from '../../engine/run-registry.ts';
import { tempDir } from '../../test-support/temp-dirs.ts';
import { runChaosbench } from '../../test-support/run-command.ts';
import { pickFreePort } from '../../engine/broker/mosquitto.ts';

const sockets: Socket[] = [];
let silent: Server;
let silentPort = 0;
let closedPort = 0;

beforeAll(async () => {
  // Accepts and says nothing, ever.
  silent = createServer((socket) => void sockets.push(socket.on('error', () => {})));
  silentPort = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as AddressInfo).port)));
  closedPort = await pickFreePort();
});
afterAll(() => {
  for (const socket of sockets) socket.destroy();
  silent.close();
});

it('unreachable Redis and PostgreSQL (a closed port, a server that never answers): one line per leftover, the record kept, exit 3, never a hang', async () => {
  const state = tempDir('clean-unreachable');
  mkdirSync(state, { recursive: true });
  // A harness that is gone: a process that has exited.
  const gone = spawnSync('true').pid!;
  const record: LiveRunRecord = {
    schema: LIVE_RUN_SCHEMA,
    run_id: 'unreachable-run',
    pid: gone,
    start_ticks: 1,
    started_at: new Date().toISOString(),
    out_dir: join(state, 'out'),
    children: [],
    redis: [
      { url: `redis://127.0.0.1:${closedPort}`, key_prefix: 'chaosbench:unreachable-closed:' },
      { url: `redis://127.0.0.1:${silentPort}`, key_prefix: 'chaosbench:unreachable-silent:' },
    ],
    postgres: [
      { url: `postgres://postgres@127.0.0.1:${closedPort}/test`, schema: 'chaosbench_run_unreachable_closed' },
      { url: `postgres://postgres@127.0.0.1:${silentPort}/test`, schema: 'chaosbench_run_unreachable_silent' },
    ],
  };
  const file = join(state, `unreachable-run-${gone}.json`);
  writeFileSync(file, JSON.stringify(record));

  const outcome = await runChaosbench('clean', [], { env: { CHAOSBENCH_STATE_DIR: state }, timeout_ms: 90_000 });
  expect(outcome.code, `clean was stopped after 90 s: it hung\n${outcome.stderr}`).not.toBe(EXIT.terminated);
  expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
  const errors = outcome.stderr.split('\n').filter((line) => line.length > 0);
  // One line per leftover, each naming what stays and the server's failure.
  expect(errors, outcome.stderr).toHaveLength(4);
  expect(errors[0]).toMatch(new RegExp(`^error: unreachable-run: Redis keys under chaosbench:unreachable-closed: on redis://127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
  expect(errors[1]).toMatch(new RegExp(`^error: unreachable-run: Redis keys under chaosbench:unreachable-silent: on redis://127\\.0\\.0\\.1:${silentPort}: .*(timed out|timeout)`, 'i'));
  expect(errors[2]).toMatch(new RegExp(`^error: unreachable-run: schema chaosbench_run_unreachable_closed on postgres://postgres@127\\.0\\.0\\.1:${closedPort}/test: .*ECONNREFUSED`));
  expect(errors[3]).toMatch(new RegExp(`^error: unreachable-run: schema chaosbench_run_unreachable_silent on postgres://postgres@127\\.0\\.0\\.1:${silentPort}/test: .*(timed out|timeout)`, 'i'));
  expect(outcome.stderr).not.toContain('Unhandled error event');
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
  expect(outcome.stdout).toContain('kept for a later `npm run clean`');
  // The record stays, for a later clean when the servers are back.
  expect(existsSync(file)).toBe(true);
}, 120_000);
