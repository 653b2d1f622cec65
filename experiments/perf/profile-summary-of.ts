import { readFileSync } from 'node:fs';
import { summarizeProfile } from '../../engine/profile-summary.ts';
import { renderProfiles } from '../../reports/profile.ts';
const s = summarizeProfile(JSON.parse(readFileSync(process.argv[2]!, 'utf8')), { label: 'load worker', project_root: new URL('../..', import.meta.url).pathname });
console.log(renderProfiles([s]));
