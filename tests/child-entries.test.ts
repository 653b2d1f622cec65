// A module that the project starts as a child process or worker thread (named by
// `new URL('./x.ts', import.meta.url)` in a source file) runs as soon as it is evaluated: importing
// one for a value starts the child's main in the importing process (the relay's child exited the
// harness with "must be forked with an IPC channel" when perf imported a constant from it). What a
// parent and its child share lives in a third module; the parent may import the child's types only.
// An entry point that starts its main only under a top-level `if` comparing import.meta.url with
// process.argv[1] (aggregator/main.ts) is also a library, and may be imported for values.
// The imports are read with TypeScript's own parser, so `import type` and `import { type X }` are
// told apart from value imports.

import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { projectTypeScriptFiles } from '../test-support/source-files.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const isTest = (file: string): boolean => file.endsWith('.test.ts');

/** Files (relative to `root`) that a non-test source file names as a child or worker entry point. */
export function childEntries(root: string, files: readonly string[], read: (file: string) => string): Set<string> {
  const entries = new Set<string>();
  const pattern = /new URL\(\s*'(\.{1,2}\/[^']+\.ts)'\s*,\s*import\.meta\.url\s*\)/g;
  for (const file of files) {
    if (isTest(file)) continue;
    for (const match of read(file).matchAll(pattern)) entries.add(relative(root, resolve(root, dirname(file), match[1]!)));
  }
  return entries;
}

/** True when the module starts itself only under a top-level `if` naming import.meta.url and process.argv[1]. */
export function guardsItsMain(file: string, text: string): boolean {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  return source.statements.some((statement) => {
    if (!ts.isIfStatement(statement)) return false;
    const condition = statement.expression.getText(source);
    return condition.includes('import.meta.url') && condition.includes('process.argv[1]');
  });
}

/** `file: specifier` for each import of `file` that brings in a value (or runs the module) from a project file in `targets`. */
export function valueImportsOf(root: string, file: string, text: string, targets: ReadonlySet<string>): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    let typeOnly = false;
    if (ts.isImportDeclaration(statement)) {
      specifier = statement.moduleSpecifier;
      const clause = statement.importClause;
      if (clause !== undefined) {
        const bindings = clause.namedBindings;
        typeOnly =
          clause.isTypeOnly ||
          (clause.name === undefined &&
            bindings !== undefined &&
            ts.isNamedImports(bindings) &&
            bindings.elements.length > 0 &&
            bindings.elements.every((element) => element.isTypeOnly));
      }
    } else if (ts.isExportDeclaration(statement)) {
      specifier = statement.moduleSpecifier;
      typeOnly = statement.isTypeOnly;
    }
    if (specifier === undefined || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    const target = relative(root, resolve(root, dirname(file), specifier.text));
    if (targets.has(target) && !typeOnly) found.push(`${file}: ${specifier.text}`);
  }
  return found;
}

describe('child-process and worker entry points', () => {
  it('tells a value import from a type-only one', () => {
    const targets = new Set(['child.ts']);
    const text = [
      "import { RUN } from './child.ts';",
      "import type { A } from './child.ts';",
      "import { type B, type C } from './child.ts';",
      "import { type D, E } from './child.ts';",
      "import './child.ts';",
      "export { F } from './child.ts';",
      "export type { G } from './child.ts';",
      "import { H } from './other.ts';",
    ].join('\n');
    expect(valueImportsOf('/r', 'parent.ts', text, targets)).toEqual([
      'parent.ts: ./child.ts',
      'parent.ts: ./child.ts',
      'parent.ts: ./child.ts',
      'parent.ts: ./child.ts',
    ]);
  });

  it('tells a guarded main from one that runs on import', () => {
    expect(guardsItsMain('a.ts', "if (process.argv[1] && import.meta.url.endsWith(process.argv[1])) {\n  main();\n}")).toBe(true);
    expect(guardsItsMain('b.ts', 'main();')).toBe(false);
    expect(guardsItsMain('c.ts', 'function f() {\n  if (import.meta.url === process.argv[1]) main();\n}')).toBe(false);
  });

  it('are imported by no module of the project except for their types', () => {
    const files = projectTypeScriptFiles(ROOT).map((file) => relative(ROOT, file));
    const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
    const entries = new Set([...childEntries(ROOT, files, read)].filter((file) => !guardsItsMain(file, read(file))));
    // The scan saw the project's children, not an empty list.
    expect(entries).toContain(join('engine', 'broker', 'relay-process.ts'));
    expect(entries).toContain(join('engine', 'broker', 'embedded-process.ts'));
    const offending = files.flatMap((file) => valueImportsOf(ROOT, file, read(file), entries));
    expect(offending).toEqual([]);
  });
});
