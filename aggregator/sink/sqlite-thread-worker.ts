// The SQLite sink's worker thread (see sqlite-thread.ts): one SqliteSink, driven by messages.
// Requests are handled one at a time in arrival order; each answer carries its request's id.

import { parentPort, workerData } from 'node:worker_threads';
import { SqliteSink } from './sqlite.ts';
import { describeThreadError, type SinkThreadData, type SinkThreadReply, type SinkThreadRequest } from './sqlite-thread.ts';

const port = parentPort!;
const { options } = workerData as SinkThreadData;
let sink: SqliteSink | undefined;
let openFailure: unknown;
try {
  sink = new SqliteSink(options);
} catch (error) {
  openFailure = error;
}

// Every step is synchronous (better-sqlite3): a request is done before the next message is taken.
port.on('message', async (request: SinkThreadRequest) => {
  let reply: SinkThreadReply;
  try {
    if (!sink) throw openFailure;
    if (request.op === 'commit') reply = { id: request.id, ok: true, value: sink.commitRows(request.rows) };
    else {
      await (request.op === 'dead-letter' ? sink.deadLetter(request.entries) : sink.close());
      reply = { id: request.id, ok: true };
    }
  } catch (error) {
    reply = { id: request.id, ok: false, error: describeThreadError(error) };
  }
  port.postMessage(reply);
});
