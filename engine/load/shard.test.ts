import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatShard, parseShard, runsPublisher, shardEventCount, shardProblems, shardPublishers, shardShare, WHOLE_RUN } from './shard.ts';
import { parseBenchArgs } from '../../commands/bench/bench.ts';
import { UsageError } from '../../cli/exit.ts';

describe('parseShard', () => {
  it('reads I/N', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseShard(' 1 / 1 ')).toEqual({ index: 1, count: 1 });
    expect(formatShard({ index: 2, count: 3 })).toBe('2/3');
  });

  it.each(['0/2', '3/2', '1/0', '1', 'a/b', '-1/2', '1/2/3', ''])('refuses %j, naming the flag', (text) => {
    expect(() => parseShard(text)).toThrow(/--shard/);
  });
});

describe('which process and worker run which publisher', () => {
  it('every publisher is run by exactly one (shard, worker); every worker gets one when publishers >= shards × workers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 20 }), (count, workers, extra) => {
        const publishers = count * workers + extra;
        const owners = new Map<number, string[]>();
        for (let index = 1; index <= count; index++) {
          const shard = { index, count };
          for (let worker = 0; worker < workers; worker++) {
            const runs = Array.from({ length: publishers }, (_, p) => p).filter((p) => runsPublisher(shard, workers, worker, p));
            expect(runs.length).toBeGreaterThan(0);
            for (const p of runs) owners.set(p, [...(owners.get(p) ?? []), `${index}.${worker}`]);
            for (const p of runs) expect(shardPublishers(shard, publishers)).toContain(p);
          }
        }
        expect([...owners.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: publishers }, (_, p) => p));
        for (const list of owners.values()) expect(list).toHaveLength(1);
      }),
    );
  });

  it('one shard is the plain run: publisher p on worker p mod W, the whole share', () => {
    for (let p = 0; p < 12; p++) for (let w = 0; w < 3; w++) expect(runsPublisher(WHOLE_RUN, 3, w, p)).toBe(p % 3 === w);
    expect(shardShare(WHOLE_RUN, 4)).toBe(1);
    expect(shardShare({ index: 1, count: 3 }, 4)).toBe(0.5);
  });

  it("counts a shard's events in any range of the schedule exactly; the shards' counts add up", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 12 }), fc.nat(500), fc.nat(500), (count, extra, first, n) => {
        const publishers = count + extra;
        let total = 0;
        for (let index = 1; index <= count; index++) {
          const shard = { index, count };
          const owned = new Set(shardPublishers(shard, publishers));
          let brute = 0;
          for (let g = first; g < first + n; g++) if (owned.has(g % publishers)) brute++;
          expect(shardEventCount(shard, publishers, first, n)).toBe(brute);
          total += brute;
        }
        expect(total).toBe(n);
      }),
    );
  });

  it('names what a shard needs: the open model and enough publishers', () => {
    expect(shardProblems({ index: 1, count: 2 }, { model: 'open', publishers: 4, workers: 2 })).toEqual([]);
    const problems = shardProblems({ index: 1, count: 3 }, { model: 'closed', publishers: 4, workers: 2 });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/open model/);
    expect(problems[1]).toMatch(/load\.publishers >= 6.*got 4/);
    expect(shardProblems(WHOLE_RUN, { model: 'closed', publishers: 1, workers: 1 })).toEqual([]);
  });
});

describe('npm run bench -- --shard', () => {
  it('records the shard, keeps it out of the scenario and gives it its own output directory', async () => {
    const args = await parseBenchArgs(['--scenario', 'dup-storm', '--shard', '2/2', '--broker', 'mqtt://127.0.0.1:41883']);
    if (args === 'listed') throw new Error('unexpected');
    expect(args.shard).toEqual({ index: 2, count: 2 });
    expect(args.overrides.shard).toBe('2/2');
    expect(args.out_dir).toMatch(/-dup-storm-shard2of2$/);
    expect(JSON.stringify(args.scenario)).not.toMatch(/shard/);
  });

  it('refuses a bad shard and a load too small to split, naming the flag and the field', async () => {
    await expect(parseBenchArgs(['--scenario', 'dup-storm', '--shard', '3/2'])).rejects.toThrow(UsageError);
    await expect(parseBenchArgs(['--scenario', 'dup-storm', '--shard', '1/8'])).rejects.toThrow(/--shard 1\/8 needs load\.publishers >= 8/);
    await expect(parseBenchArgs(['--scenario', 'dup-storm', '--shard', '1/2', '--model', 'closed'])).rejects.toThrow(/open model/);
  });
});
