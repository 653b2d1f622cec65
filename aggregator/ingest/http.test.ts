// The HTTP ingest end to end: real requests over keep-alive connections to a real aggregator (HTTP
// only, no broker) with a real SQLite sink and dedup store in a temporary directory; what the
// response says is checked against what the sink holds at the moment the response arrives.

import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ulid } from 'ulid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AggregatorService, DEFAULT_AGGREGATOR_CONFIG, NO_BROKER, type AggregatorConfig } from '../service.ts';
import { HTTP_TOKEN_ENV } from '../config.ts';
import { parseAggregatorArgs } from '../main.ts';
import { UsageError } from '../../cli/exit.ts';
import { serializeEvent } from '../event/parse.ts';
import type { Event } from '../event/types.ts';
import { readDeadLetters, readSinkRows } from '../sink/sqlite.ts';
import { Pipeline } from '../pipeline.ts';
import { MemoryDedupStore } from '../dedup/memory.ts';
import { TransientError, type Sink } from '../sink/index.ts';
import { seededRandom } from '../random.ts';
import { HttpIngest, HTTP_INGEST_TOPIC } from './http.ts';
import { AggregatorProcess } from '../../engine/aggregator-process.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { TYPESCRIPT_EXEC_ARGV } from '../../engine/typescript-child.ts';

let dir: string;
let sinkFile: string;
let service: AggregatorService | undefined;
let agent: http.Agent;

const newDir = tempDirs('http-ingest');

beforeEach(() => {
  dir = newDir();
  sinkFile = join(dir, 'sink.db');
  agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
});

afterEach(async () => {
  await service?.stop();
  service = undefined;
  agent.destroy();
});

async function startService(change: Partial<AggregatorConfig> = {}): Promise<number> {
  service = new AggregatorService({
    ...DEFAULT_AGGREGATOR_CONFIG,
    broker_url: NO_BROKER,
    http_port: 0,
    client_id: 'http-ingest-test',
    dedup: 'sqlite',
    sink: `sqlite:${sinkFile}`,
    batch_wait_ms: 2,
    ...change,
  });
  await service.start();
  expect(service.http_port).toBeGreaterThan(0);
  return service.http_port!;
}

function event(seq: number, eventId = ulid()): Event {
  return {
    v: 1,
    event_id: eventId,
    source: 'http-test',
    seq,
    topic: 'events/http-test',
    ts: '2026-11-25T06:25:00.123456Z',
    payload: { n: seq },
    bench: { intended_us: 1_764_051_900_000_000 + seq },
  };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  reused_socket: boolean;
  /** Sink rows and dead letters read the moment the response was complete. */
  rows_at_answer: number;
  dead_letters_at_answer: number;
  elapsed_ms: number;
}

function post(port: number, body: string, options: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path: options.path ?? '/events', method: options.method ?? 'POST', agent, headers: options.headers ?? { 'content-type': 'application/json' } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
            reused_socket: request.reusedSocket,
            rows_at_answer: readSinkRows(sinkFile).length,
            dead_letters_at_answer: readDeadLetters(sinkFile).length,
            elapsed_ms: performance.now() - started,
          });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('POST /events', () => {
  it('commits every event to the sink and answers 200 committed over reused keep-alive connections', async () => {
    const port = await startService();
    const events = Array.from({ length: 40 }, (_, i) => event(i));
    const answers: Answer[] = [];
    // Four connections, ten requests each one after another: every connection is reused.
    await Promise.all(
      [0, 1, 2, 3].map(async (lane) => {
        for (let i = lane; i < events.length; i += 4) answers.push(await post(port, serializeEvent(events[i]!)));
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    expect(new Set(answers.map((a) => a.body.status))).toEqual(new Set(['committed']));
    expect(new Set(answers.map((a) => a.body.event_id))).toEqual(new Set(events.map((e) => e.event_id)));
    expect(answers.filter((a) => a.reused_socket).length).toBeGreaterThanOrEqual(36);
    const rows = readSinkRows(sinkFile);
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(events.map((e) => e.event_id)));
    expect(rows.every((r) => r.deliveries === 1)).toBe(true);
    expect(service!.counters).toMatchObject({ received: 40, committed: 40, acked: 40, dlq: 0 });
  });

  it('answers only after the commit: with a 300 ms sink the row is already there when the 200 arrives', async () => {
    const port = await startService({ sink_delay_ms: 300 });
    const answer = await post(port, serializeEvent(event(0)));
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('committed');
    expect(answer.elapsed_ms).toBeGreaterThanOrEqual(290);
    expect(answer.rows_at_answer).toBe(1);
  });

  it('answers only after the commit on the sink\'s own thread (dedup memory), and this thread runs on meanwhile', async () => {
    // A commit held 300 ms inside its transaction (before COMMIT). With the sink on its own thread
    // (sink_thread), the service's thread keeps running during the hold: a 10 ms interval ticks
    // through it. The SQLite sink in this thread (the default) blocks it for the whole hold (at
    // most a tick or two).
    const port = await startService({ dedup: 'memory', sink_thread: true, commit_hold_ms: 300 });
    await post(port, serializeEvent(event(0))); // the sink's thread is up
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const answer = await post(port, serializeEvent(event(1))).finally(() => clearInterval(ticker));
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('committed');
    expect(answer.rows_at_answer).toBe(2);
    expect(ticks, `ticks of a 10 ms interval during a commit held 300 ms`).toBeGreaterThanOrEqual(8);
  });

  it('absorbs a repeated event_id: 200 duplicate, one row, counted as absorbed by the dedup store', async () => {
    const port = await startService();
    const first = event(0);
    expect((await post(port, serializeEvent(first))).body).toEqual({ status: 'committed', event_id: first.event_id });
    const again = await post(port, serializeEvent(first));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'duplicate', event_id: first.event_id });
    // Two copies of one new event in the same batch: one commits, the other is absorbed.
    const twin = event(1);
    const pair = await Promise.all([post(port, serializeEvent(twin)), post(port, serializeEvent(twin))]);
    expect(pair.map((a) => a.body.status).sort()).toEqual(['committed', 'duplicate']);
    const rows = readSinkRows(sinkFile);
    expect(rows.map((r) => r.event_id).sort()).toEqual([first.event_id, twin.event_id].sort());
    expect(rows.every((r) => r.deliveries === 1)).toBe(true);
    expect(service!.counters).toMatchObject({ committed: 2, duplicates_absorbed: 2 });
  });

  it('dead-letters a malformed event with its reason and answers 400 with the same reason, after the DLQ write', async () => {
    const port = await startService();
    const notJson = await post(port, '{"v":1,"event_id":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.status).toBe('dead-lettered');
    expect(notJson.body.reason).toMatch(/^invalid event: message is not valid JSON/);
    expect(notJson.dead_letters_at_answer).toBe(1);

    const lowerCaseId = { ...event(1), event_id: ulid().toLowerCase() };
    const badSchema = await post(port, JSON.stringify({ ...lowerCaseId, seq: -1 }));
    expect(badSchema.status).toBe(400);
    expect(badSchema.body.reason).toMatch(/event_id must be upper case/);
    expect(badSchema.body.reason).toMatch(/seq must be a non-negative safe integer/);
    expect(badSchema.body.event_id).toBe(lowerCaseId.event_id);

    const letters = readDeadLetters(sinkFile);
    expect(letters.map((l) => l.reason)).toEqual([notJson.body.reason, badSchema.body.reason]);
    expect(letters.every((l) => l.topic === HTTP_INGEST_TOPIC)).toBe(true);
    expect(letters[0]!.raw).toBe('{"v":1,"event_id":');
    expect(letters[1]!.event_id).toBe(lowerCaseId.event_id);
    expect(readSinkRows(sinkFile)).toHaveLength(0);
    // The connection survives a bad event: the next good one on it commits.
    const good = await post(port, serializeEvent(event(2)));
    expect(good.status).toBe(200);
    expect(service!.counters).toMatchObject({ dlq: 2, committed: 1 });
  });

  it('refuses other paths and methods, and bodies far beyond any valid event, without touching the pipeline', async () => {
    const port = await startService();
    expect((await post(port, '{}', { path: '/nope' })).status).toBe(404);
    const get = await post(port, '', { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.body.reason).toMatch(/takes POST/);
    const huge = await post(port, 'x'.repeat(2 ** 21));
    expect(huge.status).toBe(413);
    // An oversized event below that limit is read and dead-lettered with the parser's reason, as over MQTT.
    const oversized = await post(port, JSON.stringify({ ...event(0), payload: 'y'.repeat(70_000) }));
    expect(oversized.status).toBe(400);
    expect(oversized.body.reason).toMatch(/larger than the limit/);
    expect(service!.counters).toMatchObject({ received: 1, dlq: 1 });
  });

  it('a graceful stop answers what is in flight after its commit and refuses what comes later with 503', async () => {
    const port = await startService({ sink_delay_ms: 400 });
    const inFlight = post(port, serializeEvent(event(0)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopping = service!.stop();
    const late = await post(port, serializeEvent(event(1)));
    expect(late.status).toBe(503);
    expect(late.body.reason).toMatch(/shutting down/);
    const first = await inFlight;
    expect(first.status).toBe(200);
    expect(first.rows_at_answer).toBe(1);
    await stopping;
  });
});

describe('a batch that cannot be made durable', () => {
  it('answers 503 (send again), not 200 and not 400', async () => {
    // A sink whose every write fails transiently, in an aggregator that has stopped retrying.
    const failing: Sink = {
      kind: 'sqlite',
      mode: 'idempotent',
      commit: async () => {
        throw new TransientError('database is locked');
      },
      deadLetter: async () => {
        throw new TransientError('database is locked');
      },
      close: async () => {},
    };
    const pipeline = new Pipeline(new MemoryDedupStore(), failing, {
      batch_size: 10,
      batch_wait_ms: 1,
      dedup_ttl_ms: 60_000,
      retry: { base_ms: 1, cap_ms: 2, max_attempts: 2 },
      parse: { maxPayloadBytes: 65_536 },
      random: seededRandom(3),
    });
    // A transient failure is retried for as long as the aggregator runs; one that has given up
    // (shutting down) leaves the batch un-acked, which over HTTP is a 503.
    pipeline.abandonRetries();
    const ingest = new HttpIngest(pipeline, { port: 0, max_in_flight: 100, max_body_bytes: 1 << 20, max_connections: 10, headers_timeout_ms: 5_000, request_timeout_ms: 5_000 });
    const port = await ingest.start();
    try {
      const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const request = http.request({ host: '127.0.0.1', port, path: '/events', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
        });
        request.on('error', reject);
        request.end(serializeEvent(event(0)));
      });
      expect(answer.status).toBe(503);
      expect(answer.body.status).toBe('unavailable');
      expect(answer.body.reason).toMatch(/not committed .*send the event again/);
      expect(ingest.counters.unavailable).toBe(1);
      expect(ingest.in_flight).toBe(0);
    } finally {
      await ingest.close();
    }
  });
});

describe('--broker none and --http-port', () => {
  it('takes an HTTP-only aggregator and refuses the combinations that cannot work', async () => {
    await expect(parseAggregatorArgs(['--broker', 'none', '--http-port', '0'])).resolves.toMatchObject({ broker_url: 'none', http_port: 0 });
    expect((await parseAggregatorArgs([])).http_port).toBeUndefined();
    await expect(parseAggregatorArgs(['--broker', 'none'])).rejects.toThrow(/broker 'none' leaves nothing to take events from: give --http-port/);
    await expect(parseAggregatorArgs(['--http-port', '70000'])).rejects.toThrow(UsageError);
    await expect(parseAggregatorArgs(['--http-port', '-1'])).rejects.toThrow(/http-port must be an integer in \[0, 65535\]/);
    await expect(parseAggregatorArgs(['--http-port', '0', '--bare'])).rejects.toThrow(/cannot be combined with bare/);
    await expect(parseAggregatorArgs(['--broker', 'http://x'])).rejects.toThrow(/broker must be mqtt:\/\/host:port, mqtts:\/\/host:port or none, got http:\/\/x/);
  });

  it('as the harness child process it reports the bound port in its ready message', async () => {
    const aggregator = new AggregatorProcess({
      ...DEFAULT_AGGREGATOR_CONFIG,
      broker_url: NO_BROKER,
      http_port: 0,
      client_id: 'http-ingest-child-test',
      sink: `sqlite:${sinkFile}`,
    });
    await aggregator.start();
    try {
      expect(aggregator.http_port).toBeGreaterThan(0);
      const answer = await post(aggregator.http_port!, serializeEvent(event(0)));
      expect(answer).toMatchObject({ status: 200, rows_at_answer: 1 });
      expect(answer.body.status).toBe('committed');
    } finally {
      await aggregator.stop();
    }
    expect(aggregator.counters).toMatchObject({ committed: 1, acked: 1 });
  }, 30_000);
});

/** A raw TCP client of the ingest: what it was sent back, and when the server closed it. */
interface RawClient {
  socket: net.Socket;
  received: () => string;
  closed: Promise<void>;
  is_closed: () => boolean;
}

function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let isClosed = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => {});
    const closed = new Promise<void>((done) => socket.once('close', () => ((isClosed = true), done())));
    socket.once('connect', () => resolve({ socket, received: () => text, closed, is_closed: () => isClosed }));
    socket.once('error', reject);
  });
}

/** Writes `text` to the client one byte a second (a slowloris), stopping when it is closed. */
function dribble(client: RawClient, text: string): NodeJS.Timeout {
  let next = 0;
  const timer = setInterval(() => {
    if (client.is_closed() || next >= text.length) return clearInterval(timer);
    client.socket.write(text[next++]!);
  }, 1_000);
  return timer;
}

/** Resolves when every client is closed, or after `ms` (bounded): how many are still open then. */
async function stillOpenAfter(clients: RawClient[], ms: number): Promise<number> {
  await Promise.race([Promise.all(clients.map((c) => c.closed)), new Promise((resolve) => setTimeout(resolve, ms))]);
  return clients.filter((c) => !c.is_closed()).length;
}

describe('hardening: connection cap, timeouts, content type, token', () => {
  it('cuts 200 slow clients sending headers at 1 byte/s at the header timeout (408), and a normal request succeeds after', async () => {
    const port = await startService({ http_headers_timeout_ms: 1_000, http_request_timeout_ms: 2_000 });
    const clients = await Promise.all(Array.from({ length: 200 }, () => rawClient(port)));
    const timers = clients.map((client) => dribble(client, 'POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'));
    try {
      expect(await stillOpenAfter(clients, 8_000)).toBe(0);
    } finally {
      timers.forEach(clearInterval);
      clients.forEach((c) => c.socket.destroy());
    }
    expect(clients.filter((c) => c.received().startsWith('HTTP/1.1 408')).length).toBeGreaterThan(0);
    const answer = await post(port, serializeEvent(event(0)));
    expect(answer.status).toBe(200);
    expect(service!.counters).toMatchObject({ received: 1, committed: 1, dlq: 0 });
  }, 20_000);

  it('cuts a client sending its body at 1 byte/s at the request timeout, and nothing reaches the pipeline', async () => {
    const port = await startService({ http_headers_timeout_ms: 500, http_request_timeout_ms: 1_500 });
    const body = serializeEvent(event(0));
    const client = await rawClient(port);
    client.socket.write(`POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
    const timer = dribble(client, body);
    try {
      expect(await stillOpenAfter([client], 8_000)).toBe(0);
    } finally {
      clearInterval(timer);
      client.socket.destroy();
    }
    expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(service!.counters?.received).toBe(0);
  }, 20_000);

  it('refuses connections beyond the cap on accept; once they go, normal requests succeed again', async () => {
    const port = await startService({ http_max_connections: 5 });
    const holders = await Promise.all(Array.from({ length: 5 }, () => rawClient(port)));
    // Let the server accept all five before the sixth arrives.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const extra = await rawClient(port);
    expect(await stillOpenAfter([extra], 3_000)).toBe(0);
    expect(extra.received()).toBe('');
    await expect(post(port, serializeEvent(event(0)))).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(holders.every((c) => !c.is_closed())).toBe(true);
    holders.forEach((c) => c.socket.destroy());
    // The server sees the five go a moment later: bounded retries.
    let answer: Answer | undefined;
    for (let attempt = 0; attempt < 20 && answer === undefined; attempt++) {
      answer = await post(port, serializeEvent(event(1))).catch(() => undefined);
      if (answer === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(answer?.status).toBe(200);
    expect(service!.counters).toMatchObject({ received: 1, committed: 1 });
  }, 20_000);

  it('answers 415 unless the body is declared application/json, before reading it', async () => {
    const port = await startService();
    const none = await post(port, serializeEvent(event(0)), { headers: {} });
    expect(none.status).toBe(415);
    expect(none.body.reason).toMatch(/Content-Type: application\/json, got none/);
    const text = await post(port, serializeEvent(event(1)), { headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect(text.body.reason).toMatch(/got "text\/plain"/);
    const withCharset = await post(port, serializeEvent(event(2)), { headers: { 'content-type': 'Application/JSON; charset=utf-8' } });
    expect(withCharset.status).toBe(200);
    expect(service!.counters).toMatchObject({ received: 1, committed: 1, dlq: 0 });
    expect(readDeadLetters(sinkFile)).toHaveLength(0);
  });

  it('with a token set answers 401 without it or with a wrong one, 200 with it', async () => {
    const token = 'tok-3f9a8c1e77';
    const port = await startService({ http_token: token });
    const json = { 'content-type': 'application/json' };
    const missing = await post(port, serializeEvent(event(0)), { headers: json });
    expect(missing.status).toBe(401);
    expect(missing.body.status).toBe('unauthorized');
    const wrong = await post(port, serializeEvent(event(1)), { headers: { ...json, authorization: `Bearer ${token}x` } });
    expect(wrong.status).toBe(401);
    const basic = await post(port, serializeEvent(event(2)), { headers: { ...json, authorization: `Basic ${token}` } });
    expect(basic.status).toBe(401);
    expect(JSON.stringify([missing.body, wrong.body, basic.body])).not.toContain(token);
    const right = await post(port, serializeEvent(event(3)), { headers: { ...json, authorization: `Bearer ${token}` } });
    expect(right.status).toBe(200);
    expect(service!.counters).toMatchObject({ received: 1, committed: 1 });
  });

  it('reads the token from the environment only: no flag takes it, and a bad one is refused without being shown', async () => {
    const saved = process.env[HTTP_TOKEN_ENV];
    try {
      process.env[HTTP_TOKEN_ENV] = 'env-token-1234';
      expect((await parseAggregatorArgs(['--broker', 'none', '--http-port', '0'])).http_token).toBe('env-token-1234');
      process.env[HTTP_TOKEN_ENV] = 'has space-secret';
      const refused = parseAggregatorArgs(['--broker', 'none', '--http-port', '0']);
      await expect(refused).rejects.toThrow(/http_token must be a non-empty string of printable ASCII/);
      await expect(refused).rejects.not.toThrow(/space-secret/);
      delete process.env[HTTP_TOKEN_ENV];
      await expect(parseAggregatorArgs(['--broker', 'none', '--http-port', '0', '--http-token', 'x'])).rejects.toThrow(UsageError);
    } finally {
      if (saved === undefined) delete process.env[HTTP_TOKEN_ENV];
      else process.env[HTTP_TOKEN_ENV] = saved;
    }
    await expect(parseAggregatorArgs(['--http-headers-timeout-ms', '5000', '--http-request-timeout-ms', '1000'])).rejects.toThrow(
      /http-headers-timeout-ms \(5000\) must not exceed http-request-timeout-ms \(1000\)/,
    );
  });
});

describe('hardening under a low file limit', () => {
  it('300 slow clients against `npm run aggregator` limited to 256 files: the cap and the header timeout keep it serving', async () => {
    // prlimit: the aggregator process alone gets the low limit (as an operator's ulimit -n would give it).
    const child = spawn(
      'prlimit',
      [
        '--nofile=256:256',
        process.execPath,
        ...TYPESCRIPT_EXEC_ARGV,
        fileURLToPath(new URL('../main.ts', import.meta.url)),
        ...['--broker', 'none', '--http-port', '0', '--http-max-connections', '150', '--http-headers-timeout-ms', '2000', '--http-request-timeout-ms', '2000'],
        ...['--dedup', 'sqlite', '--sink', `sqlite:${sinkFile}`],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let stderr = '';
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no port within 20 s: ${stderr}`)), 20_000);
        child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
          const found = /listening for POST http:\/\/127\.0\.0\.1:(\d+)\/events/.exec(stderr);
          if (found) {
            clearTimeout(timer);
            resolve(Number(found[1]));
          }
        });
      });
      const clients = (await Promise.allSettled(Array.from({ length: 300 }, () => rawClient(port)))).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const timers = clients.map((client) => dribble(client, 'POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'));
      try {
        expect(await stillOpenAfter(clients, 10_000)).toBe(0);
      } finally {
        timers.forEach(clearInterval);
        clients.forEach((c) => c.socket.destroy());
      }
      // Cut by the cap at once or by the header timeout: either way the aggregator is alive and serves.
      expect(child.exitCode).toBeNull();
      const answer = await post(port, serializeEvent(event(0)));
      expect(answer.status).toBe(200);
      expect(answer.rows_at_answer).toBe(1);
      expect(stderr).not.toMatch(/EMFILE/);
    } finally {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
