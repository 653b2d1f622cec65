// A V8 CPU profile of the calling thread, through the inspector protocol: the same .cpuprofile that
// `node --cpu-prof` writes for a child process, for the threads of the harness process itself (its
// main thread and the load workers), which npm starts without flags. Works in a worker thread too:
// a Session there connects to that worker's own isolate.

import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Sampling interval in µs: node --cpu-prof's default, so the harness's profiles compare with the children's. */
const SAMPLING_INTERVAL_US = 1_000;

export interface ThreadProfile {
  /** Stops sampling and writes <dir>/<name>.cpuprofile; returns its path. */
  stop(): Promise<string>;
}

/** Starts sampling this thread; its profile is written to <dir>/<name>.cpuprofile by stop(). */
export async function startThreadProfile(dir: string, name: string): Promise<ThreadProfile> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
  let stopped: Promise<string> | undefined;
  return {
    stop: () =>
      (stopped ??= (async () => {
        try {
          const { profile } = await session.post('Profiler.stop');
          mkdirSync(dir, { recursive: true });
          const path = join(dir, `${name}.cpuprofile`);
          writeFileSync(path, JSON.stringify(profile));
          return path;
        } finally {
          session.disconnect();
        }
      })()),
  };
}
