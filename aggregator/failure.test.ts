// The classification table against errors the real engines produce: SQLite files (full, read-only,
// constraints), the machine's PostgreSQL (a revoked grant, a NUL byte, data exceptions) and Redis
// (a key of the wrong type through the real dedup store, an ACL user without the permission).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyFailure, isEventFault } from './failure.ts';
import { DEFAULT_DATABASE_URL } from './postgres.ts';
import { DEFAULT_REDIS_URL, RedisDedupStore } from './dedup/redis.ts';
import { TransientError } from './sink/index.ts';
import { RetriesExhaustedError } from './retry.ts';
import { withLimitedRole, withPostgresClient } from './sink/test-postgres.ts';
import { toTransientIfBusy } from './sink/sqlite.ts';
import { sleep } from './clock.ts';
import { pickFreePort } from '../engine/broker/mosquitto.ts';
import { tempDir } from '../test-support/temp-dirs.ts';

const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;

const dir = tempDir('failure');

/** The error `work` throws (the test fails if it throws none). */
async function caught(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function sqliteAt(name: string): Database.Database {
  const db = new Database(join(dir, name));
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT NOT NULL CHECK (v <> \'poison\'), b BLOB)');
  return db;
}

describe('SQLite errors', () => {
  it('a full database (max_page_count) is infrastructure', async () => {
    const db = sqliteAt('full.db');
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const error = await caught(() => db.prepare('INSERT INTO t (v, b) VALUES (?, ?)').run('x', Buffer.alloc(64 * 1024)));
    db.close();
    expect((error as { code: string }).code).toBe('SQLITE_FULL');
    expect(classifyFailure(error)).toMatchObject({ class: 'infrastructure', code: 'sqlite SQLITE_FULL' });
  });

  it('a database opened read-only is infrastructure', async () => {
    sqliteAt('ro.db').close();
    const db = new Database(join(dir, 'ro.db'), { readonly: true });
    const error = await caught(() => db.prepare("INSERT INTO t (v) VALUES ('x')").run());
    db.close();
    expect((error as { code: string }).code).toMatch(/^SQLITE_READONLY/);
    expect(classifyFailure(error).class).toBe('infrastructure');
  });

  it('query_only (a read-only connection) and a missing table are infrastructure', async () => {
    const db = sqliteAt('query-only.db');
    expect(classifyFailure(await caught(() => db.prepare('SELECT * FROM missing').all()))).toMatchObject({ class: 'infrastructure', code: 'sqlite SQLITE_ERROR' });
    db.pragma('query_only = ON');
    expect(classifyFailure(await caught(() => db.prepare("INSERT INTO t (v) VALUES ('x')").run())).class).toBe('infrastructure');
    db.close();
  });

  it('a busy database (another connection holds the write lock) is infrastructure, wrapped or not', async () => {
    const holder = sqliteAt('busy.db');
    const other = new Database(join(dir, 'busy.db'), { timeout: 0 });
    holder.exec('BEGIN IMMEDIATE');
    const error = await caught(() => other.exec('BEGIN IMMEDIATE'));
    holder.exec('ROLLBACK');
    holder.close();
    other.close();
    expect((error as { code: string }).code).toBe('SQLITE_BUSY');
    expect(classifyFailure(error).class).toBe('infrastructure');
    expect(classifyFailure(toTransientIfBusy(error)).class).toBe('infrastructure');
  });

  it("CHECK and NOT NULL constraints, a type mismatch and a value too big are the event's own", async () => {
    const db = sqliteAt('event.db');
    const check = await caught(() => db.prepare("INSERT INTO t (v) VALUES ('poison')").run());
    const notNull = await caught(() => db.prepare('INSERT INTO t (v) VALUES (NULL)').run());
    const mismatch = await caught(() => db.prepare("INSERT INTO t (id, v) VALUES ('not a number', 'x')").run());
    const tooBig = await caught(() => db.prepare('SELECT zeroblob(2000000000)').get());
    db.close();
    expect(classifyFailure(check)).toMatchObject({ class: 'event', code: 'sqlite SQLITE_CONSTRAINT_CHECK' });
    expect(classifyFailure(notNull)).toMatchObject({ class: 'event', code: 'sqlite SQLITE_CONSTRAINT_NOTNULL' });
    expect(classifyFailure(mismatch)).toMatchObject({ class: 'event', code: 'sqlite SQLITE_MISMATCH' });
    expect(classifyFailure(tooBig)).toMatchObject({ class: 'event', code: 'sqlite SQLITE_TOOBIG' });
  });

  it('a file that is not a database (SQLITE_NOTADB), a directory opened as one (SQLITE_CANTOPEN) and the driver refusing a write during a read (no engine code) are infrastructure', async () => {
    writeFileSync(join(dir, 'garbage.db'), Buffer.alloc(8192, 0x41));
    const garbage = new Database(join(dir, 'garbage.db'));
    const notADb = await caught(() => garbage.prepare('SELECT * FROM sqlite_master').all());
    garbage.close();
    mkdirSync(join(dir, 'a-directory.db'));
    const cantOpen = await caught(() => new Database(join(dir, 'a-directory.db')).exec('CREATE TABLE t (v)'));
    const db = sqliteAt('locked.db');
    db.prepare("INSERT INTO t (v) VALUES ('x')").run();
    let locked: unknown;
    for (const _row of db.prepare('SELECT * FROM t').iterate()) {
      locked = await caught(() => db.exec('DROP TABLE t'));
      break;
    }
    db.close();
    expect(classifyFailure(notADb)).toMatchObject({ class: 'infrastructure', code: 'sqlite SQLITE_NOTADB' });
    expect(classifyFailure(cantOpen)).toMatchObject({ class: 'infrastructure', code: 'sqlite SQLITE_CANTOPEN' });
    // better-sqlite3 refuses it itself (a TypeError, "connection is busy"), before SQLite could say SQLITE_LOCKED.
    expect(String(locked)).toMatch(/busy/);
    expect(classifyFailure(locked)).toMatchObject({ class: 'infrastructure', code: 'unknown' });
  });

  it("a value of the wrong type for a STRICT table's column is the event's own (SQLITE_CONSTRAINT_DATATYPE)", async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE s (n INTEGER) STRICT');
    const error = await caught(() => db.prepare('INSERT INTO s VALUES (?)').run('not a number'));
    db.close();
    expect(classifyFailure(error)).toMatchObject({ class: 'event', code: 'sqlite SQLITE_CONSTRAINT_DATATYPE' });
  });

  it('a unique key violation is infrastructure (the sink absorbs repeats by ON CONFLICT: a violation is the schema)', async () => {
    const db = sqliteAt('unique.db');
    db.prepare("INSERT INTO t (k, v) VALUES ('a', 'x')").run();
    const error = await caught(() => db.prepare("INSERT INTO t (k, v) VALUES ('a', 'x')").run());
    db.close();
    expect(classifyFailure(error)).toMatchObject({ class: 'infrastructure', code: 'sqlite SQLITE_CONSTRAINT_UNIQUE' });
  });
});

describe('PostgreSQL errors', () => {
  const schema = `chaosbench_test_failure_${randomBytes(4).toString('hex')}`;
  afterAll(() => withPostgresClient(databaseUrl, (client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)));

  it('INSERT revoked (42501) is infrastructure; once granted again the insert works', async () => {
    await withLimitedRole(databaseUrl, async (url, role) => {
      await withPostgresClient(url, async (client) => {
        await client.query(`CREATE SCHEMA "${schema}_${role.slice(-6)}"`);
        const table = `"${schema}_${role.slice(-6)}".claims`;
        await client.query(`CREATE TABLE ${table} (id text PRIMARY KEY)`);
        await client.query(`REVOKE INSERT ON ${table} FROM "${role}"`);
        const error = await caught(() => client.query(`INSERT INTO ${table} VALUES ('a')`));
        expect(classifyFailure(error)).toMatchObject({ class: 'infrastructure', code: 'postgres 42501' });
        await client.query(`GRANT INSERT ON ${table} TO "${role}"`);
        await client.query(`INSERT INTO ${table} VALUES ('a')`);
      });
    });
  });

  it("data exceptions (a NUL byte 22021, \\u0000 in jsonb 22P05, too long 22001), NOT NULL and CHECK are the event's own", async () => {
    await withPostgresClient(databaseUrl, async (client) => {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(`CREATE TABLE "${schema}".e (k text UNIQUE, v varchar(3) NOT NULL CHECK (v <> 'bad'), j jsonb)`);
      const insert = (values: unknown[]) => client.query(`INSERT INTO "${schema}".e (k, v, j) VALUES ($1, $2, $3)`, values);
      const cases: [unknown[], string][] = [
        [['a', 'x\u0000', null], '22021'],
        [['a', 'x', '{"s":"\\u0000"}'], '22P05'],
        [['a', 'long', null], '22001'],
        [['a', null, null], '23502'],
        [['a', 'bad', null], '23514'],
      ];
      for (const [values, code] of cases) {
        const error = await caught(() => insert(values));
        expect(classifyFailure(error)).toMatchObject({ class: 'event', code: `postgres ${code}` });
      }
      // A program limit: a value larger than the server makes.
      const limit = await caught(() => client.query("SELECT repeat('x', 1100000000)"));
      expect(classifyFailure(limit)).toMatchObject({ class: 'event', code: 'postgres 54000' });
    });
  });

  it('a lock not available (55P03), a cancelled statement (57014) and a terminated connection (57P01) are infrastructure', async () => {
    await withPostgresClient(databaseUrl, async (holder) => {
      await holder.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await holder.query(`CREATE TABLE IF NOT EXISTS "${schema}".l (k text PRIMARY KEY)`);
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE "${schema}".l IN ACCESS EXCLUSIVE MODE`);
      await withPostgresClient(databaseUrl, async (client) => {
        await client.query('BEGIN');
        await client.query("SET LOCAL lock_timeout = '50ms'");
        const lock = await caught(() => client.query(`INSERT INTO "${schema}".l VALUES ('a')`));
        await client.query('ROLLBACK');
        await client.query("SET statement_timeout = '50ms'");
        const cancelled = await caught(() => client.query('SELECT pg_sleep(5)'));
        expect(classifyFailure(lock)).toMatchObject({ class: 'infrastructure', code: 'postgres 55P03' });
        expect(classifyFailure(cancelled)).toMatchObject({ class: 'infrastructure', code: 'postgres 57014' });
      });
      await holder.query('ROLLBACK');
    });
    await withPostgresClient(databaseUrl, async (admin) => {
      const victim = new pg.Client({ connectionString: databaseUrl });
      victim.on('error', () => {});
      await victim.connect();
      const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const ended = caught(() => victim.query('SELECT pg_sleep(5)'));
      await sleep(50);
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await ended;
      await victim.end().catch(() => {});
      expect(classifyFailure(error)).toMatchObject({ class: 'infrastructure', code: 'postgres 57P01' });
    });
  });

  it('a unique violation (23505), a missing table (42P01) and a read-only transaction (25006) are infrastructure', async () => {
    await withPostgresClient(databaseUrl, async (client) => {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".u (k text PRIMARY KEY)`);
      await client.query(`INSERT INTO "${schema}".u VALUES ('a')`);
      const unique = await caught(() => client.query(`INSERT INTO "${schema}".u VALUES ('a')`));
      const missing = await caught(() => client.query(`INSERT INTO "${schema}".missing VALUES ('a')`));
      await client.query('BEGIN READ ONLY');
      const readOnly = await caught(() => client.query(`INSERT INTO "${schema}".u VALUES ('b')`));
      await client.query('ROLLBACK');
      expect(classifyFailure(unique)).toMatchObject({ class: 'infrastructure', code: 'postgres 23505' });
      expect(classifyFailure(missing)).toMatchObject({ class: 'infrastructure', code: 'postgres 42P01' });
      expect(classifyFailure(readOnly)).toMatchObject({ class: 'infrastructure', code: 'postgres 25006' });
    });
  });
});

describe('Redis errors', () => {
  it('a claim whose key holds another type (WRONGTYPE, through the real store) is infrastructure', async () => {
    const prefix = `chaosbench:test-failure:${randomBytes(4).toString('hex')}:`;
    const admin = new Redis(redisUrl);
    const store = new RedisDedupStore({ url: redisUrl, keyPrefix: prefix });
    try {
      await admin.lpush(`${prefix}01ARZ3NDEKTSV4RRFFQ69G5FAV`, 'not a claim');
      const error = await caught(() => store.claimMany(['01ARZ3NDEKTSV4RRFFQ69G5FAV'], 60_000));
      expect(String(error)).toMatch(/WRONGTYPE/);
      expect(classifyFailure(error)).toMatchObject({ class: 'infrastructure', code: 'redis WRONGTYPE' });
    } finally {
      await admin.del(`${prefix}01ARZ3NDEKTSV4RRFFQ69G5FAV`);
      await store.close();
      admin.disconnect();
    }
  });

  it('a user without the permission (NOPERM, an ACL user of its own) is infrastructure', async () => {
    const user = `chaosbench-test-${randomBytes(4).toString('hex')}`;
    const admin = new Redis(redisUrl);
    const url = new URL(redisUrl);
    url.username = user;
    url.password = 'secret';
    // May connect and PING, nothing else.
    await admin.call('ACL', 'SETUSER', user, 'on', '>secret', '+ping', '+info', '+client', '+auth', '+hello', '+select', '~*');
    const store = new RedisDedupStore({ url: url.toString(), keyPrefix: 'chaosbench:test-failure:' });
    try {
      const error = await caught(() => store.claimMany(['01ARZ3NDEKTSV4RRFFQ69G5FAV'], 60_000));
      expect(String(error)).toMatch(/NOPERM/);
      expect(classifyFailure(error)).toMatchObject({ class: 'infrastructure', code: 'redis NOPERM' });
    } finally {
      await store.close();
      await admin.call('ACL', 'DELUSER', user);
      admin.disconnect();
    }
  });
});

describe('Redis errors from private servers (an out-of-memory one and a read-only replica)', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  /** A redis-server of our own on a free port, with `args`; resolves once it answers PING. */
  async function privateRedis(args: string[]): Promise<string> {
    const port = await pickFreePort();
    children.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' }));
    const url = `redis://127.0.0.1:${port}`;
    for (let attempt = 0; attempt < 100; attempt++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      const up = await probe.connect().then(() => probe.ping().then(() => true), () => false);
      probe.disconnect();
      if (up) return url;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${port} did not answer`);
  }

  it('a claim on a server out of memory (OOM) and on a read-only replica (READONLY) is infrastructure', async () => {
    const full = await privateRedis(['--maxmemory', '1', '--maxmemory-policy', 'noeviction']);
    const replica = await privateRedis(['--replicaof', '127.0.0.1', String(await pickFreePort()), '--replica-read-only', 'yes']);
    for (const [url, reply] of [[full, 'OOM'], [replica, 'READONLY']] as const) {
      const store = new RedisDedupStore({ url, keyPrefix: 'chaosbench:test-failure:' });
      try {
        const error = await caught(() => store.claimMany(['01ARZ3NDEKTSV4RRFFQ69G5FAV'], 60_000));
        expect(String(error)).toMatch(new RegExp(reply));
        expect(classifyFailure(error)).toMatchObject({ class: 'infrastructure' });
      } finally {
        await store.close();
      }
    }
  });
});

describe('everything else', () => {
  it('a plain Error, a TransientError, exhausted retries and non-errors are infrastructure', () => {
    for (const error of [new Error('CHECK constraint failed'), new TransientError('busy'), new RetriesExhaustedError(3, new Error('x')), 'a string', undefined]) {
      expect(isEventFault(error)).toBe(false);
    }
  });

  it('an engine error wrapped as the cause of another is classified by the engine error', async () => {
    const db = new Database(':memory:');
    db.exec("CREATE TABLE t (v TEXT CHECK (v <> 'poison'))");
    const check = await caught(() => db.prepare("INSERT INTO t VALUES ('poison')").run());
    db.close();
    expect(isEventFault(new Error('commit failed', { cause: check }))).toBe(true);
    // A store that asked for a retry is never the event's fault, whatever it wraps.
    expect(isEventFault(new TransientError('retry', { cause: check }))).toBe(false);
  });
});
