import { describe, expect, it } from 'vitest';
import type { TheoryDocument, TheoryTable } from '../experiments/theory/types.ts';
import { anchor, formatCell, renderTable, renderTheory } from './theory.ts';

const table: TheoryTable = {
  id: 2,
  slug: 'delivery-semantics',
  title: 'Delivery semantics: at most once, at least once',
  intro: 'Intro text.',
  method: 'Method text.',
  command: 'npm run theory -- --only 2',
  seed: 42,
  columns: [
    { key: 'name', label: 'delivery', format: 'text' },
    { key: 'lost', label: 'lost', format: 'int' },
    { key: 'rate', label: 'loss rate', format: 'pct' },
    { key: 'p99', label: 'p99 ms', format: 'ms' },
    { key: 'ratio', label: 'vs first', format: 'ratio' },
  ],
  rows: [
    { name: 'QoS 0 | raw', lost: 4750, rate: 0.4524, p99: 909.3, ratio: 1 },
    { name: 'QoS 1', lost: 0, rate: 0, p99: 12.34, ratio: null },
    { name: 'seq', lost: null, rate: 'cannot order', p99: 0.05, ratio: 0.5 },
  ],
  findings: ['Finding one.'],
  duration_ms: 95_000,
  warnings: ["run 'x' was invalid"],
};

const doc: TheoryDocument = {
  schema: 'chaosbench.theory/1',
  created_at: '2026-11-25T16:00:00.000Z',
  git_sha: '0123456789abcdef0123',
  machine: { cpus: 2, cpu_model: 'Test CPU', node: 'v20.20.2', platform: 'linux x64' },
  seed: 42,
  command: 'npm run theory',
  tables: [{ ...table, id: 7, title: 'Later table', rows: [] }, table],
};

describe('theory renderer', () => {
  it('formats cells by their column', () => {
    expect(formatCell(12345.6, 'int')).toBe('12,346');
    expect(formatCell(12.34, 'ms')).toBe('12.3');
    expect(formatCell(1234.5, 'ms')).toBe('1,235');
    expect(formatCell(0.0123, 'pct')).toBe('1.23%');
    expect(formatCell(0.45, 'pct')).toBe('45.0%');
    expect(formatCell(0.00001, 'pct')).toBe('<0.01%');
    expect(formatCell(0, 'pct')).toBe('0%');
    expect(formatCell(0.84, 'ratio')).toBe('0.84×');
    expect(formatCell(null, 'int')).toBe('—');
    expect(formatCell('cannot order', 'pct')).toBe('cannot order');
  });

  it('renders a table with numeric columns right-aligned and pipes escaped', () => {
    const md = renderTable(table.columns, table.rows);
    const lines = md.split('\n');
    expect(lines[0]).toBe('| delivery | lost | loss rate | p99 ms | vs first |');
    expect(lines[1]).toBe('| :--- | ---: | ---: | ---: | ---: |');
    expect(lines[2]).toBe('| QoS 0 \\| raw | 4,750 | 45.2% | 909 | 1.00× |');
    expect(lines[3]).toBe('| QoS 1 | 0 | 0% | 12.3 | — |');
    expect(lines).toHaveLength(2 + table.rows.length);
  });

  it('renders the document in table order with contents, caveats and the command of each table', () => {
    const md = renderTheory(doc);
    expect(md.indexOf('## 2. Delivery')).toBeLessThan(md.indexOf('## 7. Later table'));
    expect(md).toContain(`2. [Delivery semantics: at most once, at least once](#${anchor('2. Delivery semantics: at most once, at least once')})`);
    expect(md).toContain('Reproduce: `npm run theory -- --only 2` (seed 42; this table took 1.6 min).');
    expect(md).toContain("- run 'x' was invalid");
    expect(md).toContain('from git 0123456789ab');
    expect(md).toMatchSnapshot();
  });

  it('makes GitHub heading anchors', () => {
    expect(anchor('2. Delivery semantics: at most once, at least once')).toBe('2-delivery-semantics-at-most-once-at-least-once');
    expect(anchor('7. Throughput against latency: batch size and events in flight')).toBe('7-throughput-against-latency-batch-size-and-events-in-flight');
  });
});
