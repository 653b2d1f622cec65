// Worker-thread entry: registers the TypeScript loader inside the worker (Node 20 does not pass a
// parent's loader hooks to workers) and then runs the worker module. Plain JS so it needs no loader.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module_url);
