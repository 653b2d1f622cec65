#!/usr/bin/env node
// The `chaosbench` command of an installed package (`npx chaosbench bench --scenario dup-storm`).
// The TypeScript loader is registered in this very process and the commands run here, not in a
// child: Ctrl-C and kill reach the harness directly. Plain JS so that it needs no loader itself.
import { register } from 'tsx/esm/api';

register();
await import('../commands/chaosbench.ts');
