// The commands that make several runs, interrupted mid-way (issue 21), against the real services: gate
// (Redis dedup, PostgreSQL sink, the broker's sessions in Redis), perf (Redis dedup) and theory
// (table 5, failure-modes: embedded brokers and aggregators), each spawned as a user runs it in a
// process group of its own. Ctrl-C (SIGINT to the whole group) or SIGTERM (to the harness alone)
// ends each with exit 130/143 and one line saying how far it got, the run under way stopped and its
// result.json marked interrupted, no summary file written, and no process, Redis key or schema of
// it left. Before, these commands had no handler: a signal killed the harness where it stood.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { groupAfter, groupMembers, leftovers, sleep, startCommand, waitUntil } from '../../test-support/interrupted-command.ts';
import type { RunResult } from '../../engine/result.ts';
import { SCENARIOS } from '../../scenarios/index.ts';

const dirs = tempDirs('campaign-interrupt');
type Left = { keys: string[]; schemas: string[] };
type Member = { pid: number; command: string };
/** The processes of a run under way: the harness, the embedded broker and the aggregator. */
const runUnderWay = (processes: Member[]) => processes.some((p) => p.command.includes('embedded-process.ts')) && processes.some((p) => p.command.includes('aggregator/main.ts'));

/** The result.json files under dir, read. */
function results(dir: string): RunResult[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('result.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as RunResult);
}

const CASES = [
  {
    command: 'gate',
    signal: 'SIGINT',
    args: (out: string) => {
      // smoke with the embedded broker's sessions in Redis (a section the shipped scenario has not got).
      const scenario = join(out, 'smoke-redis.json');
      writeFileSync(scenario, JSON.stringify({ ...SCENARIOS.smoke, name: 'smoke-redis', broker: { persistence: 'redis' } }));
      return ['--scenario', scenario, '--baseline-set', 'aggregator.batch_size=10', '--replicates', '2', '--set', 'phases[1].duration_s=60', '--set', 'aggregator.dedup=redis', '--sink', 'postgres', '--out', out];
    },
    // Committing through Redis dedup into its schema, with the broker's sessions in Redis.
    underWay: (left: Left) => left.keys.some((k) => k.startsWith('chaosbench:dedup:')) && left.keys.some((k) => !k.startsWith('chaosbench:dedup:')) && left.schemas.length > 0,
    summary: 'gate.md',
    line: /^interrupted by SIGINT after 1 of 4 runs \(the run under way stopped and removed its keys and schema\): gate\.md not written; the runs' results are in /m,
  },
  {
    command: 'perf',
    signal: 'SIGTERM',
    args: (out: string) => ['--variants', 'redis', '--replicates', '2', '--duration', '60s', '--out', out],
    underWay: (left: Left) => left.keys.some((k) => k.startsWith('chaosbench:dedup:')),
    summary: 'perf.md',
    line: /^interrupted by SIGTERM after 1 of 2 runs \(the run under way stopped and removed its keys and schema\): perf\.md not written/m,
  },
  {
    command: 'theory',
    signal: 'SIGINT',
    args: (out: string) => ['--only', '5', '--out', join(out, 'doc'), '--runs-dir', join(out, 'runs')],
    // Its stores are SQLite files: under way once a run's aggregator is up. Its first run may still be
    // starting then (slow on a busy machine): it then stops with no partial result to write.
    underWay: (_left: Left, processes: Member[]) => processes.some((p) => p.command.includes('aggregator/main.ts')),
    mayBeStarting: true,
    summary: join('doc', 'theory.md'),
    line: /^interrupted by SIGINT: the table under way stopped \(its runs removed their keys and schemas\) and is not written/m,
  },
] as const;

describe('an interrupted campaign command (real Redis, PostgreSQL, embedded broker and aggregator)', () => {
  for (const c of CASES) {
    const code = c.signal === 'SIGINT' ? 130 : 143;
    it(`${c.command}: ${c.signal} mid-run exits ${code} with one line, writes no ${c.summary} and leaves no process, key or schema`, async () => {
      const out = dirs();
      const started = await startCommand(c.command, c.args(out), { CHAOSBENCH_STATE_DIR: join(out, 'state') });
      expect(started.pid, 'the harness process').toBeGreaterThan(0);
      await waitUntil(started, (left, processes) => c.underWay(left, processes) && runUnderWay(processes));
      expect(c.underWay(await leftovers(started.pid), groupMembers(started.pgid)) && runUnderWay(groupMembers(started.pgid)), started.stderr()).toBe(true);
      // The load under way a moment: a run interrupted while it starts has no partial result to write.
      await sleep(1_500);
      // Ctrl-C reaches the whole group (harness, broker, aggregator), SIGTERM the harness alone.
      process.kill(c.signal === 'SIGINT' ? -started.pgid : started.pid, c.signal);
      const outcome = await started.exited;
      expect(await groupAfter(started.pgid), 'processes left').toEqual([]);
      expect(outcome.code, outcome.stderr).toBe(code);
      expect(outcome.stderr).toMatch(c.line);
      expect(outcome.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(out, c.summary)), `${c.summary} written`).toBe(false);
      expect(await leftovers(started.pid)).toEqual({ keys: [], schemas: [] });
      // The run under way wrote its partial result, marked interrupted; none after it started.
      const written = results(out);
      const interrupted = written.filter((r) => r.interrupted).map((r) => r.interrupted!.signal);
      if ('mayBeStarting' in c && written.length === 0) expect(outcome.stderr).toContain('interrupted: stopping the run under way');
      else expect(interrupted).toEqual([c.signal]);
      // Every run removed its own registry file.
      expect(existsSync(join(out, 'state')) ? readdirSync(join(out, 'state')) : []).toEqual([]);
    }, 150_000);
  }
});
