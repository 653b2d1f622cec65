// A PostgreSQL server of a test's own that requires a password (scram-sha-256), on a port the test
// chose: the machine's PostgreSQL trusts 127.0.0.1 and would ignore a wrong password, so a test
// that a password reaches the server needs this one. The password goes to initdb in a file and
// never on a command line (every process's is public: engine/store-secrets.test.ts reads them).
// PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (runuser).
// Needs the server binaries (initdb, postgres; docs/testing.md). Starts in about 5 s.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { sleep } from '../aggregator/clock.ts';

export interface PrivatePostgres {
  /** postgres://USER@127.0.0.1:PORT/postgres, without the password. */
  url: string;
  user: string;
  stop(): Promise<void>;
}

/** The directory of initdb and postgres: PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries: install postgresql or set PG_BIN');
  return join(root, versions[0]!, 'bin');
}

/** Starts a private server on `port` whose one user (bench) needs `password`; resolves once it accepts that password. */
export async function startPostgres(port: number, password: string): Promise<PrivatePostgres> {
  const bin = binDir();
  // As root, each program runs as the postgres user.
  const asServerUser = (program: string, args: string[]): [string, string[]] =>
    process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-pg-'));
  chmodSync(dir, 0o777); // the server user writes its data directory and socket here
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o644 });
  const user = 'bench';
  const init = spawnSync(...asServerUser('initdb', ['-D', join(dir, 'data'), '-U', user, '--auth=scram-sha-256', `--pwfile=${passwordFile}`]), { encoding: 'utf8' });
  unlinkSync(passwordFile);
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr}`);
  }
  const server: ChildProcess = spawn(
    ...asServerUser('postgres', ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off']),
    { stdio: 'ignore', detached: true },
  );
  const url = `postgres://${user}@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      process.kill(-server.pid!, 'SIGINT'); // the server's process group: runuser and postgres (fast shutdown)
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user, database: 'postgres', password, connectionTimeoutMillis: 1_000 });
    client.on('error', () => {});
    const refusal = await client.connect().then(
      () => undefined,
      (error: Error) => error.message,
    );
    await client.end().catch(() => {});
    if (refusal === undefined) return { url, user, stop };
    if (server.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`the private PostgreSQL on port ${port} did not accept connections within 20 s: ${refusal}`);
    }
    await sleep(100);
  }
}
