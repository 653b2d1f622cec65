import { describe, expect, it } from 'vitest';
import { type FaultRecord, mergeFaultRecords } from './generator.ts';

describe('mergeFaultRecords', () => {
  it('sums the injected counts of each position across workers, keeping phase and kind', () => {
    const worker0: FaultRecord[] = [
      { fault: 0, phase: 'chaos', kind: 'duplicate', injected: { copies: 10, events: 4 } },
      { fault: 0, phase: 'chaos', kind: 'reorder', injected: { swapped: 3 } },
      { fault: 0, phase: 'storm', kind: 'malformed', injected: { bad_json: 1, missing_field: 2 } },
    ];
    const worker1: FaultRecord[] = [
      { fault: 0, phase: 'chaos', kind: 'duplicate', injected: { copies: 7, events: 5 } },
      { fault: 0, phase: 'chaos', kind: 'reorder', injected: { swapped: 0 } },
      { fault: 0, phase: 'storm', kind: 'malformed', injected: { bad_json: 4, missing_field: 0 } },
    ];
    const worker2: FaultRecord[] = [
      { fault: 0, phase: 'chaos', kind: 'duplicate', injected: { copies: 1, events: 1 } },
      { fault: 0, phase: 'chaos', kind: 'reorder', injected: { swapped: 8 } },
      { fault: 0, phase: 'storm', kind: 'malformed', injected: { bad_json: 0, missing_field: 5 } },
    ];

    expect(mergeFaultRecords([worker0, worker1, worker2])).toEqual([
      { fault: 0, phase: 'chaos', kind: 'duplicate', injected: { copies: 18, events: 10 } },
      { fault: 0, phase: 'chaos', kind: 'reorder', injected: { swapped: 11 } },
      { fault: 0, phase: 'storm', kind: 'malformed', injected: { bad_json: 5, missing_field: 7 } },
    ]);
  });

  it('merges by position, so two faults of the same kind in one phase stay separate', () => {
    const worker = (a: number, b: number): FaultRecord[] => [
      { fault: 0, phase: 'p', kind: 'duplicate', injected: { copies: a } },
      { fault: 0, phase: 'p', kind: 'duplicate', injected: { copies: b } },
    ];
    expect(mergeFaultRecords([worker(1, 100), worker(2, 200)])).toEqual([
      { fault: 0, phase: 'p', kind: 'duplicate', injected: { copies: 3 } },
      { fault: 0, phase: 'p', kind: 'duplicate', injected: { copies: 300 } },
    ]);
  });

  it('adds counters that only some workers report', () => {
    const merged = mergeFaultRecords([
      [{ fault: 0, phase: 'p', kind: 'k', injected: { a: 1 } }],
      [{ fault: 0, phase: 'p', kind: 'k', injected: { b: 2 } }],
      [{ fault: 0, phase: 'p', kind: 'k', injected: { a: 3, b: 4, c: 5 } }],
    ]);
    expect(merged).toEqual([{ fault: 0, phase: 'p', kind: 'k', injected: { a: 4, b: 6, c: 5 } }]);
  });

  it('does not mutate its inputs and shares no objects with them', () => {
    const worker0: FaultRecord[] = [{ fault: 0, phase: 'p', kind: 'k', injected: { n: 1 } }];
    const worker1: FaultRecord[] = [{ fault: 0, phase: 'p', kind: 'k', injected: { n: 2 } }];
    const before = structuredClone([worker0, worker1]);

    const merged = mergeFaultRecords([worker0, worker1]);
    expect(merged).toEqual([{ fault: 0, phase: 'p', kind: 'k', injected: { n: 3 } }]);
    expect([worker0, worker1]).toEqual(before);
    expect(merged[0]).not.toBe(worker0[0]);
    expect(merged[0]!.injected).not.toBe(worker0[0]!.injected);

    // Merging again gives the same answer (nothing accumulated into the inputs).
    expect(mergeFaultRecords([worker0, worker1])).toEqual(merged);
    // Changing the result leaves the inputs alone.
    merged[0]!.injected.n = 999;
    expect(worker0[0]!.injected.n).toBe(1);
  });

  it('with one worker, returns an equal copy', () => {
    const only: FaultRecord[] = [
      { fault: 0, phase: 'a', kind: 'duplicate', injected: { copies: 5 } },
      { fault: 0, phase: 'b', kind: 'malformed', injected: {} },
    ];
    const merged = mergeFaultRecords([only]);
    expect(merged).toEqual(only);
    expect(merged).not.toBe(only);
    expect(merged[0]).not.toBe(only[0]);
  });

  it('handles no workers, and workers with no faults', () => {
    expect(mergeFaultRecords([])).toEqual([]);
    expect(mergeFaultRecords([[]])).toEqual([]);
    expect(mergeFaultRecords([[], [], []])).toEqual([]);
    const one: FaultRecord[] = [{ fault: 0, phase: 'p', kind: 'k', injected: { n: 4 } }];
    expect(mergeFaultRecords([[], one, []])).toEqual(one);
  });

  it('keeps zero counts', () => {
    expect(
      mergeFaultRecords([
        [{ fault: 0, phase: 'p', kind: 'k', injected: { n: 0 } }],
        [{ fault: 0, phase: 'p', kind: 'k', injected: { n: 0 } }],
      ]),
    ).toEqual([{ fault: 0, phase: 'p', kind: 'k', injected: { n: 0 } }]);
  });
});
