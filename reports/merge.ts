// The report of a merged result.json (commands/merge/merge.ts): the ordinary report (markdown.ts, files.ts)
// with a section naming the parts it was merged from and what in it is exact. Pure.

import type { MergedRunResult } from '../engine/result.ts';
import { reportFiles } from './files.ts';
import { htmlTable, renderHtmlReport } from './html.ts';
import { renderSummary, type Table } from './markdown.ts';
import { escapeXml } from './svg.ts';

const fmt = (value: number, digits = 1) => (Number.isInteger(value) ? String(value) : value.toFixed(digits));

/** The parts of a merged run as a table (header, rows), and what the merge says about them. */
function mergeSection(result: MergedRunResult): { heading: string; intro: string; table: Table; exact: string } {
  const parts = result.merged_from;
  const sharded = parts.some((p) => p.shard !== null);
  return {
    heading: `Merged from ${parts.length} ${sharded ? 'shards' : 'runs'}`,
    intro: sharded
      ? `Each shard published its share of the scenario's publishers (\`--shard I/N\`) to its own topics, consumed by its own aggregator; together they published the whole schedule once.`
      : 'Each part ran the whole scenario; the merged load is their sum.',
    table: [
      ['part', 'started', 'machine', 'broker', 'published', 'committed', 'lost', 'offered ev/s', 'p50 ms', 'p99 ms', 'generator lag p99 ms', 'checks', 'valid'],
      parts.map((p) => [
        `${p.shard !== null ? `shard ${p.shard} · ` : ''}\`${p.path}\``,
        p.started_at,
        `${p.machine.cpus} × ${p.machine.cpu_model}`,
        p.broker.kind === 'external' ? p.broker.url : 'embedded',
        p.published,
        p.unique_committed,
        p.lost,
        fmt(p.offered_per_s, 0),
        fmt(p.latency_p50_ms, 3),
        fmt(p.latency_p99_ms, 3),
        fmt(p.generator_lag_p99_ms, 3),
        p.passed ? 'pass' : '**FAIL**',
        p.valid ? 'yes' : '**no**',
      ]),
    ],
    exact:
      'Exact: every ledger count, and the latency histograms (overall, per phase, publish → PUBACK), which are added bucket by bucket, so the percentiles above are those of all the parts\' events together. ' +
      'Each part measured end-to-end latency against its own aggregator on its own machine, one clock per part; the clocks of different machines are never compared. ' +
      'Upper bounds (the worst part): per-second p99 in the timeline, generator lag p99 and recovery. The timeline is summed by seconds since each part\'s own start, so it is only as aligned as the parts\' starts were.',
  };
}

export function renderMergeSection(result: MergedRunResult): string {
  const section = mergeSection(result);
  const [header, rows] = section.table;
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [`## ${section.heading}`, '', section.intro, '', line(header), line(header.map(() => '---')), ...rows.map(line), '', section.exact, ''].join('\n');
}

/** The same section in report.html. */
function mergeSectionHtml(result: MergedRunResult): string {
  const section = mergeSection(result);
  return [`<h2 id="merged">${escapeXml(section.heading)}</h2>`, `<p class="note">${escapeXml(section.intro.replace(/`/g, ''))}</p>`, htmlTable(section.table), `<p class="note">${escapeXml(section.exact)}</p>`].join('\n');
}

/** report.md and report.html with the merge section after the title block; every other file as reportFiles renders it. */
export function mergedReportFiles(result: MergedRunResult): Record<string, string> {
  const files = reportFiles(result);
  const report = files['report.md']!;
  const at = report.indexOf('\n## ');
  files['report.md'] = at < 0 ? `${report}\n${renderMergeSection(result)}` : `${report.slice(0, at + 1)}${renderMergeSection(result)}\n${report.slice(at + 1)}`;
  files['report.html'] = renderHtmlReport(result, { sections: [mergeSectionHtml(result)] });
  return files;
}

/** The terminal summary of a merged run. */
export function renderMergeSummary(result: MergedRunResult): string {
  const parts = result.merged_from;
  return [`merged ${parts.length} ${parts.some((p) => p.shard !== null) ? 'shards' : 'runs'}: ${parts.map((p) => (p.shard !== null ? `shard ${p.shard}` : p.run_id)).join(', ')}`, renderSummary(result)].join('\n');
}
