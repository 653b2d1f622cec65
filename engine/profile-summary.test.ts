import { describe, expect, it } from 'vitest';
import { areaOf, summarizeProfile, type CpuProfile } from './profile-summary.ts';

const ROOT = '/repo';

// root → main (project) → parse (project) → JSON.parse (native); main → write (a package); idle; GC.
const profile: CpuProfile = {
  startTime: 0,
  endTime: 10_000,
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1 }, children: [2, 5, 6] },
    { id: 2, callFrame: { functionName: 'main', url: 'file:///repo/aggregator/main.ts', lineNumber: 9, columnNumber: 0 }, children: [3, 7] },
    { id: 3, callFrame: { functionName: 'parse', url: 'file:///repo/aggregator/event/parse.ts', lineNumber: 0, columnNumber: 0 }, children: [4] },
    { id: 4, callFrame: { functionName: 'parse', url: '', lineNumber: -1, columnNumber: -1 } },
    { id: 5, callFrame: { functionName: '(idle)', url: '', lineNumber: -1, columnNumber: -1 } },
    { id: 6, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1, columnNumber: -1 } },
    { id: 7, callFrame: { functionName: 'write', url: 'file:///repo/node_modules/@scope/pkg/lib/w.js', lineNumber: 4, columnNumber: 0 } },
  ],
  // Each sample's interval is the next delta (1 ms each here); the last gets the mean.
  samples: [4, 4, 3, 7, 7, 7, 6, 5, 5, 2],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

describe('areaOf', () => {
  it('names packages (scoped too), project folders, node internals and V8 pseudo frames', () => {
    expect(areaOf('file:///repo/node_modules/pg/lib/client.js', 'f', ROOT)).toBe('pg');
    expect(areaOf('file:///repo/node_modules/@scope/pkg/x.js', 'f', ROOT)).toBe('@scope/pkg');
    expect(areaOf('file:///repo/aggregator/pipeline.ts', 'f', ROOT)).toBe('aggregator/');
    expect(areaOf('node:internal/streams/writable', 'f', ROOT)).toBe('node internals');
    expect(areaOf('', '(garbage collector)', ROOT)).toBe('(garbage collector)');
    expect(areaOf('', 'writev', ROOT)).toBe('(native)');
  });
});

describe('summarizeProfile', () => {
  const summary = summarizeProfile(profile, { label: 'aggregator', project_root: ROOT });

  it('splits idle from busy time and charges each sample the interval until the next one', () => {
    expect(summary.sampled_ms).toBeCloseTo(10, 6);
    expect(summary.idle_ms).toBeCloseTo(2, 6);
    expect(summary.busy_ms).toBeCloseTo(8, 6);
    expect(summary.wall_ms).toBe(10);
  });

  it('ranks functions by self time with shares of busy time', () => {
    expect(summary.self[0]).toMatchObject({ name: 'write (@scope/pkg/lib/w.js:5)', area: '@scope/pkg', self_ms: 3 });
    expect(summary.self[0]!.self_share).toBeCloseTo(3 / 8, 6);
    const native = summary.self.find((row) => row.name === 'parse')!;
    expect(native.self_ms).toBeCloseTo(2, 6);
  });

  it("counts a project function's callees in its inclusive time", () => {
    const main = summary.project_total.find((row) => row.name.startsWith('main'))!;
    // parse (1) + native parse (2) + write (3) + main itself (1)
    expect(main.total_ms).toBeCloseTo(7, 6);
    expect(main.self_ms).toBeCloseTo(1, 6);
    expect(summary.project_total[0]!.name).toBe('main (aggregator/main.ts:10)');
  });

  it('sums busy time per area', () => {
    const areas = Object.fromEntries(summary.areas.map((a) => [a.area, a.self_ms]));
    expect(areas['@scope/pkg']).toBeCloseTo(3, 6);
    expect(areas['aggregator/']).toBeCloseTo(2, 6);
    expect(areas['(native)']).toBeCloseTo(2, 6);
    expect(areas['(garbage collector)']).toBeCloseTo(1, 6);
  });

  it('falls back to hit counts when the profile has no time deltas', () => {
    const hits: CpuProfile = { ...profile, samples: undefined, timeDeltas: undefined, nodes: profile.nodes.map((n) => ({ ...n, hitCount: n.id === 7 ? 3 : n.id === 5 ? 1 : 0 })) };
    const s = summarizeProfile(hits, { label: 'x', project_root: ROOT });
    expect(s.busy_ms).toBeCloseTo(7.5, 6);
    expect(s.idle_ms).toBeCloseTo(2.5, 6);
  });
});
