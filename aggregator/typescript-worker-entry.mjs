// A worker thread's entry for a TypeScript module: registers the TypeScript loader inside the
// worker (Node 20 does not pass a parent's loader hooks to workers), then runs the module named by
// workerData.module_url. Plain JS so that it needs no loader itself. Used by the SQLite sink's
// thread (aggregator/sink/sqlite-thread.ts) and the harness's load workers (engine/load/generator.ts).
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module_url);
