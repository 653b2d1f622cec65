// figuresOf: the figures a campaign keeps of each run, from its result.json (the fixture), with
// what a bare subscriber does not measure left null.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RunResult } from './result.ts';
import { figuresOf } from './figures.ts';

const FIXTURE_TEXT = readFileSync(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url), 'utf8');
const fixture = () => JSON.parse(FIXTURE_TEXT) as RunResult;

describe('figuresOf', () => {
  it('takes the figures of a run from its result', () => {
    const f = figuresOf(fixture());
    expect(f).toMatchObject({ target_per_s: 1000, offered_per_s: 1000, committed_per_s: 997.7, p50_ms: 8.155, p99_ms: 15.903, p99_9_ms: 20.911, loss_rate: 0, lost: 0, overloaded_phases: [] });
    expect(f.duplicate_rate).toBeCloseTo(0.1928, 4);
  });

  it('leaves out what a bare subscriber does not measure, and names overloaded measured phases only', () => {
    const result = fixture();
    result.aggregator.kind = 'none';
    result.phases[0]!.overloaded = true; // warm-up: excluded from the totals
    result.phases[1]!.overloaded = true;
    const f = figuresOf(result);
    expect(f).toMatchObject({ p50_ms: null, p99_ms: null, p99_9_ms: null, loss_rate: null, sink_duplicates: null, lost: null, committed_per_s: 997.7 });
    expect(f.overloaded_phases).toEqual(['storm']);
  });
});
