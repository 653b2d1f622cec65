// npm run audit's output (commands/audit/): the summary it prints and audit.md. Pure: audit in, text out.

import type { Audit, AuditCheck, Bounded } from '../commands/audit/audit-ledger.ts';
import { checkActual } from '../engine/result.ts';
import { table } from './compare.ts';

/** Said wherever the latency is: it spans two hosts' clocks. */
export const AUDIT_CLOCK_NOTE =
  "end-to-end latency is the sink's commit time (the aggregator's clock) − intended_us (k6's clock): meaningful only when the two hosts share a clock (NTP-synchronised, or the same host)";

/** Rows committed before they were due: said beside the latency, which they make untrustworthy. */
const clockWarning = (audit: Audit) =>
  audit.clock.committed_before_intended === 0
    ? ''
    : `; ${audit.clock.committed_before_intended} rows committed before their intended send time (up to ${ms(audit.clock.max_ahead_ms)} ms): the clocks disagree, the latency is not to be trusted`;

const bounded = (value: Bounded) => (value.low === value.high ? checkActual(value.low) : `${checkActual(value.low)}–${checkActual(value.high)}`);
const ms = (value: number) => value.toFixed(3);

function checkLine(check: AuditCheck): string {
  const was = check.actual === null ? 'not measured' : bounded(check.actual);
  const why = check.outcome === 'undetermined' ? ': holds at one bound, not the other, so not proven' : '';
  return `${check.metric} ${check.op} ${check.value}: ${check.outcome.toUpperCase()} (was ${was})${why}`;
}

export function auditVerdictLine(audit: Audit): string {
  const failed = audit.checks.filter((check) => check.outcome !== 'pass');
  if (failed.length === 0) return `PASS: ${audit.scenario} audit, ${audit.checks.length} checks judged from the sink`;
  return `FAIL: ${audit.scenario} audit: ${failed.map((check) => `${check.metric} ${check.op} ${check.value} (was ${check.actual === null ? 'not measured' : bounded(check.actual)}${check.outcome === 'undetermined' ? ', undetermined' : ''})`).join(', ')}`;
}

/** The lines npm run audit prints. */
export function renderAuditSummary(audit: Audit): string {
  const t = audit.totals;
  const l = audit.latency;
  return [
    auditVerdictLine(audit),
    `expected ${t.expected} · committed ${t.unique_committed} · not in the sink ${t.not_in_sink} (${t.dead_lettered} dead-lettered) · sink duplicates ${t.sink_duplicates} · unexpected ${t.unexpected} · dlq ${t.dlq} · rows ${t.rows}`,
    audit.k6 === null
      ? `lost ${bounded(audit.lost)} (no --k6-summary: the missing events are not split into never sent, unacknowledged and lost)`
      : `of the missing: never sent ${bounded(audit.k6.never_sent)} (k6 dropped_iterations) · unacknowledged ${bounded(audit.k6.lost_unacked)} (at most k6 publishes_unacked) · lost ${bounded(audit.k6.lost)}`,
    l.count === 0 ? 'latency not measured (no expected event committed)' : `latency p50 ${ms(l.p50_ms)} ms, p99 ${ms(l.p99_ms)} ms, max ${ms(l.max_ms)} ms (${AUDIT_CLOCK_NOTE}${clockWarning(audit)})`,
    ...audit.not_judged.map((n) => `not judged: ${n.check} (${n.why})`),
    ...audit.findings.map((finding) => `finding: ${finding}`),
  ].join('\n');
}

export function renderAuditMarkdown(audit: Audit): string {
  const t = audit.totals;
  const l = audit.latency;
  const k6 = audit.k6;
  const counts: string[][] = [
    ['expected (every iteration of every phase)', String(t.expected), 'exact: from the scenario'],
    ['rows in the sink', String(t.rows), 'exact'],
    ['committed (expected events in the sink, once each)', String(t.unique_committed), 'exact'],
    ['not in the sink', String(t.not_in_sink), 'exact'],
    ['… of which dead-lettered', String(t.dead_lettered), 'exact'],
    ...(k6 === null
      ? [['… lost', bounded(audit.lost), 'a bound: without --k6-summary any missing event may be one k6 never sent']]
      : [
          ['… never sent (k6 dropped_iterations)', bounded(k6.never_sent), "exact as k6 counts it (k6 says how many, not which)"],
          ['… not acknowledged (k6 publishes_unacked)', bounded(k6.lost_unacked), 'a bound: an unacknowledged publish may still have reached the sink'],
          ['… lost (acknowledged per k6, not in the sink)', bounded(k6.lost), 'between bounds: the rest once the unacknowledged are taken out'],
        ]),
    ['sink duplicates (extra rows of an event)', String(t.sink_duplicates), 'exact'],
    ['absorbed by the sink (deliveries − 1)', String(t.absorbed_by_sink), "the sink's own column"],
    ['unexpected rows (an id the script never gives)', String(t.unexpected), 'exact'],
    ['reordered', String(t.reordered), 'exact'],
    ['dlq (distinct messages)', String(t.dlq), 'exact'],
  ];
  return [
    `# Audit of the sink: ${audit.scenario} (seed ${audit.seed})`,
    '',
    `**${auditVerdictLine(audit)}**`,
    '',
    'What the exported k6 script published is known from the scenario (docs/k6.md): every iteration of every phase, with its source, seq and seeded event id; only when each k6 scenario started is read from the sink.',
    '',
    ...audit.findings.map((finding) => `Finding: ${finding}\n`),
    '## Counts',
    '',
    table(['', 'count', 'how known'], counts),
    '',
    '## Checks',
    '',
    ...(audit.checks.length === 0 ? ['(none judged)'] : audit.checks.map((check) => `- ${checkLine(check)}`)),
    ...audit.not_judged.map((n) => `- ${n.check}: not judged (${n.why})`),
    '',
    '## Phases',
    '',
    table(
      ['phase', 'expected', 'committed', 'missing', 'start (µs since the epoch)', 'start from'],
      audit.phases.map((p) => [p.name, String(p.expected), String(p.committed), String(p.missing), String(p.start_us), p.start_from === 'rows' ? `${p.rows_agreeing} rows` : 'estimated (no row)']),
    ),
    '',
    '## Latency',
    '',
    l.count === 0
      ? 'Not measured: no expected event was committed.'
      : table(['events', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms'], [[String(l.count), ms(l.p50_ms), ms(l.p99_ms), ms(l.p99_9_ms), ms(l.max_ms)]]),
    '',
    `Measured phases only (not the warm-up); ${AUDIT_CLOCK_NOTE}${clockWarning(audit)}.${audit.commit_time_unrecorded > 0 ? ` ${audit.commit_time_unrecorded} events' commit return was never recorded: their latency ends at the start of their transaction (a lower bound).` : ''}`,
    '',
  ].join('\n');
}
