// The theory write-up's tables as markdown: a pure function of theory.json (see
// experiments/theory/types.ts). Every number comes from the document; this file only formats.

import type { CellFormat, TheoryCell, TheoryColumn, TheoryDocument, TheoryTable } from '../experiments/theory/types.ts';

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** One cell as text: numbers by the column's format, strings as they are, null as —. */
export function formatCell(value: TheoryCell | undefined, format: CellFormat): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  switch (format) {
    case 'int':
      return grouped.format(Math.round(value));
    case 'ms':
      return value >= 100 ? grouped.format(Math.round(value)) : value.toFixed(1);
    case 'pct': {
      const pct = value * 100;
      if (pct === 0) return '0%';
      if (Math.abs(pct) < 0.01) return '<0.01%';
      return `${pct >= 10 ? pct.toFixed(1) : pct.toFixed(2)}%`;
    }
    case 'ratio':
      return `${value.toFixed(2)}×`;
    case 'float':
      return value.toFixed(2);
    case 'text':
      return String(value);
  }
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const NUMERIC: ReadonlySet<CellFormat> = new Set(['int', 'ms', 'pct', 'ratio', 'float']);

export function renderTable(columns: readonly TheoryColumn[], rows: readonly Record<string, TheoryCell>[]): string {
  const header = `| ${columns.map((c) => escapeCell(c.label)).join(' | ')} |`;
  const rule = `| ${columns.map((c) => (NUMERIC.has(c.format) ? '---:' : ':---')).join(' | ')} |`;
  const body = rows.map((row) => `| ${columns.map((c) => escapeCell(formatCell(row[c.key], c.format))).join(' | ')} |`);
  return [header, rule, ...body].join('\n');
}

const seconds = (ms: number) => (ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${Math.round(ms / 1000)} s`);

export function renderTheoryTable(table: TheoryTable): string {
  const lines = [`## ${table.id}. ${table.title}`, '', table.intro, '', renderTable(table.columns, table.rows), ''];
  if (table.findings.length > 0) {
    lines.push('**What the numbers show**', '', ...table.findings.map((f) => `- ${f}`), '');
  }
  if (table.warnings && table.warnings.length > 0) lines.push('**Caveats**', '', ...table.warnings.map((w) => `- ${w}`), '');
  lines.push(`**How it was measured.** ${table.method}`, '', `Reproduce: \`${table.command}\` (seed ${table.seed}; this table took ${seconds(table.duration_ms)}).`, '');
  return lines.join('\n');
}

export function renderTheory(doc: TheoryDocument): string {
  const tables = [...doc.tables].sort((a, b) => a.id - b.id);
  const total = tables.reduce((sum, t) => sum + t.duration_ms, 0);
  const lines = [
    '# Pub-sub log aggregation, measured',
    '',
    'The tables of a write-up on log aggregation over a publish-subscribe broker: delivery semantics, idempotency, ' +
      'event ids, ordering, failure modes, the dedup window, and the trade between throughput and latency. ' +
      'Every number is measured by small but real runs (a real MQTT broker, the reference aggregator, a real SQLite sink) ' +
      'and was produced by one command; nothing is typed in by hand. The runs are short, so treat small differences as noise ' +
      'and read the shape of each table rather than its last digit.',
    '',
    `Produced by \`${doc.command}\` at ${doc.created_at}${doc.git_sha ? ` from git ${doc.git_sha.slice(0, 12)}` : ''}, ` +
      `on ${doc.machine.cpus} × ${doc.machine.cpu_model} (${doc.machine.platform}, Node ${doc.machine.node}), seed ${doc.seed}, in ${seconds(total)}.`,
    '',
    '## Contents',
    '',
    ...tables.map((t) => `${t.id}. [${t.title}](#${anchor(`${t.id}. ${t.title}`)})`),
    '',
    ...tables.map(renderTheoryTable),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}
