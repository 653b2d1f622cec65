// SVG charts from result.json: pure functions (no I/O, no clock), so an old run re-renders with no
// broker. Self-contained markup (no scripts, fonts, stylesheets or links), a fixed viewBox, every
// text and attribute value escaped. Missing per-second data (older result files) and empty
// histograms give a chart that says so rather than an error.

import { LatencyRecorder } from '../engine/metrics/histogram.ts';
import type { LatencyResult, RunResult } from '../engine/result.ts';

export const SVG_WIDTH = 900;
export const SVG_HEIGHT = 400;

const US_PER_MS = 1000;
/** Spectrum points per decade of 1/(1−p): p = 1 − 10^(−k/10), k = 0, 1, 2, … */
export const SPECTRUM_STEPS_PER_DECADE = 10;
/** The spectrum's x axis reaches at least 99.999% (10^5), as HdrHistogram's plotter does. */
const MIN_DECADES = 5;

/** Plot areas, in viewBox units (exported so tests can map pixels back to values). */
export const SPECTRUM_PLOT = { left: 70, top: 44, width: 600, height: 300 } as const;
export const TIMELINE_THROUGHPUT_PLOT = { left: 70, top: 44, width: 660, height: 150 } as const;
export const TIMELINE_P99_PLOT = { left: 70, top: 222, width: 660, height: 128 } as const;

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/** Escapes text and attribute values (&, <, >, both quotes). */
export function escapeXml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const esc = escapeXml;
/** Coordinates to 0.01 of a unit: enough for any screen, short enough to keep files small. */
const c = (value: number): string => String(Math.round(value * 100) / 100);

function fmtNumber(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 100) return String(Math.round(value));
  if (abs >= 1) return String(Number(value.toFixed(2)));
  return String(Number(value.toPrecision(3)));
}

function svgOpen(title: string, desc: string, extra = '', height = SVG_HEIGHT): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${SVG_WIDTH} ${height}" width="${SVG_WIDTH}" height="${height}" role="img" font-family="sans-serif" font-size="12"${extra}>`,
    `<title>${esc(title)}</title>`,
    `<desc>${esc(desc)}</desc>`,
    `<rect x="0" y="0" width="${SVG_WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${SVG_WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
}

/** A valid SVG of the usual size that says there is nothing to plot, and why. */
export function noDataSvg(title: string, reason: string): string {
  return [
    ...svgOpen(title, `no data: ${reason}`, ' data-empty="true"'),
    `<text x="${SVG_WIDTH / 2}" y="${SVG_HEIGHT / 2}" text-anchor="middle" font-size="20" fill="#888888">no data</text>`,
    `<text x="${SVG_WIDTH / 2}" y="${SVG_HEIGHT / 2 + 24}" text-anchor="middle" fill="#888888">${esc(reason)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/** A tick step of 1, 2, 2.5 or 5 × 10^k giving about 4–6 ticks, and the first multiple of it at or above `max`. */
export function niceScale(max: number): { max: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 0.25 };
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= rough * (1 - 1e-9)) ?? 10) * magnitude;
  // The small tolerance keeps a value like 20.0000000001 (float noise) on 20.
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

function ticks(scale: { max: number; step: number }): number[] {
  const out: number[] = [];
  const n = Math.round(scale.max / scale.step);
  for (let i = 0; i <= n; i++) out.push(Number((i * scale.step).toPrecision(12)));
  return out;
}

// ---------------------------------------------------------------- latency spectrum

export interface SpectrumPoint {
  /** Percentile as a fraction in [0, 1]. */
  p: number;
  /** 1/(1−p): the x coordinate before the log (the max sits at the sample count, where p = 1 − 1/n). */
  inverse_tail: number;
  /** Latency (ms). */
  ms: number;
}

export interface SpectrumSeries {
  /** Stable identifier, carried by the polyline as data-series: end_to_end, publish_ack, phase:<name>. */
  id: string;
  label: string;
  count: number;
  max_ms: number;
  points: SpectrumPoint[];
}

function decodeHistogram(latency: LatencyResult | undefined): LatencyRecorder | null {
  if (latency === undefined || typeof latency.histogram !== 'string' || latency.histogram === '') return null;
  return LatencyRecorder.decode(latency.histogram);
}

/**
 * The percentile spectrum of one histogram: values at p = 1 − 10^(−k/10) while 1/(1−p) is below
 * the sample count (beyond it every percentile is the max), then the max at 1/(1−p) = count.
 * So a histogram of n samples gives ceil(10·log10 n) + 1 points; an empty one gives none.
 */
export function spectrumPoints(recorder: LatencyRecorder): SpectrumPoint[] {
  const count = recorder.count;
  if (count === 0) return [];
  const points: SpectrumPoint[] = [];
  for (let k = 0; 10 ** (k / SPECTRUM_STEPS_PER_DECADE) < count; k++) {
    const inverse = 10 ** (k / SPECTRUM_STEPS_PER_DECADE);
    const p = 1 - 1 / inverse;
    points.push({ p, inverse_tail: inverse, ms: recorder.valueAtPercentile(p * 100) / US_PER_MS });
  }
  points.push({ p: 1, inverse_tail: count, ms: recorder.valueAtPercentile(100) / US_PER_MS });
  return points;
}

/** The series the spectrum draws, in legend order: end-to-end, each counted phase, publish→PUBACK. Empty histograms are left out. */
export function spectrumSeries(result: RunResult): SpectrumSeries[] {
  const candidates: { id: string; label: string; latency: LatencyResult | undefined }[] = [
    { id: 'end_to_end', label: 'end-to-end, overall', latency: result.latency?.end_to_end },
    ...(result.phases ?? [])
      .filter((phase) => phase.excluded_from_totals !== true)
      .map((phase) => ({ id: `phase:${phase.name}`, label: `phase ${phase.name}`, latency: phase.latency })),
    { id: 'publish_ack', label: 'publish→PUBACK', latency: result.latency?.publish_ack },
  ];
  const series: SpectrumSeries[] = [];
  for (const candidate of candidates) {
    const recorder = decodeHistogram(candidate.latency);
    if (recorder === null || recorder.count === 0) continue;
    const points = spectrumPoints(recorder);
    series.push({ id: candidate.id, label: candidate.label, count: recorder.count, max_ms: points[points.length - 1]!.ms, points });
  }
  return series;
}

/** Axis label of the decade 10^k of 1/(1−p): 0%, 90%, 99%, 99.9%, … */
export function percentileLabel(decade: number): string {
  if (decade === 0) return '0%';
  return `${(100 - 10 ** (2 - decade)).toFixed(Math.max(0, decade - 2))}%`;
}

function runName(result: RunResult): string {
  const scenario = result.scenario?.name ?? 'unknown scenario';
  return result.run_id ? `${scenario} (${result.run_id})` : scenario;
}

export function latencySpectrumSvg(result: RunResult): string {
  const title = `Latency by percentile — ${runName(result)}`;
  const series = spectrumSeries(result);
  if (series.length === 0) return noDataSvg(title, 'no latency samples in this result');

  const plot = SPECTRUM_PLOT;
  const maxCount = Math.max(...series.map((s) => s.count));
  const decades = Math.max(MIN_DECADES, Math.ceil(Math.log10(maxCount)));
  const yScale = niceScale(Math.max(...series.map((s) => s.max_ms)));
  const x = (inverse: number) => plot.left + (Math.log10(inverse) / decades) * plot.width;
  const y = (ms: number) => plot.top + plot.height - (ms / yScale.max) * plot.height;
  const bottom = plot.top + plot.height;
  const right = plot.left + plot.width;

  const desc =
    `Latency (ms, linear) against percentile (log scale of 1/(1−p)), from the run's HDR histograms. ` +
    series.map((s) => `${s.label}: ${s.count} samples, p50 ${fmtNumber(valueAt(s, 0.5))} ms, p99 ${fmtNumber(valueAt(s, 0.99))} ms, max ${fmtNumber(s.max_ms)} ms`).join('; ') +
    '.';
  const out = svgOpen(title, desc);
  out.push(`<g class="plot" data-y-max-ms="${yScale.max}" data-x-decades="${decades}">`);
  // Grid and axes.
  for (const tick of ticks(yScale)) {
    const ty = c(y(tick));
    out.push(`<line x1="${plot.left}" y1="${ty}" x2="${right}" y2="${ty}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${plot.left - 6}" y="${c(y(tick) + 4)}" text-anchor="end">${esc(fmtNumber(tick))}</text>`);
  }
  for (let decade = 0; decade <= decades; decade++) {
    const tx = c(x(10 ** decade));
    out.push(`<line x1="${tx}" y1="${plot.top}" x2="${tx}" y2="${bottom}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${tx}" y="${bottom + 18}" text-anchor="middle">${esc(percentileLabel(decade))}</text>`);
  }
  out.push(`<rect x="${plot.left}" y="${plot.top}" width="${plot.width}" height="${plot.height}" fill="none" stroke="#444444"/>`);
  out.push(`<text x="${plot.left + plot.width / 2}" y="${bottom + 40}" text-anchor="middle">percentile</text>`);
  out.push(`<text x="18" y="${plot.top + plot.height / 2}" text-anchor="middle" transform="rotate(-90 18 ${plot.top + plot.height / 2})">latency (ms)</text>`);
  out.push('</g>');

  // Series: end-to-end (thick) underneath, so that a phase holding all its samples still shows on it.
  const styled = series.map((s, i) => ({ ...s, ...seriesStyle(s.id, i) }));
  for (const s of styled) {
    const points = s.points.map((pt) => `${c(x(pt.inverse_tail))},${c(y(pt.ms))}`).join(' ');
    out.push(
      `<polyline data-series="${esc(s.id)}" points="${points}" fill="none" stroke="${s.color}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
    if (s.points.length === 1) out.push(`<circle cx="${c(x(s.points[0]!.inverse_tail))}" cy="${c(y(s.points[0]!.ms))}" r="3" fill="${s.color}"/>`);
  }

  // Legend, right of the plot.
  const lx = right + 16;
  out.push('<g class="legend">');
  styled.forEach((s, i) => {
    const ly = plot.top + 10 + i * 34;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${s.color}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${esc(truncate(s.label, 28))}</text>`);
    out.push(`<text x="${lx + 30}" y="${ly + 18}" fill="#666666" font-size="10">${esc(`n=${s.count}, max ${fmtNumber(s.max_ms)} ms`)}</text>`);
  });
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}

function valueAt(series: SpectrumSeries, p: number): number {
  // The first generated point at or beyond p (the points are spaced by tenths of a decade).
  return (series.points.find((pt) => pt.p >= p - 1e-12) ?? series.points[series.points.length - 1]!).ms;
}

function seriesStyle(id: string, index: number): { color: string; width: number; dash: string } {
  if (id === 'end_to_end') return { color: '#000000', width: 2.5, dash: '' };
  if (id === 'publish_ack') return { color: '#7f7f7f', width: 1.5, dash: '6 4' };
  return { color: PALETTE[(index - 1) % PALETTE.length]!, width: 1.5, dash: '' };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

// ---------------------------------------------------------------- timeline

interface PhaseWindow {
  name: string;
  start_s: number;
  end_s: number;
  faulted: boolean;
}

/** Phase windows on the schedule's clock (the scenario's durations, in order, from 0). */
export function phaseWindows(result: RunResult): PhaseWindow[] {
  const windows: PhaseWindow[] = [];
  let start = 0;
  for (const phase of result.scenario?.phases ?? []) {
    const duration = Number.isFinite(phase.duration_s) && phase.duration_s > 0 ? phase.duration_s : 0;
    windows.push({ name: phase.name, start_s: start, end_s: start + duration, faulted: (phase.faults ?? []).length > 0 });
    start += duration;
  }
  return windows;
}

export function timelineSvg(result: RunResult): string {
  const title = `Throughput and p99 per second — ${runName(result)}`;
  const timeline = Array.isArray(result.timeline) ? result.timeline : [];
  const commits = Array.isArray(result.commits_per_second) ? result.commits_per_second : [];
  if (timeline.length === 0 && commits.length === 0) {
    return noDataSvg(title, 'no per-second timeline or commit latency in this result');
  }
  const windows = phaseWindows(result);
  const top = TIMELINE_THROUGHPUT_PLOT;
  const low = TIMELINE_P99_PLOT;
  const left = top.left;
  const right = top.left + top.width;
  const bottom = low.top + low.height;

  const xScale = timeScale(result);
  const x = (t: number) => left + (t / xScale.max) * top.width;

  const rateScale = niceScale(Math.max(0, ...timeline.flatMap((s) => [s.offered_per_s, s.consumed_per_s].filter(Number.isFinite))));
  const yRate = (v: number) => top.top + top.height - (Math.max(0, v) / rateScale.max) * top.height;

  const positive = commits.map((s) => s.p99_ms).filter((v) => Number.isFinite(v) && v > 0);
  let lowDecade = positive.length > 0 ? Math.floor(Math.log10(Math.min(...positive))) : 0;
  let highDecade = positive.length > 0 ? Math.ceil(Math.log10(Math.max(...positive))) : 1;
  if (highDecade <= lowDecade) highDecade = lowDecade + 1;
  lowDecade = Math.min(lowDecade, highDecade - 1);
  // p99 of 0 (or missing) sits on the axis floor: it cannot go on a log scale.
  const yP99 = (ms: number) => {
    const decades = ms > 0 && Number.isFinite(ms) ? Math.min(highDecade, Math.max(lowDecade, Math.log10(ms))) : lowDecade;
    return low.top + low.height - ((decades - lowDecade) / (highDecade - lowDecade)) * low.height;
  };

  const faulted = windows.filter((w) => w.faulted);
  // Results written before backlog_source was recorded had only the subscriber's own count.
  const consumedSelfReported = (result.backlog_source ?? 'subscriber (self-reported)') !== 'broker';
  const desc =
    `Top: messages per second the subscriber acknowledged (consumed; ${consumedSelfReported ? 'self-reported by the subscriber' : 'its PUBACKs counted by the broker'}) and original events per second offered, one point per timeline sample (${timeline.length}). ` +
    `Bottom: p99 end-to-end latency of each second's first commits (log scale), one point per second with commits (${commits.length}). ` +
    (faulted.length > 0 ? `Shaded: phases with faults (${faulted.map((w) => `${w.name} ${fmtNumber(w.start_s)}–${fmtNumber(w.end_s)} s`).join(', ')}). ` : 'No phase has faults. ') +
    'Dashed lines: phase boundaries.';
  const out = svgOpen(title, desc);

  // Fault windows first, under everything else.
  out.push(...faultWindows(windows, x, top.top, bottom));

  // Throughput panel.
  out.push(`<g class="throughput" data-y-max="${rateScale.max}">`);
  for (const tick of ticks(rateScale)) {
    const ty = c(yRate(tick));
    out.push(`<line x1="${left}" y1="${ty}" x2="${right}" y2="${ty}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${left - 6}" y="${c(yRate(tick) + 4)}" text-anchor="end">${esc(fmtNumber(tick))}</text>`);
  }
  out.push(`<rect x="${left}" y="${top.top}" width="${top.width}" height="${top.height}" fill="none" stroke="#444444"/>`);
  out.push(`<text x="18" y="${top.top + top.height / 2}" text-anchor="middle" transform="rotate(-90 18 ${top.top + top.height / 2})">msg/s</text>`);
  if (timeline.length === 0) {
    out.push(`<text x="${left + top.width / 2}" y="${top.top + top.height / 2}" text-anchor="middle" fill="#888888">no per-second throughput in this result</text>`);
  } else {
    out.push(polyline('offered', timeline.map((s) => [x(s.t_s), yRate(s.offered_per_s)]), '#7f7f7f', 1.5, '6 4'));
    out.push(polyline('consumed', timeline.map((s) => [x(s.t_s), yRate(s.consumed_per_s)]), '#1f77b4', 2, ''));
  }
  out.push('</g>');

  // p99 panel (log scale).
  out.push(`<g class="p99" data-log10-min="${lowDecade}" data-log10-max="${highDecade}">`);
  for (let decade = lowDecade; commits.length > 0 && decade <= highDecade; decade++) {
    const ty = c(yP99(10 ** decade));
    out.push(`<line x1="${left}" y1="${ty}" x2="${right}" y2="${ty}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${left - 6}" y="${c(yP99(10 ** decade) + 4)}" text-anchor="end">${esc(fmtNumber(10 ** decade))}</text>`);
    // 2× and 5× within the decade: faint lines, labelled when the axis spans at most two decades.
    for (const m of decade < highDecade ? [2, 5] : []) {
      const my = c(yP99(m * 10 ** decade));
      out.push(`<line x1="${left}" y1="${my}" x2="${right}" y2="${my}" stroke="#f0f0f0"/>`);
      if (highDecade - lowDecade <= 2) out.push(`<text x="${left - 6}" y="${c(yP99(m * 10 ** decade) + 4)}" text-anchor="end" fill="#666666" font-size="10">${esc(fmtNumber(m * 10 ** decade))}</text>`);
    }
  }
  out.push(`<rect x="${left}" y="${low.top}" width="${low.width}" height="${low.height}" fill="none" stroke="#444444"/>`);
  out.push(`<text x="18" y="${low.top + low.height / 2}" text-anchor="middle" transform="rotate(-90 18 ${low.top + low.height / 2})">p99 ms (log)</text>`);
  if (commits.length === 0) {
    out.push(`<text x="${left + low.width / 2}" y="${low.top + low.height / 2}" text-anchor="middle" fill="#888888">no per-second commit latency in this result</text>`);
  } else {
    out.push(polyline('p99', commits.map((s) => [x(s.t_s + 0.5), yP99(s.p99_ms)]), '#d62728', 2, ''));
  }
  out.push('</g>');

  // Shared x axis, phase boundaries.
  out.push(...timeAxis(result, windows, xScale, x, { left, width: top.width, top: top.top }, bottom));

  // Legend.
  const lx = right + 14;
  const legend: (readonly [string, string, number, string])[] = [
    ...(timeline.length > 0 ? ([[consumedSelfReported ? 'consumed msg/s (self-reported)' : 'consumed msg/s', '#1f77b4', 2, ''], ['offered ev/s', '#7f7f7f', 1.5, '6 4']] as const) : []),
    ...(commits.length > 0 ? ([['p99 ms', '#d62728', 2, '']] as const) : []),
  ];
  out.push('<g class="legend">');
  legend.forEach(([label, color, width, dash], i) => {
    const ly = top.top + 10 + i * 22;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(label)}</text>`);
  });
  if (faulted.length > 0) {
    const ly = top.top + 10 + legend.length * 22;
    out.push(`<rect x="${lx}" y="${ly - 7}" width="22" height="14" fill="#d62728" fill-opacity="0.12"/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}">faults</text>`);
  }
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}

function polyline(series: string, points: [number, number][], color: string, width: number, dash: string): string {
  const line = `<polyline data-series="${esc(series)}" points="${points.map(([px, py]) => `${c(px)},${c(py)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;
  if (points.length !== 1) return line;
  return `${line}\n<circle cx="${c(points[0]![0])}" cy="${c(points[0]![1])}" r="3" fill="${color}"/>`;
}

// ---------------------------------------------------------------- over time: what the timeline and backlog charts share

/** The x scale of the charts over time: the schedule's end, or the last sample, whichever is later. */
function timeScale(result: RunResult): { max: number; step: number } {
  const windows = phaseWindows(result);
  const timeline = Array.isArray(result.timeline) ? result.timeline : [];
  const commits = Array.isArray(result.commits_per_second) ? result.commits_per_second : [];
  return niceScale(
    Math.max(windows.length > 0 ? windows[windows.length - 1]!.end_s : 0, ...timeline.map((s) => s.t_s), ...commits.map((s) => s.t_s + 1), 1),
  );
}

/** Phases with faults shaded (red), each named; phases without, named in grey where the name fits. */
function faultWindows(windows: readonly PhaseWindow[], x: (t: number) => number, top: number, bottom: number): string[] {
  const out = ['<g class="faults">'];
  for (const w of windows.filter((w) => w.faulted)) {
    const x0 = x(w.start_s);
    const width = Math.max(0, x(w.end_s) - x0);
    out.push(`<rect data-phase="${esc(w.name)}" x="${c(x0)}" y="${top}" width="${c(width)}" height="${c(bottom - top)}" fill="#d62728" fill-opacity="0.12"/>`);
    out.push(`<text x="${c(x0 + 3)}" y="${top + 13}" fill="#a01010" font-size="11">${esc(w.name)}</text>`);
  }
  for (const w of windows.filter((w) => !w.faulted)) {
    const width = x(w.end_s) - x(w.start_s);
    if (width >= w.name.length * 6.5 + 6) out.push(`<text x="${c(x(w.start_s) + 3)}" y="${top + 13}" fill="#888888" font-size="11">${esc(w.name)}</text>`);
  }
  out.push('</g>');
  return out;
}

/** The seconds axis under a chart over the run's time: ticks, its label, phase boundaries, then the recovery marks. */
function timeAxis(
  result: RunResult,
  windows: readonly PhaseWindow[],
  xScale: { max: number; step: number },
  x: (t: number) => number,
  plot: { left: number; width: number; top: number },
  bottom: number,
): string[] {
  const out = [`<g class="x-axis" data-x-max-s="${xScale.max}">`];
  for (const tick of ticks(xScale)) {
    const tx = c(x(tick));
    out.push(`<line x1="${tx}" y1="${bottom}" x2="${tx}" y2="${bottom + 4}" stroke="#444444"/>`);
    out.push(`<text x="${tx}" y="${bottom + 16}" text-anchor="middle">${esc(fmtNumber(tick))}</text>`);
  }
  out.push(`<text x="${plot.left + plot.width / 2}" y="${bottom + 38}" text-anchor="middle">seconds since the schedule started</text>`);
  out.push(...phaseBoundaries(windows, x, plot.top, bottom), '</g>');
  out.push(...recoveryMarks(result, windows, x, plot.top, bottom));
  return out;
}

function phaseBoundaries(windows: readonly PhaseWindow[], x: (t: number) => number, top: number, bottom: number): string[] {
  return windows.slice(1).map((w) => `<line class="phase-boundary" x1="${c(x(w.start_s))}" y1="${top}" x2="${c(x(w.start_s))}" y2="${bottom}" stroke="#555555" stroke-dasharray="3 3"/>`);
}

/**
 * Recovery after each phase that has one (result.phases[].recovery): a green line where p99 and
 * backlog were back within the band (the phase's end + recovery_s), or, not recovered within the
 * run, a red mark at the phase's end saying so. Phases are placed by name on the schedule's clock.
 */
function recoveryMarks(result: RunResult, windows: readonly PhaseWindow[], x: (t: number) => number, top: number, bottom: number): string[] {
  const recovered = (result.phases ?? []).filter((p) => p.recovery);
  if (recovered.length === 0) return [];
  const out = ['<g class="recovery">'];
  for (const phase of recovered) {
    const window = windows.find((w) => w.name === phase.name);
    if (!window) continue;
    const r = phase.recovery!;
    if (r.recovery_s === null) {
      const tx = c(x(window.end_s));
      out.push(`<line data-phase="${esc(phase.name)}" data-recovery-s="none" x1="${tx}" y1="${top}" x2="${tx}" y2="${bottom}" stroke="#d62728" stroke-width="2"/>`);
      out.push(`<text x="${c(x(window.end_s) + 3)}" y="${top + 27}" fill="#d62728" font-size="11">not recovered</text>`);
    } else {
      const tx = c(x(window.end_s + r.recovery_s));
      out.push(`<line data-phase="${esc(phase.name)}" data-recovery-s="${r.recovery_s}" x1="${tx}" y1="${top}" x2="${tx}" y2="${bottom}" stroke="#2ca02c" stroke-width="2"/>`);
      out.push(`<text x="${c(x(window.end_s + r.recovery_s) + 3)}" y="${top + 27}" fill="#1a7a1a" font-size="11">${esc(`recovered +${fmtNumber(r.recovery_s)} s`)}</text>`);
    }
  }
  out.push('</g>');
  return out;
}

export const BACKLOG_PLOT = { left: 70, top: 44, width: 660, height: 300 } as const;

/**
 * Backlog per timeline sample (publishes handed to the broker and not yet acknowledged by the
 * subscriber; markdown.ts says who counted the subscriber's side), fault phases shaded, phase
 * boundaries dashed, recovery marked.
 */
export function backlogSvg(result: RunResult): string {
  const title = `Backlog over time — ${runName(result)}`;
  const timeline = Array.isArray(result.timeline) ? result.timeline : [];
  if (timeline.length === 0) return noDataSvg(title, 'no per-second timeline in this result');
  const windows = phaseWindows(result);
  const plot = BACKLOG_PLOT;
  const right = plot.left + plot.width;
  const bottom = plot.top + plot.height;
  const xScale = timeScale(result);
  const x = (t: number) => plot.left + (t / xScale.max) * plot.width;
  const yScale = niceScale(Math.max(0, ...timeline.map((s) => s.backlog).filter(Number.isFinite)));
  const y = (v: number) => bottom - (Math.max(0, v) / yScale.max) * plot.height;
  const selfReported = (result.backlog_source ?? 'subscriber (self-reported)') !== 'broker';
  const faulted = windows.filter((w) => w.faulted);
  const peak = Math.max(...timeline.map((s) => s.backlog));
  const desc =
    `Backlog: publishes handed to the broker and not yet acknowledged by the subscriber (${selfReported ? 'its acks self-reported' : 'its PUBACKs counted by the broker'}), one point per timeline sample (${timeline.length}), peak ${peak}. ` +
    (faulted.length > 0 ? `Shaded: phases with faults (${faulted.map((w) => `${w.name} ${fmtNumber(w.start_s)}–${fmtNumber(w.end_s)} s`).join(', ')}). ` : 'No phase has faults. ') +
    'Dashed lines: phase boundaries; green: recovered; red: not recovered.';
  const out = svgOpen(title, desc);
  out.push(...faultWindows(windows, x, plot.top, bottom));
  out.push(`<g class="backlog" data-y-max="${yScale.max}">`);
  for (const tick of ticks(yScale)) {
    out.push(`<line x1="${plot.left}" y1="${c(y(tick))}" x2="${right}" y2="${c(y(tick))}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${plot.left - 6}" y="${c(y(tick) + 4)}" text-anchor="end">${esc(fmtNumber(tick))}</text>`);
  }
  out.push(`<rect x="${plot.left}" y="${plot.top}" width="${plot.width}" height="${plot.height}" fill="none" stroke="#444444"/>`);
  out.push(`<text x="18" y="${plot.top + plot.height / 2}" text-anchor="middle" transform="rotate(-90 18 ${plot.top + plot.height / 2})">backlog (messages)</text>`);
  out.push(polyline('backlog', timeline.map((s) => [x(s.t_s), y(s.backlog)]), '#9467bd', 2, ''));
  out.push('</g>');
  out.push(...timeAxis(result, windows, xScale, x, plot, bottom));
  const lx = right + 14;
  out.push('<g class="legend">');
  out.push(`<line x1="${lx}" y1="${plot.top + 10}" x2="${lx + 22}" y2="${plot.top + 10}" stroke="#9467bd" stroke-width="2"/>`);
  out.push(`<text x="${lx + 28}" y="${plot.top + 14}">${selfReported ? 'backlog (self-reported)' : 'backlog'}</text>`);
  if (faulted.length > 0) {
    out.push(`<rect x="${lx}" y="${plot.top + 25}" width="22" height="14" fill="#d62728" fill-opacity="0.12"/>`);
    out.push(`<text x="${lx + 28}" y="${plot.top + 36}">faults</text>`);
  }
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}

// ---------------------------------------------------------------- bars with ranges (compare, gate)

export interface RangeBar {
  label: string;
  /** null: no figure for this bar (e.g. every run of the variant failed). */
  median: number | null;
  min: number | null;
  max: number | null;
  /** Said after the figures (e.g. "0.93×", "⚠ 1 invalid run"). */
  note?: string;
}

const BAR_ROW = 30;
const BAR_PLOT = { left: 230, top: 50, width: 400 } as const;

/** Horizontal bars, one per row: the median as the bar, the min–max range as a whisker over it, the figures beside; a dashed line at reference (e.g. a ratio's 1). */
export function rangeBarSvg(title: string, unit: string, bars: readonly RangeBar[], reference?: number): string {
  if (bars.length === 0) return noDataSvg(title, 'nothing to chart');
  const height = BAR_PLOT.top + bars.length * BAR_ROW + 50;
  const bottom = BAR_PLOT.top + bars.length * BAR_ROW;
  const scale = niceScale(Math.max(0, reference ?? 0, ...bars.flatMap((b) => [b.median ?? 0, b.max ?? 0]).filter(Number.isFinite)));
  const x = (v: number) => BAR_PLOT.left + (Math.max(0, v) / scale.max) * BAR_PLOT.width;
  const figure = (b: RangeBar) => (b.median === null ? 'no data' : `${fmtNumber(b.median)} [${fmtNumber(b.min ?? b.median)}–${fmtNumber(b.max ?? b.median)}] ${unit}`);
  const desc = `${title}: median (bar) and min–max range (whisker) per row. ${bars.map((b) => `${b.label}: ${figure(b)}${b.note ? ` ${b.note}` : ''}`).join('; ')}.`;
  const out = svgOpen(title, desc, '', height);
  out.push(`<g class="bars" data-x-max="${scale.max}">`);
  for (const tick of ticks(scale)) {
    out.push(`<line x1="${c(x(tick))}" y1="${BAR_PLOT.top}" x2="${c(x(tick))}" y2="${bottom}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${c(x(tick))}" y="${bottom + 16}" text-anchor="middle">${esc(fmtNumber(tick))}</text>`);
  }
  out.push(`<text x="${BAR_PLOT.left + BAR_PLOT.width / 2}" y="${bottom + 36}" text-anchor="middle">${esc(unit)}</text>`);
  bars.forEach((b, i) => {
    const top = BAR_PLOT.top + i * BAR_ROW;
    const mid = top + BAR_ROW / 2;
    out.push(`<text x="${BAR_PLOT.left - 8}" y="${mid + 4}" text-anchor="end">${esc(truncate(b.label, 34))}</text>`);
    if (b.median !== null) {
      out.push(`<rect data-bar="${esc(b.label)}" data-median="${b.median}" x="${BAR_PLOT.left}" y="${top + 6}" width="${c(x(b.median) - BAR_PLOT.left)}" height="${BAR_ROW - 12}" fill="${PALETTE[i % PALETTE.length]}" fill-opacity="0.75"/>`);
      const [lo, hi] = [x(b.min ?? b.median), x(b.max ?? b.median)];
      out.push(`<line class="range" x1="${c(lo)}" y1="${mid}" x2="${c(hi)}" y2="${mid}" stroke="#222222" stroke-width="1.5"/>`);
      for (const end of [lo, hi]) out.push(`<line x1="${c(end)}" y1="${mid - 6}" x2="${c(end)}" y2="${mid + 6}" stroke="#222222" stroke-width="1.5"/>`);
    }
    out.push(`<text x="${BAR_PLOT.left + BAR_PLOT.width + 8}" y="${mid + 4}" font-size="11"${b.median === null ? ' fill="#888888"' : ''}>${esc(`${figure(b)}${b.note ? ` ${b.note}` : ''}`)}</text>`);
  });
  out.push(`<line x1="${BAR_PLOT.left}" y1="${BAR_PLOT.top}" x2="${BAR_PLOT.left}" y2="${bottom}" stroke="#444444"/>`);
  if (reference !== undefined) out.push(`<line class="reference" x1="${c(x(reference))}" y1="${BAR_PLOT.top - 6}" x2="${c(x(reference))}" y2="${bottom}" stroke="#d62728" stroke-dasharray="4 3"/>`);
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}
