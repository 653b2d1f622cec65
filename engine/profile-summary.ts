// Where a process spent its CPU: a pure summary of a V8 CPU profile (the .cpuprofile that
// `node --cpu-prof` writes, as `npm run bench -- --cpu-prof` does for the aggregator and the
// embedded broker); reports/profile.ts renders it as markdown. It reads nothing and writes
// nothing: the caller passes the parsed profile in. Self time is where a sample landed; inclusive ("total") time counts a
// sample once for every distinct function on its stack, so callers show what their callees cost.

/** The parts of V8's Profile (Chrome DevTools protocol) that a summary needs. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  /** µs before each sample (the first is from startTime). */
  timeDeltas?: number[];
}

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number; scriptId?: string | number };
  hitCount?: number;
  children?: number[];
}

export interface ProfileRow {
  /** "functionName (file:line)", or V8's own "(garbage collector)" etc. */
  name: string;
  area: string;
  self_ms: number;
  total_ms: number;
  /** Of busy time (everything but idle). */
  self_share: number;
  total_share: number;
}

export interface ProfileSummary {
  /** Which process: "aggregator", "broker", with its file name. */
  label: string;
  wall_ms: number;
  sampled_ms: number;
  idle_ms: number;
  busy_ms: number;
  /** Busy time per area (a package, a project folder, node internals, GC, V8), largest first. */
  areas: { area: string; self_ms: number; share: number }[];
  /** Functions by self time, largest first. */
  self: ProfileRow[];
  /** Project functions (this repository's files) by inclusive time, largest first. */
  project_total: ProfileRow[];
}

const V8_PSEUDO = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/**
 * The area a frame belongs to: the npm package for node_modules (scoped names kept whole), the
 * project's top-level folder for this repository's own files, "node internals" for node: and
 * internal URLs, and V8's pseudo frames by name.
 */
export function areaOf(url: string, functionName: string, projectRoot: string): string {
  if (url === '' && V8_PSEUDO.has(functionName)) return functionName;
  if (url === '') return '(native)';
  if (url.startsWith('node:') || url.startsWith('internal/')) return 'node internals';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = path.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const root = projectRoot.endsWith('/') ? projectRoot : `${projectRoot}/`;
  if (path.startsWith(root)) {
    const relative = path.slice(root.length);
    const slash = relative.indexOf('/');
    return slash < 0 ? relative : `${relative.slice(0, slash)}/`;
  }
  return path;
}

function shortPath(url: string, projectRoot: string): string {
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + '/node_modules/'.length);
  const root = projectRoot.endsWith('/') ? projectRoot : `${projectRoot}/`;
  return path.startsWith(root) ? path.slice(root.length) : path;
}

function frameKey(node: CpuProfileNode, projectRoot: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === '') return functionName || '(anonymous)';
  // lineNumber is 0-based in the protocol.
  return `${functionName || '(anonymous)'} (${shortPath(url, projectRoot)}:${lineNumber + 1})`;
}

/** Milliseconds of samples per node id, from the sample list and its time deltas (hitCount × mean interval without them). */
function selfTimeByNode(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // timeDeltas[i] is the time between sample i-1 and sample i: that interval is charged to sample i-1
    // (what was running until the next sample); the last sample gets the mean interval.
    const total = deltas.reduce((sum, d) => sum + Math.max(0, d), 0);
    const mean = samples.length > 1 ? (total - Math.max(0, deltas[0]!)) / (samples.length - 1) : 0;
    for (let i = 0; i < samples.length; i++) {
      const interval = i + 1 < deltas.length ? Math.max(0, deltas[i + 1]!) : mean;
      self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + interval / 1000);
    }
    return self;
  }
  const hits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  const perHit = hits > 0 ? (profile.endTime - profile.startTime) / 1000 / hits : 0;
  for (const node of profile.nodes) if (node.hitCount) self.set(node.id, node.hitCount * perHit);
  return self;
}

export interface SummarizeOptions {
  label: string;
  /** Absolute path of the repository, to tell project files from packages and to shorten paths. */
  project_root: string;
  /** Rows in each list (default 15). */
  top?: number;
}

export function summarizeProfile(profile: CpuProfile, options: SummarizeOptions): ProfileSummary {
  const top = options.top ?? 15;
  const root = options.project_root;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfByNode = selfTimeByNode(profile);

  let sampled = 0;
  let idle = 0;
  const selfByKey = new Map<string, { ms: number; area: string }>();
  const totalByKey = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, ms] of selfByNode) {
    const node = byId.get(id);
    if (!node) continue;
    sampled += ms;
    const key = frameKey(node, root);
    if (key === '(idle)') {
      idle += ms;
      continue;
    }
    const area = areaOf(node.callFrame.url, node.callFrame.functionName, root);
    const entry = selfByKey.get(key) ?? { ms: 0, area };
    entry.ms += ms;
    selfByKey.set(key, entry);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    // Inclusive: once per distinct function on the stack (recursion counted once).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!;
      const frameName = frameKey(frame, root);
      if (seen.has(frameName)) continue;
      seen.add(frameName);
      totalByKey.set(frameName, (totalByKey.get(frameName) ?? 0) + ms);
    }
  }
  const busy = sampled - idle;
  const share = (ms: number) => (busy > 0 ? ms / busy : 0);
  const row = (name: string, area: string, self: number): ProfileRow => {
    const total = totalByKey.get(name) ?? self;
    return { name, area, self_ms: self, total_ms: total, self_share: share(self), total_share: share(total) };
  };
  const projectAreas = new Set<string>();
  const areaOfKey = new Map<string, string>();
  for (const node of profile.nodes) {
    const area = areaOf(node.callFrame.url, node.callFrame.functionName, root);
    const key = frameKey(node, root);
    areaOfKey.set(key, area);
    if (node.callFrame.url.replace(/^file:\/\//, '').startsWith(root) && !node.callFrame.url.includes('/node_modules/')) projectAreas.add(key);
  }
  return {
    label: options.label,
    wall_ms: (profile.endTime - profile.startTime) / 1000,
    sampled_ms: sampled,
    idle_ms: idle,
    busy_ms: busy,
    areas: [...areas].map(([area, ms]) => ({ area, self_ms: ms, share: share(ms) })).sort((a, b) => b.self_ms - a.self_ms),
    self: [...selfByKey]
      .map(([name, { ms, area }]) => row(name, area, ms))
      .sort((a, b) => b.self_ms - a.self_ms)
      .slice(0, top),
    project_total: [...projectAreas]
      .map((name) => row(name, areaOfKey.get(name)!, selfByKey.get(name)?.ms ?? 0))
      .sort((a, b) => b.total_ms - a.total_ms)
      .slice(0, top),
  };
}
