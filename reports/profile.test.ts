// profile.md from profile summaries: each process with its areas, hottest functions and the
// project's own functions; how the summaries are made is engine/profile-summary.test.ts's.

import { describe, expect, it } from 'vitest';
import type { ProfileSummary } from '../engine/profile-summary.ts';
import { renderProfiles } from './profile.ts';

const summary: ProfileSummary = {
  label: 'aggregator (a.cpuprofile)',
  wall_ms: 10,
  sampled_ms: 10,
  idle_ms: 2,
  busy_ms: 8,
  areas: [
    { area: '@scope/pkg', self_ms: 3, share: 3 / 8 },
    { area: 'aggregator/', self_ms: 2, share: 2 / 8 },
  ],
  self: [{ name: 'write (@scope/pkg/lib/w.js:5)', area: '@scope/pkg', self_ms: 3, total_ms: 3, self_share: 3 / 8, total_share: 3 / 8 }],
  project_total: [{ name: 'main (aggregator/main.ts:10)', area: 'aggregator/', self_ms: 1, total_ms: 7, self_share: 1 / 8, total_share: 7 / 8 }],
};

describe('renderProfiles', () => {
  it('renders each process with its areas, hottest functions and project functions', () => {
    const text = renderProfiles([summary], { command: 'npm run bench -- --cpu-prof' });
    expect(text).toContain('## aggregator (a.cpuprofile)');
    expect(text).toContain('wall 10 ms · busy 8 ms (80.0% of sampled) · idle 2 ms');
    expect(text).toContain('| @scope/pkg | 3 | 37.5% |');
    expect(text).toContain('| write (@scope/pkg/lib/w.js:5) | @scope/pkg | 3 | 37.5% | 37.5% |');
    expect(text).toContain('| main (aggregator/main.ts:10) | 7 | 87.5% | 12.5% |');
    expect(text).toContain('npm run bench -- --cpu-prof');
  });

  it('says so when there is no profile', () => {
    expect(renderProfiles([])).toMatch(/No profile was written/);
  });
});
