// Reads the CPU profiles a `--cpu-prof` run left under <out>/profiles/<process>/ (aggregator,
// broker, harness) and writes their summary, profile.md, beside them (the summary itself is
// engine/profile-summary.ts and its markdown reports/profile.ts, both pure).

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './profile-summary.ts';
import { renderProfiles } from '../reports/profile.ts';

const PROJECT_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export const PROFILES_DIR = 'profiles';

/** Summaries of every .cpuprofile under <outDir>/profiles/<process>/, labelled "<process> (<file>)". */
export function readProfiles(outDir: string): ProfileSummary[] {
  const dir = join(outDir, PROFILES_DIR);
  if (!existsSync(dir)) return [];
  const summaries: ProfileSummary[] = [];
  for (const role of readdirSync(dir).sort()) {
    const roleDir = join(dir, role);
    let files: string[];
    try {
      files = readdirSync(roleDir).filter((f) => f.endsWith('.cpuprofile')).sort();
    } catch {
      continue;
    }
    for (const file of files) {
      const profile = JSON.parse(readFileSync(join(roleDir, file), 'utf8')) as CpuProfile;
      // Node names them CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main
      // thread, others are worker threads (tsx's module loader, mostly idle after start-up).
      const ids = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file);
      // The harness's own threads are named by what they are: main-thread, load-worker-<n>.
      const who = ids ? `pid ${ids[1]}, ${ids[2] === '0' ? 'main thread' : `worker thread ${ids[2]}`}` : file.replace(/\.cpuprofile$/, '').replaceAll('-', ' ');
      summaries.push(summarizeProfile(profile, { label: `${role}, ${who} (${PROFILES_DIR}/${role}/${file})`, project_root: PROJECT_ROOT }));
    }
  }
  return summaries;
}

/** Writes <outDir>/profiles/profile.md and returns its path. */
export function writeProfileReport(outDir: string, command?: string): string {
  const path = join(outDir, PROFILES_DIR, 'profile.md');
  writeFileSync(path, `${renderProfiles(readProfiles(outDir), command ? { command } : {})}\n`);
  return path;
}
