// Scenario files (JSON, YAML) and the shipped scenario table.

import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { SCENARIOS, type Scenario } from './index.ts';
import { isScenarioFile, loadScenarioFile } from './load.ts';
import { validateScenario } from './validate.ts';
import { parseDedupSpec } from '../aggregator/dedup/registry.ts';
import { tempDir } from '../test-support/temp-dirs.ts';

const dir = tempDir('load-test');

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('isScenarioFile', () => {
  it('is true for .json, .yaml and .yml names (any case) and for anything with a slash', () => {
    for (const value of ['my.json', 'my.yaml', 'my.yml', 'MY.JSON', 'x.YmL', './smoke', 'dir/smoke', '/abs/path', '../x.txt', 'a.b.json']) {
      expect(isScenarioFile(value), value).toBe(true);
    }
  });

  it('is false for the name of a shipped scenario and other bare names', () => {
    for (const value of [...Object.keys(SCENARIOS), 'smoke', 'json', 'yaml', 'x.txt', 'x.json.bak', 'x.jsonl', 'x.yamlx', '']) {
      expect(isScenarioFile(value), value).toBe(false);
    }
  });
});

describe('loadScenarioFile', () => {
  const shipped = Object.values(SCENARIOS);

  it.each(shipped.map((s) => [s.name, s] as const))('loads %s from JSON, deep-equal and valid', (name, scenario) => {
    const path = write(`${name}.json`, JSON.stringify(scenario, null, 2));
    const loaded = loadScenarioFile(path);
    expect(loaded).toEqual(scenario);
    const result = validateScenario(loaded);
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it.each(shipped.map((s) => [s.name, s] as const))('loads %s from YAML (.yaml and .yml), deep-equal and valid', (name, scenario) => {
    for (const extension of ['yaml', 'yml', 'YAML']) {
      const path = write(`${name}.${extension}`, toYaml(scenario));
      const loaded = loadScenarioFile(path);
      expect(loaded).toEqual(scenario);
      const result = validateScenario(loaded);
      expect(result.ok, JSON.stringify(result)).toBe(true);
    }
  });

  it('reads YAML with comments and flow collections', () => {
    const text = [
      '# a hand-written scenario (not validated here)',
      'name: tiny   # trailing comment',
      'seed: 7',
      'phases:',
      '  - { name: warmup, duration_s: 2, rate: 500, faults: [] }',
      '  - name: main',
      '    duration_s: 10',
      '    rate: { from: 100, to: 1000 }',
      '    faults: [{ kind: reorder, fraction: 0.05, window: 20 }]',
      'checks: []',
      '',
    ].join('\n');
    expect(loadScenarioFile(write('tiny.yaml', text))).toEqual({
      name: 'tiny',
      seed: 7,
      phases: [
        { name: 'warmup', duration_s: 2, rate: 500, faults: [] },
        { name: 'main', duration_s: 10, rate: { from: 100, to: 1000 }, faults: [{ kind: 'reorder', fraction: 0.05, window: 20 }] },
      ],
      checks: [],
    });
  });

  it('gives the parsed value without validating it (validation is the caller\'s)', () => {
    expect(loadScenarioFile(write('partial.json', '{"name": "partial"}'))).toEqual({ name: 'partial' });
    expect(loadScenarioFile(write('list.yaml', '- 1\n- 2\n'))).toEqual([1, 2]);
  });

  it('names the file for a YAML syntax error, with the line', () => {
    const path = write('broken.yaml', 'name: smoke\nphases: [unclosed\nseed: 1\n');
    expect(() => loadScenarioFile(path)).toThrow(`scenario file ${path} does not parse: `);
    expect(() => loadScenarioFile(path)).toThrow(/at line \d+, column \d+/);
    // One line: the parser's pretty excerpt is cut off.
    try {
      loadScenarioFile(path);
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('names the file for a YAML structure error', () => {
    const path = write('indent.yml', 'a: 1\n  b: 2\n');
    expect(() => loadScenarioFile(path)).toThrow(`scenario file ${path} does not parse: `);
  });

  it('names the file for a JSON syntax error', () => {
    const path = write('broken.json', '{"name": "smoke",}');
    expect(() => loadScenarioFile(path)).toThrow(`scenario file ${path} does not parse: `);
    const empty = write('empty.json', '');
    expect(() => loadScenarioFile(empty)).toThrow(`scenario file ${empty} does not parse: `);
  });

  it('does not read YAML in a .json file', () => {
    const path = write('yaml-in.json', toYaml(SCENARIOS.smoke!));
    expect(() => loadScenarioFile(path)).toThrow(`scenario file ${path} does not parse`);
  });

  it('names the file and ENOENT when it does not exist', () => {
    const path = join(dir, 'missing.yaml');
    expect(() => loadScenarioFile(path)).toThrow(`cannot read scenario file ${path}: ENOENT`);
  });

  it('names the file when it is a directory', () => {
    const sub = mkdtempSync(join(dir, 'sub-'));
    expect(() => loadScenarioFile(sub)).toThrow(`cannot read scenario file ${sub}: EISDIR`);
  });

  it('rejects an unknown extension, naming the file', () => {
    for (const name of ['scenario.txt', 'scenario', 'scenario.json5', 'scenario.toml']) {
      const path = write(name, JSON.stringify(SCENARIOS.smoke));
      expect(() => loadScenarioFile(path), name).toThrow(`scenario file ${path}: expected a .json, .yaml or .yml file`);
    }
  });
});

describe('shipped scenarios', () => {
  const all = Object.entries(SCENARIOS);

  it('has scenarios', () => {
    expect(all.length).toBeGreaterThan(0);
  });

  it.each(all)('%s passes validateScenario, unchanged', (_key, scenario) => {
    const result = validateScenario(scenario);
    expect(result.ok ? [] : result.errors).toEqual([]);
    expect(result).toEqual({ ok: true, scenario, dedup: parseDedupSpec(scenario.aggregator.dedup) });
  });

  it('is keyed by name, with a non-empty description for each', () => {
    for (const [key, scenario] of all) {
      expect(scenario.name).toBe(key);
      expect(scenario.name.length).toBeGreaterThan(0);
      expect(typeof scenario.description).toBe('string');
      expect(scenario.description.trim().length, key).toBeGreaterThan(0);
    }
  });

  it('lists every scenario module of scenarios/shipped/ exactly once, with unique names', async () => {
    // SCENARIOS is built with Object.fromEntries, which would hide two scenarios with one name
    // (the later wins) and knows nothing of a file that was never added to the list: look at the
    // modules themselves.
    const shipped = join(dirname(fileURLToPath(import.meta.url)), 'shipped');
    const found: Scenario[] = [];
    for (const file of readdirSync(shipped)) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
      const module = (await import(pathToFileURL(join(shipped, file)).href)) as Record<string, unknown>;
      for (const value of Object.values(module)) {
        if (typeof value === 'object' && value !== null && 'name' in value && 'phases' in value && 'load' in value && 'checks' in value) {
          found.push(value as Scenario);
        }
      }
    }
    const names = found.map((s) => s.name);
    expect(new Set(names).size, `duplicate names in ${names.join(', ')}`).toBe(names.length);
    expect([...names].sort()).toEqual(Object.keys(SCENARIOS).sort());
    for (const scenario of found) expect(SCENARIOS[scenario.name]).toBe(scenario);
  });
});
