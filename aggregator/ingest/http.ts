// HTTP ingest: `POST /events` with one wire-v1 event as the JSON body goes through the same
// pipeline as an MQTT message (validate → dedup → idempotent sink commit), and the response plays
// the part of the PUBACK: it is written only once the event's outcome is durable.
//
//   401 {"status":"unauthorized",…}            a token is set and the request lacks it (Authorization: Bearer TOKEN)
//   415 {"status":"unsupported-media-type",…}  Content-Type is not application/json
//   408 (Node's own, connection closed)          headers or body too slow (headers_timeout_ms, request_timeout_ms)
//   200 {"status":"committed","event_id":…}     written to the sink by this request
//   200 {"status":"duplicate","event_id":…}     already committed before (absorbed by the dedup store)
//   400 {"status":"dead-lettered","reason":…}   in the DLQ with that reason; sending it again will not help
//   503 {"status":"unavailable","reason":…}     not durable (the batch failed, too many requests waiting,
//                                               or shutting down): nothing was kept, send it again later
//
// It must never answer 200 before the sink commit has returned: a client that saw 200 may forget the
// event. Anything else (no answer, a reset connection, 503) leaves the event the client's to retry,
// and a retry with the same event_id is absorbed as a duplicate.

import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MessageOutcome, Pipeline } from '../pipeline.ts';

export const HTTP_INGEST_PATH = '/events';
/** The `topic` of dead letters that arrived over HTTP (an MQTT one carries the topic it was published on). */
export const HTTP_INGEST_TOPIC = 'http/events';

export interface HttpIngestOptions {
  /** TCP port; 0 picks a free ephemeral port (read it back from `port` after start()). */
  port: number;
  /** Interface to listen on. Loopback by default: the reference aggregator is a test subject, not a public service. */
  host?: string;
  /** Requests waiting for their commit beyond this many are answered 503 at once (backpressure, like max_in_flight for MQTT). */
  max_in_flight: number;
  /** Larger bodies are refused with 413 and the connection closed, without buffering them. */
  max_body_bytes: number;
  /** Open connections beyond this many are closed as they are accepted. */
  max_connections: number;
  /** A request's headers must all arrive within this long; its headers and body within request_timeout_ms (else 408, closed). */
  headers_timeout_ms: number;
  request_timeout_ms: number;
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
}

/** How often Node looks for requests past their timeout: often enough that a timeout is kept to within about this much. */
const MAX_TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/** Requests answered, by outcome (the pipeline's own counters count the events). */
export interface HttpIngestCounters {
  committed: number;
  duplicate: number;
  dead_lettered: number;
  /** 503: batch not durable, too many waiting, or shutting down. */
  unavailable: number;
  /** 401, 404, 405, 413, 415. */
  refused: number;
}

export class HttpIngest {
  private server: http.Server | undefined;
  private waiting = 0;
  private accepting = true;
  readonly counters: HttpIngestCounters = { committed: 0, duplicate: 0, dead_lettered: 0, unavailable: 0, refused: 0 };

  constructor(
    private readonly pipeline: Pipeline,
    private readonly options: HttpIngestOptions,
  ) {
    this.tokenDigest = options.token === undefined ? undefined : digest(options.token);
  }

  private readonly tokenDigest: Buffer | undefined;

  /** The bound port (undefined before start()). */
  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? (address as AddressInfo).port : undefined;
  }

  /** Requests whose event is in the pipeline and not yet answered. */
  get in_flight(): number {
    return this.waiting;
  }

  async start(): Promise<number> {
    const { headers_timeout_ms, request_timeout_ms, max_connections } = this.options;
    const server = http.createServer(
      {
        headersTimeout: headers_timeout_ms,
        requestTimeout: request_timeout_ms,
        connectionsCheckingInterval: Math.min(MAX_TIMEOUT_CHECK_INTERVAL_MS, Math.max(10, Math.floor(headers_timeout_ms / 4))),
      },
      (request, response) => this.handle(request, response),
    );
    // Node closes a connection accepted beyond this at once: slow or idle clients cannot take every file descriptor.
    server.maxConnections = max_connections;
    // Keep-alive connections (load generators reuse theirs) stay open between requests for this long.
    server.keepAliveTimeout = 30_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this.port!;
  }

  /** Refuse new requests (503) from now on; those already in the pipeline still get their answer. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Close the listener and every connection. Call after the pipeline has drained, so no answer is cut off. */
  async close(): Promise<void> {
    this.accepting = false;
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Idle keep-alive connections go now; one still sending a request (it will get a 503 and
    // Connection: close) is given a moment, so that no answer already written is cut off.
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), 1_000);
    await closed;
    clearTimeout(force);
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== HTTP_INGEST_PATH) {
      this.counters.refused++;
      return reply(response, 404, { status: 'not-found', reason: `no endpoint ${request.method} ${path}: send events with POST ${HTTP_INGEST_PATH}` });
    }
    if (request.method !== 'POST') {
      this.counters.refused++;
      response.setHeader('allow', 'POST');
      return reply(response, 405, { status: 'method-not-allowed', reason: `${HTTP_INGEST_PATH} takes POST, got ${request.method}` });
    }
    if (this.tokenDigest !== undefined && !this.authorized(request.headers.authorization)) {
      this.counters.refused++;
      response.setHeader('www-authenticate', 'Bearer');
      return reply(response, 401, { status: 'unauthorized', reason: 'this aggregator takes events only with its token: Authorization: Bearer TOKEN' });
    }
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== 'application/json') {
      this.counters.refused++;
      response.setHeader('connection', 'close');
      return reply(response, 415, {
        status: 'unsupported-media-type',
        reason: `send the event as Content-Type: application/json, got ${mediaType === '' ? 'none' : JSON.stringify(mediaType.slice(0, 100))}`,
      });
    }
    if (!this.accepting) {
      this.counters.unavailable++;
      response.setHeader('connection', 'close');
      return reply(response, 503, { status: 'unavailable', reason: 'the aggregator is shutting down; send the event again later' });
    }
    if (this.waiting >= this.options.max_in_flight) {
      this.counters.unavailable++;
      response.setHeader('retry-after', '1');
      return reply(response, 503, {
        status: 'unavailable',
        reason: `${this.waiting} events are already waiting for their commit (max in flight ${this.options.max_in_flight}); send it again later`,
      });
    }
    const limit = this.options.max_body_bytes;
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return this.tooLarge(response, declared);

    const chunks: Buffer[] = [];
    let bytes = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      if (refused) return;
      bytes += chunk.length;
      if (bytes > limit) {
        refused = true;
        chunks.length = 0;
        this.tooLarge(response, bytes);
        return;
      }
      chunks.push(chunk);
    });
    // A client that goes away mid-body sent no event; one that goes away later just misses its answer.
    request.on('error', () => {});
    request.on('end', () => {
      if (refused) return;
      this.waiting++;
      let answered = false;
      const answer = (status: number, body: Record<string, unknown>) => {
        if (answered) return;
        answered = true;
        this.waiting--;
        reply(response, status, body);
      };
      this.pipeline.push({
        topic: HTTP_INGEST_TOPIC,
        payload: Buffer.concat(chunks, bytes),
        dup: false,
        ack: (outcome: MessageOutcome) => {
          if (outcome.status === 'dead-lettered') this.counters.dead_lettered++;
          else this.counters[outcome.status]++;
          answer(outcome.status === 'dead-lettered' ? 400 : 200, outcome);
        },
        nack: (error: unknown) => {
          this.counters.unavailable++;
          answer(503, { status: 'unavailable', reason: `not committed (${error instanceof Error ? error.message : String(error)}); send the event again` });
        },
      });
    });
  }

  /** The Authorization header carries the token; compared in constant time (digests of equal length). */
  private authorized(header: string | undefined): boolean {
    const match = /^Bearer +(\S+)\s*$/i.exec(header ?? '');
    return match !== null && timingSafeEqual(digest(match[1]!), this.tokenDigest!);
  }

  private tooLarge(response: http.ServerResponse, bytes: number): void {
    this.counters.refused++;
    // The rest of the body is read and discarded (Node does so after the response), never buffered;
    // the connection closes after it rather than carrying another request.
    response.setHeader('connection', 'close');
    reply(response, 413, { status: 'too-large', reason: `body is ${bytes} bytes or more, larger than the limit of ${this.options.max_body_bytes} bytes` });
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function reply(response: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  if (response.destroyed || response.writableEnded) return;
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
