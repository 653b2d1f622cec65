// Every relative link in README.md and the markdown under docs/ names a file that exists, and a
// link with a #fragment names a heading of that file (GitHub's anchor for it). The docs point at
// each other and at the code; when a section moves or a file is renamed, this fails instead of a
// reader finding a dead link. Links inside code (fenced blocks, `spans`) are text, not links; but a
// code span that is a path in one of the repository's folders (`engine/run.ts`, `aggregator/sink/`)
// must exist too, so that the docs follow the code when it moves.

import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test-support/temp-dirs.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** README.md and every .md file under docs/, as absolute paths. */
function markdownFiles(root: string): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return walk(path);
      return entry.name.endsWith('.md') ? [path] : [];
    });
  return [join(root, 'README.md'), ...walk(join(root, 'docs'))];
}

/** The text a reader sees as prose: fenced code blocks and inline code spans blanked out. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces as '-', repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const [, heading] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = heading!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Each broken relative link of a markdown file, as "file: target (why)". */
function brokenLinks(file: string, root: string): string[] {
  const broken: string[] = [];
  const name = relative(root, file);
  for (const [, target] of prose(readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto:: not a file here
    const [path = '', fragment] = target!.split('#', 2);
    const linked = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
    let exists = true;
    try {
      statSync(linked);
    } catch {
      exists = false;
    }
    if (!exists) {
      broken.push(`${name}: ${target} (no such file)`);
      continue;
    }
    if (fragment === undefined) continue;
    if (!linked.endsWith('.md') || !anchorsOf(readFileSync(linked, 'utf8')).has(fragment)) {
      broken.push(`${name}: ${target} (no heading #${fragment} in ${relative(root, linked)})`);
    }
  }
  return broken;
}

/** The repository's own top-level folders, which a path in the docs starts with. */
function repositoryFolders(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== '.git')
    .map((entry) => entry.name);
}

/**
 * Each code span of a markdown file that names a path in the repository (starts with one of its
 * folders) that does not exist. A span with a placeholder or a pattern (`reports/out/<run>/`,
 * `scenarios/*.ts`) names no one file and is left alone.
 */
function missingPaths(file: string, root: string): string[] {
  const folders = repositoryFolders(root);
  const spans = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '').matchAll(/`([^`\n]+)`/g);
  return [...spans]
    .map(([, span]) => span!)
    .filter((span) => /^[\w.-]+\/[\w./-]*$/.test(span) && folders.includes(span.split('/')[0]!))
    .filter((span) => {
      try {
        statSync(join(root, span));
        return false;
      } catch {
        return true;
      }
    })
    .map((span) => `${relative(root, file)}: ${span}`);
}

describe('links in README.md and docs/', () => {
  it('every relative link names a file, and every #fragment a heading of it', () => {
    const files = markdownFiles(ROOT);
    expect(files.length).toBeGreaterThan(1);
    expect(files.flatMap((file) => brokenLinks(file, ROOT))).toEqual([]);
  });

  it('every repository path named in a code span exists', () => {
    expect(markdownFiles(ROOT).flatMap((file) => missingPaths(file, ROOT))).toEqual([]);
  });

  const scratch = tempDir('links');

  it('reports a missing file and a missing heading, and passes links inside code', () => {
    mkdirSync(join(scratch, 'docs'));
    writeFileSync(join(scratch, 'docs', 'page.md'), '# Page\n\n## The rules, in short (`v1`)\n');
    writeFileSync(join(scratch, 'README.md'), [
      '# Top',
      '',
      'See [the page](docs/page.md#the-rules-in-short-v1), [gone](docs/gone.md), [nowhere](docs/page.md#nowhere),',
      '[here](#top), [the web](https://example.com/x.md) and `[code](docs/gone.md)`.',
      '',
      '```',
      '[fenced](docs/gone.md)',
      '```',
    ].join('\n'));
    expect(markdownFiles(scratch).flatMap((file) => brokenLinks(file, scratch))).toEqual([
      'README.md: docs/gone.md (no such file)',
      'README.md: docs/page.md#nowhere (no heading #nowhere in docs/page.md)',
    ]);
  });

  it('reports a code span naming a repository path that does not exist, not a placeholder or a pattern', () => {
    const root = join(scratch, 'paths');
    mkdirSync(join(root, 'docs'), { recursive: true });
    writeFileSync(join(root, 'docs', 'page.md'), '');
    writeFileSync(join(root, 'docs', 'paths.md'), [
      'Code: `docs/page.md`, `docs/`, `docs/moved.ts`, `docs/<run>/result.json`, `docs/*.md`, `result.json`,',
      '`npm run bench -- --out docs/x`.',
    ].join('\n'));
    expect(missingPaths(join(root, 'docs', 'paths.md'), root)).toEqual(['docs/paths.md: docs/moved.ts']);
  });
});
