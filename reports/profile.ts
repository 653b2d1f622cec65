// profile.md of `npm run bench -- --cpu-prof`: the summaries of the processes' CPU profiles
// (engine/profile-summary.ts) as markdown. Pure: rendered from the summaries alone.

import type { ProfileSummary } from '../engine/profile-summary.ts';

const ms = (value: number) => value.toFixed(0);
const pct = (value: number) => `${(value * 100).toFixed(1)}%`;
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** profile.md: per process, busy vs idle, busy time by area, the hottest functions, and the project's own functions by inclusive time. */
export function renderProfiles(summaries: readonly ProfileSummary[], context: { command?: string } = {}): string {
  const lines: string[] = ['# CPU profiles', ''];
  if (context.command) lines.push('```sh', context.command, '```', '');
  lines.push(
    'Sampled by V8 (`node --cpu-prof`) over each process\'s whole life, start-up and drain included. Shares are of busy time (all samples but idle). Open a `.cpuprofile` in Chrome DevTools (Performance tab) or speedscope for the flame graph.',
    '',
  );
  if (summaries.length === 0) lines.push('No profile was written (a process that is SIGKILLed writes none).', '');
  for (const s of summaries) {
    lines.push(`## ${s.label}`, '');
    lines.push(`wall ${ms(s.wall_ms)} ms · busy ${ms(s.busy_ms)} ms (${s.sampled_ms > 0 ? pct(s.busy_ms / s.sampled_ms) : '—'} of sampled) · idle ${ms(s.idle_ms)} ms`, '');
    lines.push('| area | self ms | share of busy |', '| --- | --- | --- |');
    for (const a of s.areas.slice(0, 12)) lines.push(`| ${cell(a.area)} | ${ms(a.self_ms)} | ${pct(a.share)} |`);
    lines.push('', '**Hottest functions (self time)**', '', '| function | area | self ms | self | total |', '| --- | --- | --- | --- | --- |');
    for (const r of s.self) lines.push(`| ${cell(r.name)} | ${cell(r.area)} | ${ms(r.self_ms)} | ${pct(r.self_share)} | ${pct(r.total_share)} |`);
    if (s.project_total.length > 0) {
      lines.push('', "**The project's own functions (inclusive time: with everything they call)**", '', '| function | total ms | total | self |', '| --- | --- | --- | --- |');
      for (const r of s.project_total) lines.push(`| ${cell(r.name)} | ${ms(r.total_ms)} | ${pct(r.total_share)} | ${pct(r.self_share)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
