// An exported k6 script (commands/k6-export/script.ts) run in Node, the way k6 would run it, for the
// tests (no k6 binary can be installed here, docs/k6.md): transpiled by TypeScript, with stand-ins of
// 'k6/execution' (the scenario an iteration runs in), 'k6/metrics' (recorders), 'k6/timers' (k6's:
// a pending timer keeps the iteration alive) and a given 'k6/x/mqtt' Client: a recorder, or one over
// a real broker. A Client hands every asynchronous step it starts to `track`, so that an iteration
// ends, as in k6, when nothing is pending in it.

import ts from 'typescript';
import { expect } from 'vitest';

/** Makes the script's Client class; `track` takes each promise an iteration must wait for. */
export type K6ClientFactory = (track: (work: Promise<unknown>) => void) => new () => unknown;

export function loadK6Script(text: string, makeClient: K6ClientFactory, env: Record<string, string> = { TOPIC_ROOT: 'events/k6-test' }) {
  const metrics: Record<string, number[]> = {};
  const scenario = { name: '', iterationInTest: 0, startTime: 0 };
  let pending: Promise<unknown>[] = [];
  const timers = new Map<number, number>();
  let nextTimer = 1;
  class Metric {
    constructor(readonly name: string) {
      metrics[name] = [];
    }
    add(value: number) {
      metrics[this.name]!.push(value);
    }
  }
  const modules: Record<string, unknown> = {
    'k6/x/mqtt': { Client: makeClient((work) => pending.push(work)) },
    'k6/execution': { __esModule: true, default: { scenario } },
    'k6/metrics': { Counter: Metric, Trend: Metric },
    // Timers as k6's: a timer left pending keeps the iteration alive. Short ones (a copy's delay)
    // fire at once; long ones (the PUBACK timeout) only stay pending until cleared.
    'k6/timers': {
      setTimeout: (fn: () => void, ms: number) => {
        const id = nextTimer++;
        timers.set(id, ms);
        if (ms < 1_000) setTimeout(() => timers.delete(id) && fn(), 0);
        return id;
      },
      clearTimeout: (id: number) => void timers.delete(id),
    },
  };
  const js = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true } }).outputText;
  const exports: Record<string, any> = {};
  new Function('require', 'exports', '__ENV', js)((name: string) => modules[name], exports, env);
  /** Runs iteration k of a k6 scenario (phase) started at startMs, and waits for its event loop. */
  const iterate = async (name: string, k: number, startMs: number) => {
    Object.assign(scenario, { name, iterationInTest: k, startTime: startMs });
    exports.publishEvent();
    while (pending.length > 0) {
      const now = pending;
      pending = [];
      await Promise.all(now);
    }
    // Nothing left pending: k6 would end the iteration here.
    expect([...timers.values()]).toEqual([]);
  };
  return { exports, metrics, iterate };
}
