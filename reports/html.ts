// report.html, compare.html and gate.html: one self-contained page each, pure functions of the same
// data as their markdown (result.json, compare.json, gate.json). No script, no external URL, no
// font or stylesheet to fetch: CSS inline, charts as inline SVG (svg.ts), and a Content-Security-
// Policy that forbids loading anything, so the page shows the same offline. Every string that comes
// from the data (scenario and phase names, findings, errors, labels) is escaped.

import { EXIT, EXIT_MEANING, exitOfVerdict, type ExitCode } from '../cli/exit.ts';
import type { Summary } from '../commands/campaign/summary.ts';
import { runVerdict, type RunResult } from '../engine/result.ts';
import { atCapacityTableData, runsTableData, summarizeVariants, variantTableData, type CompareReport, type VariantSummary } from './compare.ts';
import { decisionTableData, OUTCOME_LINE, type GateReport } from './gate.ts';
import { costTable, costText, ledgerTable, phaseTable, recoveryTable, selfReportedTable, verdictLine, type Table } from './markdown.ts';
import { backlogSvg, escapeXml as esc, latencySpectrumSvg, rangeBarSvg, timelineSvg, type RangeBar } from './svg.ts';

/** Nothing may be fetched: no script at all, styles only inline, images only data: URLs. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const CSS = `
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 16px 24px 48px; color: #1a1a1a; background: #ffffff; }
h1 { font-size: 22px; margin: 18px 0 6px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #dddddd; padding-bottom: 4px; }
.verdict { border-radius: 6px; padding: 12px 16px; margin: 8px 0 12px; border: 2px solid; }
.verdict .status { font-size: 26px; font-weight: bold; margin-right: 12px; }
.verdict.pass { background: #eaf7ea; border-color: #2ca02c; } .verdict.fail { background: #fdecec; border-color: #d62728; } .verdict.invalid { background: #fff6e0; border-color: #e69500; } .verdict.interrupted { background: #eef0f4; border-color: #6b7280; }
.verdict p { margin: 6px 0 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555555; font-size: 13px; } .self { color: #7a5a00; }
figure { margin: 10px 0 18px; } figure svg { max-width: 100%; height: auto; border: 1px solid #eeeeee; }
pre, code { font-family: ui-monospace, monospace; font-size: 12px; } pre { background: #f6f6f6; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
`.trim();

/** A whole page: the title and body given, the inline CSS and the policy that forbids any fetch. */
export function htmlPage(title: string, body: readonly string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${esc(CONTENT_SECURITY_POLICY)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No favicon request either.
    '<link rel="icon" href="data:,">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/**
 * A table cell from the markdown renderers' cells: escaped, then their two marks of inline markup
 * (**strong** and `code`) as HTML. Numbers are right-aligned.
 */
function cellHtml(value: string | number, tag: 'td' | 'th'): string {
  const text = String(value);
  const html = esc(text)
    .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
    .replace(/`([^`]+)`/g, '<code>$1</code>');
  const numeric = tag === 'td' && /^-?[\d.,]+( ?%|×)?$/.test(text);
  return `<${tag}${numeric ? ' class="num"' : ''}>${html}</${tag}>`;
}

export function htmlTable([header, rows]: Table, cls = ''): string {
  return [
    `<table${cls ? ` class="${esc(cls)}"` : ''}>`,
    `<thead><tr>${header.map((h) => cellHtml(h, 'th')).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((row) => `<tr>${row.map((v) => cellHtml(v, 'td')).join('')}</tr>`),
    '</tbody>',
    '</table>',
  ].join('\n');
}

const figure = (svg: string, caption: string) => `<figure>\n${svg}<figcaption class="note">${esc(caption)}</figcaption>\n</figure>`;

/** A chart of a run, or where it cannot be drawn (an old or damaged result.json), why: the rest of the page still renders. */
function chart(name: string, render: () => string, caption: string): string {
  try {
    return figure(render(), caption);
  } catch (error) {
    return `<figure class="missing"><p class="note">${esc(`${name}: cannot be drawn from this result.json: ${(error as Error).message}`)}</p></figure>`;
  }
}
const paragraph = (text: string, cls = 'note') => `<p${cls ? ` class="${cls}"` : ''}>${esc(text)}</p>`;
const list = (items: readonly string[]) => (items.length === 0 ? '' : `<ul>\n${items.map((item) => `<li>${esc(item)}</li>`).join('\n')}\n</ul>`);

type VerdictKind = 'pass' | 'fail' | 'invalid' | 'interrupted';

function verdictBox(kind: VerdictKind, status: string, detail: string, exit: ExitCode | number, extra: readonly string[] = []): string {
  const meaning = (EXIT_MEANING as Record<number, string>)[exit] ?? 'unknown';
  return [
    `<section class="verdict ${kind}" data-verdict="${kind}">`,
    `<span class="status">${esc(status)}</span><span class="detail">${esc(detail)}</span>`,
    ...extra.map((line) => `<p>${esc(line)}</p>`),
    `<p>exit code <strong data-exit="${exit}">${exit}</strong>: ${esc(meaning)}</p>`,
    '</section>',
  ].join('\n');
}

// ---------------------------------------------------------------- a run (report.html)

/** What the page of a run adds after its run line: the merge's section of parts, for a merged run. */
export interface RunPageExtras {
  /** HTML sections put after the run line (already escaped: built with htmlTable and friends). */
  sections?: readonly string[];
}

export function renderHtmlReport(result: RunResult, extras: RunPageExtras = {}): string {
  const s = result.scenario;
  // The verdict and exit code as bench gives them (runVerdict): lost events FAIL even an invalid run.
  const kind: VerdictKind = runVerdict(result);
  // verdictLine is markdown: its status in bold first, then the detail after " — ".
  const line = verdictLine(result).replace(/\*\*/g, '');
  const dash = line.indexOf(' — ');
  const [status, detail] = dash < 0 ? [line, ''] : [line.slice(0, dash), line.slice(dash)];
  // PASS and INVALID RUN say whether the run is valid (and why not); FAIL does not.
  const body: string[] = [
    verdictBox(kind, status, detail, exitOfVerdict(kind, result.interrupted), kind === 'fail' && result.valid ? ['run valid'] : []),
    `<h1>chaosbench: ${esc(s.name)}</h1>`,
    paragraph(s.description ?? '', ''),
    paragraph(
      `Run ${result.run_id} · started ${result.started_at} · ${result.duration_s} s · seed ${result.seed} · git ${result.git_sha} · broker ${result.broker.kind} (${result.broker.url})${result.broker.software ? ` — ${result.broker.software}` : ''} · ${result.aggregator.target ? `target ${result.aggregator.target.command.join(' ')}` : result.aggregator.kind === 'none' ? 'bare subscriber' : `dedup ${s.aggregator.dedup}, sink mode ${s.aggregator.sink_mode}`}`,
    ),
    ...(extras.sections ?? []),
  ];
  if (result.findings.length > 0) body.push('<h2 id="findings">Findings</h2>', list(result.findings));
  body.push(
    '<h2 id="checks">Checks</h2>',
    htmlTable([['check', 'actual', 'result'], result.checks.map((c) => [`${c.metric} ${c.op} ${c.value}`, c.actual === null ? 'not measured' : c.actual, c.passed ? 'pass' : '**FAIL**'])]),
    '<h2 id="ledger">Ledger (harness records vs final read of the sink)</h2>',
    htmlTable(ledgerTable(result), 'ledger'),
  );
  if (result.aggregator.target) body.push(paragraph("The target reports no counters of its own: every figure above is the harness's."));
  else body.push(paragraph('Self-reported by the aggregator (its own word: not used for any figure above, nor for a check):', 'note self'), htmlTable(selfReportedTable(result), 'self-reported'));

  const t = result.throughput;
  body.push(
    '<h2 id="charts">Charts</h2>',
    paragraph(`Throughput: offered ${Math.round(t.offered_per_s)} ev/s, committed ${Math.round(t.committed_per_s)} ev/s (target ${Math.round(t.target_per_s)}). Shaded: phases with faults; green line: recovered; red: not recovered within the run.`),
    chart('latency by percentile', () => latencySpectrumSvg(result), 'End-to-end latency (first sink commit − intended send time) by percentile, overall, per counted phase and publish→PUBACK.'),
    chart('throughput and p99', () => timelineSvg(result), 'Offered and consumed per second, and p99 of each second\'s first commits.'),
    chart('backlog', () => backlogSvg(result), 'Backlog: publishes handed to the broker and not yet acknowledged by the subscriber.'),
    '<h2 id="phases">Phases and faults</h2>',
    htmlTable(phaseTable(result), 'phases'),
  );
  const [recoveryHeader, recoveryRows] = recoveryTable(result);
  if (recoveryRows.length > 0) body.push('<h2 id="recovery">Recovery</h2>', htmlTable([recoveryHeader, recoveryRows], 'recovery'));
  if (result.cost) {
    const text = costText(result.cost);
    body.push('<h2 id="cost">Cost</h2>', paragraph(text.before), htmlTable(costTable(result.cost), 'cost'), ...text.after.map((line) => paragraph(line)));
  }
  return htmlPage(`chaosbench ${status}: ${s.name} (${result.run_id})`, body);
}

// ---------------------------------------------------------------- compare.html

const noCell = (text: string) => text;

function summaryBar(label: string, summary: Summary | null, note?: string): RangeBar {
  return { label, median: summary?.median ?? null, min: summary?.min ?? null, max: summary?.max ?? null, ...(note ? { note } : {}) };
}

const ratioNote = (ratio: number | null) => (ratio === null ? undefined : `${ratio.toFixed(2)}×`);

export function renderCompareHtml(report: CompareReport): string {
  const summaries = summarizeVariants(report);
  const at = report.at_capacity;
  const all = [...report.runs, ...(at?.runs ?? [])];
  const invalid = all.filter((r) => !r.valid);
  const warn = (s: VariantSummary) => (s.valid < s.runs ? '⚠ ' : '');
  const body: string[] = [
    invalid.length === 0
      ? verdictBox('pass', 'ALL VALID', ` — all ${all.length} runs valid`, EXIT.ok)
      : verdictBox('invalid', 'INVALID RUNS', ` — ${invalid.length} of ${all.length} runs invalid: ${invalid.map((r) => `${r.variant} r${r.replicate}`).join(', ')}`, EXIT.invalid_run),
    `<h1>chaosbench compare: ${esc(report.scenario)} by ${esc(report.axis.field)}</h1>`,
    `<pre>${esc(report.command)}</pre>`,
    list([
      `seed ${report.seed} · measured load per run: ${report.load} · broker ${report.broker}`,
      `${report.variants.length} variants by ${report.axis.flag} × ${report.replicates} replicates, interleaved`,
      `git ${report.git_sha.slice(0, 12)} · started ${report.started_at} · finished ${report.finished_at}`,
    ]),
    '<h2 id="charts">Charts</h2>',
    paragraph(`Bars: the median over each variant's runs; whiskers: min–max. × is the median over the first variant's (${report.variants[0]?.name ?? '—'}).`),
    figure(
      rangeBarSvg('Committed ev/s per variant', 'ev/s', summaries.map((s) => summaryBar(`${warn(s)}${s.name}`, s.committed_per_s, ratioNote(s.throughput_ratio)))),
      'Committed events per second over the measured phases.',
    ),
    figure(
      rangeBarSvg('End-to-end p99 per variant', 'ms', summaries.map((s) => summaryBar(`${warn(s)}${s.name}`, s.p99_ms, ratioNote(s.p99_ratio)))),
      'p99 end to end (first sink commit − intended send time); a bare subscriber has none.',
    ),
  ];
  if (at) {
    const atSummaries = summarizeVariants({ variants: report.variants.filter((v) => at.rates.some((r) => r.variant === v.name)), runs: at.runs });
    body.push(
      figure(
        rangeBarSvg(`p99 at ${(at.fraction * 100).toFixed(0)}% of each variant's capacity`, 'ms', atSummaries.map((s) => summaryBar(`${warn(s)}${s.name}`, s.p99_ms))),
        'Open model, each variant at a fraction of its own capacity.',
      ),
    );
  }
  body.push('<h2 id="variants">Variants</h2>', htmlTable(variantTableData(summaries, noCell), 'variants'));
  if (at) body.push(`<h2 id="at-capacity">At ${(at.fraction * 100).toFixed(0)}% of capacity</h2>`, htmlTable(atCapacityTableData(report, at, noCell), 'at-capacity'));
  if (invalid.length > 0) {
    body.push('<h2 id="invalid">Invalid runs</h2>', list(invalid.map((r) => `${r.variant} r${r.replicate} (run ${r.order}): ${r.error !== null ? `did not complete: ${r.error}` : r.invalid_reasons.join('; ') || 'invalid'}`)));
  }
  body.push('<h2 id="runs">Runs</h2>', htmlTable(runsTableData(report, noCell), 'runs'));
  return htmlPage(`chaosbench compare: ${report.scenario}`, body);
}

// ---------------------------------------------------------------- gate.html

const GATE_KIND: Record<GateReport['outcome'], VerdictKind> = {
  pass: 'pass',
  regression: 'fail',
  'correctness-failure': 'fail',
  invalid: 'invalid',
  undecidable: 'invalid',
  'baseline-written': 'pass',
  'aa-measured': 'pass',
};

/**
 * gate.md's marks without the emoji a browser may have no font for (Debian's headless Chromium
 * draws ❌ and ✅ as empty boxes): the verdict box's colour says it; ⚠ is in the common fonts.
 */
const withoutEmoji = (text: string) => text.replace(/[❌✅📝🔬]\s*/gu, '').replace(/\uFE0F/g, '');

export function renderGateHtml(report: GateReport): string {
  const [b, c] = report.mode === 'aa' ? ['A', 'B'] : [report.baseline_label, report.candidate_label];
  const status = withoutEmoji(OUTCOME_LINE[report.outcome].replace(/\*\*/g, ''));
  const body: string[] = [
    verdictBox(GATE_KIND[report.outcome], status, ` — ${report.message}`, report.exit, report.notes.map((n) => `⚠ ${n}`)),
    `<h1>chaosbench gate: ${esc(report.scenario)}</h1>`,
    `<pre>${esc(report.command)}</pre>`,
    list([
      `mode ${report.mode} · ${report.replicates} replicates per side · load per run: ${report.load}`,
      `baseline: ${report.baseline_label}${report.baseline_git_sha ? ` (git ${report.baseline_git_sha.slice(0, 12)})` : ''} · candidate: ${report.candidate_label} (git ${report.git_sha.slice(0, 12)})`,
    ]),
  ];
  if (report.decisions.length > 0) {
    body.push('<h2 id="charts">Charts</h2>', paragraph('Bars: the median over each side\'s runs; whiskers: min–max. The ratio chart: candidate over baseline, the whisker its bootstrap interval.'));
    for (const d of report.decisions) {
      body.push(figure(rangeBarSvg(`${d.metric}: ${b} and ${c}`, d.metric, [summaryBar(b, d.baseline), summaryBar(c, d.candidate, d.verdict)]), d.reason));
    }
    body.push(
      figure(
        rangeBarSvg('Ratio candidate / baseline (1 = no change)', '×', report.decisions.map((d) => ({ label: d.metric, median: d.estimate, min: d.interval?.[0] ?? null, max: d.interval?.[1] ?? null, note: `floor ±${(d.floor * 100).toFixed(0)}%` })), 1),
        'Ratio of medians with its interval: a regression needs the whole interval beyond the floor and a significant Mann-Whitney test.',
      ),
      '<h2 id="decisions">Decisions</h2>',
      htmlTable(decisionTableData(report.decisions, b, c, withoutEmoji), 'decisions'),
      list([...new Set(report.decisions.map((d) => `Rule: ${d.rule}.`))]),
    );
  }
  if (report.aa) {
    const a = report.aa;
    body.push(
      '<h2 id="aa">A/A</h2>',
      paragraph(`${a.regressions} false regressions in ${a.pairs} pairs: false-positive rate ${(a.false_positive_rate * 100).toFixed(2)}%; undecidable ${a.undecidable}/${a.pairs}.`, ''),
      figure(rangeBarSvg('A/A: ratio B / A per pair', '×', a.decisions.map((d, i) => ({ label: `pair ${i + 1}`, median: d.estimate, min: d.interval?.[0] ?? null, max: d.interval?.[1] ?? null, note: d.verdict })), 1), 'Each pair\'s ratio of medians and its interval.'),
    );
  }
  const correctness = report.correctness;
  body.push(
    '<h2 id="correctness">Correctness</h2>',
    correctness.promised.length === 0
      ? paragraph('The scenario promises no count of 0 (lost, never acked, never sent, sink duplicates); not gated.', '')
      : correctness.failures.length === 0
        ? paragraph(`${correctness.promised.map((p) => `${p} = 0`).join(', ')} in every run.`, '')
        : htmlTable([['side', 'replicate', 'metric', 'actual'], correctness.failures.map((f) => [`${f.side}${f.pair > 0 ? ` pair ${f.pair}` : ''}`, f.replicate, f.metric, f.actual])], 'correctness'),
  );
  const invalid = report.runs.filter((r) => !r.valid);
  if (invalid.length > 0) body.push('<h2 id="invalid">Invalid runs</h2>', list(invalid.map((r) => `${r.side}${r.pair > 0 ? ` pair ${r.pair}` : ''} r${r.replicate}: ${r.error ?? (r.invalid_reasons.join('; ') || 'invalid')}`)));
  return htmlPage(`chaosbench gate: ${report.scenario}`, body);
}
