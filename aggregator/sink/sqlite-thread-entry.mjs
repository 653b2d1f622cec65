// The SQLite sink thread's entry: registers the TypeScript loader inside the worker (Node 20 does
// not pass a parent's loader hooks to workers), then runs sqlite-thread-worker.ts. Plain JS so that
// it needs no loader itself.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./sqlite-thread-worker.ts', import.meta.url).href);
