// `--set path=value`: change one field of a scenario by its path, e.g. `phases[1].rate=800` or
// `aggregator.dedup=memory`. Pure: returns a changed copy or throws an Error naming the path.
// The scenario is validated afterwards as a whole, so only the path itself is checked here.

/** "phases[1].rate" → ["phases", 1, "rate"]. */
export function parsePath(path: string): (string | number)[] {
  if (!/^[A-Za-z_][\w-]*(\[\d+\]|\.[A-Za-z_][\w-]*)*$/.test(path)) {
    throw new Error(`'${path}' is not a field path (like phases[1].rate or aggregator.batch_size)`);
  }
  const parts: (string | number)[] = [];
  for (const match of path.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)) parts.push(match[1] ?? Number(match[2]));
  return parts;
}

/** The value text as JSON when it parses (numbers, booleans, objects, lists), else as a string. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** "path=value" → [path, value]. */
export function parseAssignment(assignment: string): [string, unknown] {
  const at = assignment.indexOf('=');
  if (at <= 0) throw new Error(`--set expects path=value, got '${assignment}'`);
  return [assignment.slice(0, at).trim(), parseValue(assignment.slice(at + 1))];
}

/** Names that would reach Object.prototype rather than a field of the scenario. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

export function setPath<T>(target: T, path: string, value: unknown): T {
  const parts = parsePath(path);
  const forbidden = parts.find((part) => typeof part === 'string' && FORBIDDEN.has(part));
  if (forbidden !== undefined) throw new Error(`${path}: '${forbidden}' is not a scenario field`);
  const copy = structuredClone(target) as unknown;
  let node: unknown = copy;
  for (const [i, part] of parts.entries()) {
    const here = parts.slice(0, i + 1).reduce<string>((text, p) => (typeof p === 'number' ? `${text}[${p}]` : text ? `${text}.${p}` : p), '');
    const last = i === parts.length - 1;
    if (typeof part === 'number') {
      if (!Array.isArray(node)) throw new Error(`${here}: not a list`);
      if (part >= node.length) throw new Error(`${here}: index out of range (the list has ${node.length} item${node.length === 1 ? '' : 's'})`);
      if (last) node[part] = value;
      else node = node[part];
    } else {
      if (typeof node !== 'object' || node === null || Array.isArray(node)) throw new Error(`${here}: not an object`);
      const record = node as Record<string, unknown>;
      // A new field at the end is allowed (the validator names unknown ones); a missing middle is not.
      if (last) record[part] = value;
      else if (!Object.hasOwn(record, part)) throw new Error(`${here}: no such field`);
      else node = record[part];
    }
  }
  return copy as T;
}
