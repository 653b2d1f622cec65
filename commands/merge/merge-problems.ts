// Can these result.json files be merged into one run? Every reason they cannot, at once, each
// naming the parts and what differs: another scenario or settings (seeds aside, as side-by-side
// replicates may differ), another aggregator kind, the same run given twice, shards missing, given
// twice or mixed with whole runs. Pure; `npm run merge` refuses with exit 2 on any of them.

import { isDeepStrictEqual } from 'node:util';
import { formatShard } from '../../engine/load/shard.ts';
import type { RunResult } from '../../engine/result.ts';
import { isObject, type ResultPart } from '../../engine/result-file.ts';

/** Paths where two JSON values differ (at most `limit`), e.g. `phases[1].rate`. */
export function differingPaths(a: unknown, b: unknown, path = '', limit = 10): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  const out: string[] = [];
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length && out.length < limit; i++) out.push(...differingPaths(a[i], b[i], `${path}[${i}]`, limit - out.length));
    return out;
  }
  if (isObject(a) && isObject(b)) {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
      if (out.length >= limit) break;
      out.push(...differingPaths(a[key], b[key], path === '' ? key : `${path}.${key}`, limit - out.length));
    }
    return out;
  }
  return [path === '' ? '(the whole value)' : path];
}

function valueAt(root: unknown, path: string): unknown {
  let value: unknown = root;
  for (const step of path.match(/[^.[\]]+/g) ?? []) {
    if (Array.isArray(value)) value = value[Number(step)];
    else if (isObject(value)) value = value[step];
    else return undefined;
  }
  return value;
}

export function mergeProblems(parts: readonly ResultPart[]): string[] {
  const problems: string[] = [];
  if (parts.length < 2) return [`merging needs at least two result.json files, got ${parts.length}`];
  const [first, ...rest] = parts as [ResultPart, ...ResultPart[]];
  const a = first.result;
  const sharded = parts.filter((p) => p.result.shard !== undefined);

  for (const part of rest) {
    const b = part.result;
    if (b.scenario.name !== a.scenario.name) {
      problems.push(`scenario differs: ${first.label} ran '${a.scenario.name}', ${part.label} ran '${b.scenario.name}'`);
      continue;
    }
    // Seeds may differ between side-by-side runs (replicates); shards of one run share theirs (below).
    const withoutSeed = (s: RunResult['scenario']) => ({ ...s, seed: 0 });
    for (const path of differingPaths(withoutSeed(a.scenario), withoutSeed(b.scenario))) {
      problems.push(
        `scenario.${path} differs: ${JSON.stringify(valueAt(a.scenario, path)) ?? 'missing'} in ${first.label}, ${JSON.stringify(valueAt(b.scenario, path)) ?? 'missing'} in ${part.label}`,
      );
    }
    if (b.aggregator.kind !== a.aggregator.kind) {
      problems.push(`aggregator.kind differs: '${a.aggregator.kind}' in ${first.label}, '${b.aggregator.kind}' in ${part.label} (a bare subscriber's figures do not add to the aggregator's)`);
    }
  }

  // The same file given twice (or copied) would double every figure.
  for (let i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      const [x, y] = [parts[i]!.result, parts[j]!.result];
      if (x.run_id === y.run_id && x.started_at === y.started_at && isDeepStrictEqual(x.shard, y.shard) && x.latency.end_to_end.histogram === y.latency.end_to_end.histogram) {
        problems.push(`${parts[i]!.label} and ${parts[j]!.label} are the same run (run_id ${x.run_id}, started ${x.started_at}): merging it with itself would count everything twice`);
      }
    }
  }

  if (sharded.length > 0) {
    if (sharded.length < parts.length) {
      const plain = parts.filter((p) => p.result.shard === undefined).map((p) => p.label);
      problems.push(`some parts are shards (--shard) and some are not (${plain.join(', ')}): merge the shards of one run, or whole runs, not both`);
    } else {
      const counts = [...new Set(parts.map((p) => p.result.shard!.count))];
      if (counts.length > 1) {
        problems.push(`the parts come from runs split differently: ${parts.map((p) => `${p.label} is shard ${formatShard(p.result.shard!)}`).join(', ')}`);
      } else {
        const n = counts[0]!;
        const seen = new Map<number, string[]>();
        for (const p of parts) seen.set(p.result.shard!.index, [...(seen.get(p.result.shard!.index) ?? []), p.label]);
        for (const [index, labels] of seen) if (labels.length > 1) problems.push(`shard ${index}/${n} appears more than once: ${labels.join(', ')}`);
        const missing = Array.from({ length: n }, (_, i) => i + 1).filter((i) => !seen.has(i));
        if (missing.length > 0) problems.push(`shard${missing.length === 1 ? '' : 's'} ${missing.map((i) => `${i}/${n}`).join(', ')} missing: a run split ${n} ways merges from all ${n} shards`);
      }
      const seeds = [...new Set(parts.map((p) => p.result.seed))];
      if (seeds.length > 1) problems.push(`the shards of one run share one seed, got ${parts.map((p) => `${p.result.seed} in ${p.label}`).join(', ')}`);
    }
  }
  return problems;
}
