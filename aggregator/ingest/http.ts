// HTTP ingest: `POST /events` with one wire-v1 event as the JSON body goes through the same
// pipeline as an MQTT message (validate → dedup → idempotent sink commit), and the response plays
// the part of the PUBACK: it is written only once the event's outcome is durable.
//
//   200 {"status":"committed","event_id":…}     written to the sink by this request
//   200 {"status":"duplicate","event_id":…}     already committed before (absorbed by the dedup store)
//   400 {"status":"dead-lettered","reason":…}   in the DLQ with that reason; sending it again will not help
//   503 {"status":"unavailable","reason":…}     not durable (the batch failed, too many requests waiting,
//                                               or shutting down): nothing was kept, send it again later
//
// It must never answer 200 before the sink commit has returned: a client that saw 200 may forget the
// event. Anything else (no answer, a reset connection, 503) leaves the event the client's to retry,
// and a retry with the same event_id is absorbed as a duplicate.

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
}

/** Requests answered, by outcome (the pipeline's own counters count the events). */
export interface HttpIngestCounters {
  committed: number;
  duplicate: number;
  dead_lettered: number;
  /** 503: batch not durable, too many waiting, or shutting down. */
  unavailable: number;
  /** 404, 405, 413. */
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
  ) {}

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
    const server = http.createServer((request, response) => this.handle(request, response));
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

  private tooLarge(response: http.ServerResponse, bytes: number): void {
    this.counters.refused++;
    // The rest of the body is read and discarded (Node does so after the response), never buffered;
    // the connection closes after it rather than carrying another request.
    response.setHeader('connection', 'close');
    reply(response, 413, { status: 'too-large', reason: `body is ${bytes} bytes or more, larger than the limit of ${this.options.max_body_bytes} bytes` });
  }
}

function reply(response: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  if (response.destroyed || response.writableEnded) return;
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
