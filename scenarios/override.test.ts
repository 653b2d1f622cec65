// `--set path=value` overrides: parsePath, parseValue, parseAssignment, setPath.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from './index.ts';
import { parseAssignment, parsePath, parseValue, setPath } from './override.ts';
import { validateScenario } from './validate.ts';

function sample() {
  return {
    name: 'x',
    load: { publishers: 4, window: 8 },
    phases: [
      { name: 'warmup', rate: 100, faults: [] as unknown[] },
      { name: 'main', rate: { from: 1, to: 2 }, faults: [{ kind: 'duplicate', fraction: 0.1 }] },
    ],
    matrix: [[1, 2], [3]],
    nothing: null as unknown,
  };
}

describe('parsePath', () => {
  it('splits fields and list indexes', () => {
    expect(parsePath('name')).toEqual(['name']);
    expect(parsePath('aggregator.batch_size')).toEqual(['aggregator', 'batch_size']);
    expect(parsePath('phases[1].rate')).toEqual(['phases', 1, 'rate']);
    expect(parsePath('phases[1].faults[0].fraction')).toEqual(['phases', 1, 'faults', 0, 'fraction']);
    expect(parsePath('matrix[0][1]')).toEqual(['matrix', 0, 1]);
    expect(parsePath('a-b._c.d9')).toEqual(['a-b', '_c', 'd9']);
    expect(parsePath('phases[10]')).toEqual(['phases', 10]);
  });

  it('rejects malformed paths with a message naming the path', () => {
    for (const bad of ['', '.a', 'a.', 'a..b', '[0]', 'a[]', 'a[-1]', 'a[x]', 'a[1', 'a]1[', 'a b', '1a', 'a.1', 'a=b', 'a[0]b', 'a.[0]', 'a/b']) {
      expect(() => parsePath(bad), bad).toThrow(`'${bad}' is not a field path`);
    }
  });

  it('round-trips any well-formed path', () => {
    const field = fc.stringMatching(/^[A-Za-z_][\w-]{0,8}$/);
    const segment = fc.oneof(field.map((f) => ({ text: `.${f}`, part: f as string | number })), fc.nat(999).map((n) => ({ text: `[${n}]`, part: n as string | number })));
    fc.assert(
      fc.property(field, fc.array(segment, { maxLength: 6 }), (head, rest) => {
        const path = head + rest.map((s) => s.text).join('');
        expect(parsePath(path)).toEqual([head, ...rest.map((s) => s.part)]);
      }),
    );
  });
});

describe('parseValue', () => {
  it('parses JSON when it can', () => {
    expect(parseValue('800')).toBe(800);
    expect(parseValue('-1.5')).toBe(-1.5);
    expect(parseValue('1e3')).toBe(1000);
    expect(parseValue('0')).toBe(0);
    expect(parseValue('true')).toBe(true);
    expect(parseValue('false')).toBe(false);
    expect(parseValue('null')).toBeNull();
    expect(parseValue('{"from":1,"to":2}')).toEqual({ from: 1, to: 2 });
    expect(parseValue('[1,"a",{"b":null}]')).toEqual([1, 'a', { b: null }]);
    expect(parseValue('"quoted"')).toBe('quoted');
    expect(parseValue(' 42 ')).toBe(42);
  });

  it('falls back to the text itself', () => {
    expect(parseValue('memory')).toBe('memory');
    expect(parseValue('')).toBe('');
    expect(parseValue('lru:1000')).toBe('lru:1000');
    expect(parseValue('{not json')).toBe('{not json');
    expect(parseValue('True')).toBe('True');
    expect(parseValue('NaN')).toBe('NaN');
    expect(parseValue('Infinity')).toBe('Infinity');
    expect(parseValue("'single'")).toBe("'single'");
    expect(parseValue('0x10')).toBe('0x10');
  });

  it('gives back any JSON value from its text, and any non-JSON text unchanged', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        expect(parseValue(text)).toEqual(JSON.parse(text)); // (-0 is written as 0)
      }),
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        let json = true;
        try {
          JSON.parse(text);
        } catch {
          json = false;
        }
        if (!json) expect(parseValue(text)).toBe(text);
      }),
    );
  });
});

describe('parseAssignment', () => {
  it('splits at the first =, trims the path and parses the value', () => {
    expect(parseAssignment('phases[1].rate=800')).toEqual(['phases[1].rate', 800]);
    expect(parseAssignment('aggregator.dedup=memory')).toEqual(['aggregator.dedup', 'memory']);
    expect(parseAssignment(' load.window =16')).toEqual(['load.window', 16]);
    expect(parseAssignment('description=a=b')).toEqual(['description', 'a=b']);
    expect(parseAssignment('phases[1].rate={"from":1,"to":5}')).toEqual(['phases[1].rate', { from: 1, to: 5 }]);
    expect(parseAssignment('name=')).toEqual(['name', '']);
    expect(parseAssignment('broker.persistence="redis"')).toEqual(['broker.persistence', 'redis']);
  });

  it('rejects text without a path before =', () => {
    for (const bad of ['', 'rate', '=5', '=']) {
      expect(() => parseAssignment(bad), bad).toThrow(`--set expects path=value, got '${bad}'`);
    }
  });
});

describe('setPath', () => {
  it('sets a top-level field, a nested field and a list item', () => {
    expect(setPath(sample(), 'name', 'y').name).toBe('y');
    expect(setPath(sample(), 'load.window', 16).load).toEqual({ publishers: 4, window: 16 });
    expect(setPath(sample(), 'phases[1].rate', 800).phases[1]!.rate).toBe(800);
    expect(setPath(sample(), 'phases[1].faults[0].fraction', 0.5).phases[1]!.faults[0]).toEqual({ kind: 'duplicate', fraction: 0.5 });
    expect(setPath(sample(), 'matrix[0][1]', 9).matrix).toEqual([[1, 9], [3]]);
    expect(setPath(sample(), 'phases[0]', { name: 'w' }).phases[0]).toEqual({ name: 'w' });
    expect(setPath(sample(), 'phases[1].rate.to', 7).phases[1]!.rate).toEqual({ from: 1, to: 7 });
  });

  it('replaces a whole subtree and can set any value, including null and objects', () => {
    expect(setPath(sample(), 'load', null).load).toBeNull();
    expect(setPath(sample(), 'phases', []).phases).toEqual([]);
    expect(setPath(sample(), 'nothing', { a: [1] }).nothing).toEqual({ a: [1] });
  });

  it('changes nothing but the path', () => {
    const original = sample();
    const changed = setPath(original, 'phases[1].faults[0].fraction', 0.9);
    const expected = sample();
    expected.phases[1]!.faults[0] = { kind: 'duplicate', fraction: 0.9 };
    expect(changed).toEqual(expected);
  });

  it('allows a new field at the end (the validator names unknown ones)', () => {
    const changed = setPath(sample(), 'load.burst', 10) as ReturnType<typeof sample> & { load: { burst?: number } };
    expect(changed.load).toEqual({ publishers: 4, window: 8, burst: 10 });
    expect((setPath(sample(), 'extra', true) as Record<string, unknown>).extra).toBe(true);
    expect(setPath(sample(), 'phases[1].faults[0].kind2', 'x').phases[1]!.faults[0]).toEqual({ kind: 'duplicate', fraction: 0.1, kind2: 'x' });
  });

  it('rejects a missing field in the middle, naming the path up to it', () => {
    expect(() => setPath(sample(), 'aggregator.dedup', 'memory')).toThrow('aggregator: no such field');
    expect(() => setPath(sample(), 'load.nope.deeper', 1)).toThrow('load.nope: no such field');
    expect(() => setPath(sample(), 'phases[1].nope[0]', 1)).toThrow('phases[1].nope: no such field');
  });

  it('rejects an index out of range, naming the path and the list length (no appending)', () => {
    expect(() => setPath(sample(), 'phases[2].rate', 1)).toThrow('phases[2]: index out of range (the list has 2 items)');
    expect(() => setPath(sample(), 'phases[2]', {})).toThrow('phases[2]: index out of range (the list has 2 items)');
    expect(() => setPath(sample(), 'phases[1].faults[1].fraction', 1)).toThrow('phases[1].faults[1]: index out of range (the list has 1 item)');
    expect(() => setPath(sample(), 'phases[0].faults[0]', 1)).toThrow('phases[0].faults[0]: index out of range (the list has 0 items)');
    expect(() => setPath(sample(), 'matrix[1][1]', 1)).toThrow('matrix[1][1]: index out of range (the list has 1 item)');
  });

  it('rejects indexing something that is not a list, naming the path', () => {
    expect(() => setPath(sample(), 'load[0]', 1)).toThrow('load[0]: not a list');
    expect(() => setPath(sample(), 'name[0]', 1)).toThrow('name[0]: not a list');
    expect(() => setPath(sample(), 'phases[0].rate[0]', 1)).toThrow('phases[0].rate[0]: not a list');
    expect(() => setPath(sample(), 'nothing[0]', 1)).toThrow('nothing[0]: not a list');
  });

  it('rejects a field of something that is not an object, naming the path', () => {
    expect(() => setPath(sample(), 'phases.name', 1)).toThrow('phases.name: not an object');
    expect(() => setPath(sample(), 'name.first', 1)).toThrow('name.first: not an object');
    expect(() => setPath(sample(), 'phases[0].rate.from', 1)).toThrow('phases[0].rate.from: not an object');
    expect(() => setPath(sample(), 'nothing.x', 1)).toThrow('nothing.x: not an object');
  });

  it('rejects a malformed path before doing anything', () => {
    expect(() => setPath(sample(), 'phases[1]rate', 1)).toThrow("'phases[1]rate' is not a field path");
    expect(() => setPath(sample(), '', 1)).toThrow("'' is not a field path");
  });

  it('never mutates its input, whether it succeeds or throws', () => {
    const paths = ['name', 'load.window', 'load.new', 'phases[0].rate', 'phases[1].faults[0].fraction', 'phases[5].x', 'matrix[0][0]', 'load[0]', 'nope.x', 'name.x', 'phases[1].rate.from', 'x y'];
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), (path, value) => {
        const input = sample();
        const before = structuredClone(input);
        // A rejected path throws; only the call is inside the try, never an assertion.
        let out: unknown;
        let rejected = false;
        try {
          out = setPath(input, path, value);
        } catch {
          rejected = true;
        }
        expect(input).toEqual(before);
        if (!rejected) expect(out).not.toBe(input);
      }),
    );
  });

  it('does not share structure with its input: the copy can be changed freely', () => {
    const input = sample();
    const out = setPath(input, 'name', 'y');
    out.phases[1]!.faults.push({ kind: 'reorder', fraction: 0.5 });
    out.load.window = 1;
    expect(input.phases[1]!.faults).toHaveLength(1);
    expect(input.load.window).toBe(8);
  });

  it('an override of a shipped scenario stays a valid scenario, or is named by the validator', () => {
    const smoke = SCENARIOS.smoke!;
    const faster = setPath(smoke, 'load.window', 64);
    expect(validateScenario(faster).ok).toBe(true);
    expect(faster.load.window).toBe(64);
    expect(smoke.load.window).not.toBe(64);
    const unknown = setPath(smoke, 'load.burst', 10);
    const result = validateScenario(unknown);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toMatch(/load\.burst is not a known field/);
  });

  // `__proto__`, `constructor` and `prototype` would walk into Object.prototype (structuredClone
  // gives the copy the normal prototype) and set a field on every object in the process: such a
  // path is rejected with an error naming it, and only own fields are walked.
  const probe = '__chaosbench_override_test_polluted__';

  /** Run `body`, then report (and undo) any pollution of Object.prototype or Function.prototype by `probe`. */
  function withoutPollution(body: () => void) {
    try {
      body();
    } finally {
      const polluted = [Object.prototype, Function.prototype].filter((proto) => Object.prototype.hasOwnProperty.call(proto, probe));
      for (const proto of polluted) delete (proto as unknown as Record<string, unknown>)[probe];
      // Make a failure say what happened rather than only that nothing was thrown.
      expect(polluted.length, 'a prototype was modified').toBe(0);
      expect(({} as Record<string, unknown>)[probe]).toBeUndefined();
    }
  }

  it('refuses to walk into the prototype: __proto__.x throws, naming the path, and Object.prototype is untouched', () => {
    for (const target of [{ a: 1 }, sample(), SCENARIOS.smoke!]) {
      withoutPollution(() => {
        const path = `__proto__.${probe}`;
        expect(() => setPath(target, path, 1)).toThrow(path);
        expect(() => setPath(target, path, 1)).toThrow(/__proto__/);
      });
    }
  });

  it('refuses constructor.prototype.x: it throws, naming the path, and Object.prototype is untouched', () => {
    for (const target of [{ a: 1 }, sample(), SCENARIOS.smoke!]) {
      withoutPollution(() => {
        const path = `constructor.prototype.${probe}`;
        expect(() => setPath(target, path, 1)).toThrow(path);
        expect(() => setPath(target, path, 1)).toThrow(/constructor/);
      });
    }
  });

  it('refuses __proto__, constructor and prototype anywhere in the path, also as the last part or after an index', () => {
    const input = sample();
    const before = structuredClone(input);
    const paths = [
      '__proto__',
      'constructor',
      'prototype',
      `load.__proto__.${probe}`,
      `load.constructor.prototype.${probe}`,
      `phases[0].__proto__.${probe}`,
      `phases[1].faults[0].constructor.${probe}`,
      'load.__proto__',
      'load.constructor',
      'load.prototype',
      `prototype.${probe}`,
      `name.constructor.prototype.${probe}`,
      `nothing.__proto__.${probe}`,
    ];
    for (const path of paths) {
      withoutPollution(() => {
        expect(() => setPath(input, path, { [probe]: 1 }), path).toThrow(path);
      });
    }
    expect(input).toEqual(before);
    expect(Object.getPrototypeOf(input.load)).toBe(Object.prototype);
  });

  it('walks own fields only: inherited names such as toString or hasOwnProperty are no such field', () => {
    withoutPollution(() => {
      expect(() => setPath(sample(), `toString.${probe}`, 1)).toThrow('toString: no such field');
      expect(() => setPath(sample(), `load.hasOwnProperty.${probe}`, 1)).toThrow('load.hasOwnProperty: no such field');
      expect(() => setPath(sample(), `load.valueOf.${probe}`, 1)).toThrow('load.valueOf: no such field');
    });
  });
});
