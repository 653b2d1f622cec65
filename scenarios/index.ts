// Every shipped scenario, by name. Adding one: a new file plus one line here.

import type { Scenario } from './schema.ts';
import { dupStorm } from './dup-storm.ts';

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  [dupStorm.name]: dupStorm,
};

export type { Scenario } from './schema.ts';
