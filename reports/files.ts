// The files a run directory holds next to result.json, as name → content: a pure function shared
// by the bench command (after a run) and `npm run report` (re-rendering an old result.json).

import { LatencyRecorder } from '../engine/metrics/histogram.ts';
import type { LatencyResult, RunResult } from '../engine/result.ts';
import { renderHtmlReport } from './html.ts';
import { renderReport } from './markdown.ts';
import { backlogSvg, latencySpectrumSvg, timelineSvg } from './svg.ts';

/** A phase name as a file-name fragment: letters, digits, '.', '_' and '-' kept, anything else '_'. */
export function sanitizeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return cleaned === '' ? 'unnamed' : cleaned.slice(0, 100);
}

function hgrm(latency: LatencyResult | undefined): string {
  const recorder = latency && typeof latency.histogram === 'string' && latency.histogram !== '' ? LatencyRecorder.decode(latency.histogram) : new LatencyRecorder();
  return recorder.toHgrm();
}

/**
 * report.md, report.html (the same report as one self-contained page, charts inline), latency.svg, timeline.svg, backlog.svg, latency.hgrm (end to end), publish-ack.hgrm and one
 * phase-<name>.hgrm per phase (excluded phases too), each as a function that renders it: a caller
 * re-rendering an old or damaged result.json can keep the files that render and name the ones that
 * do not. Two phases whose names sanitise alike get -2, -3, … so no file overwrites another.
 * result.json itself is not included.
 */
export function reportFileRenderers(result: RunResult): Record<string, () => string> {
  const renderers: Record<string, () => string> = {
    'report.md': () => renderReport(result),
    'report.html': () => renderHtmlReport(result),
    'latency.svg': () => latencySpectrumSvg(result),
    'timeline.svg': () => timelineSvg(result),
    'backlog.svg': () => backlogSvg(result),
    'latency.hgrm': () => hgrm(result.latency?.end_to_end),
    'publish-ack.hgrm': () => hgrm(result.latency?.publish_ack),
  };
  for (const phase of result.phases ?? []) {
    const base = `phase-${sanitizeFileName(phase.name)}`;
    let name = `${base}.hgrm`;
    for (let n = 2; Object.hasOwn(renderers, name); n++) name = `${base}-${n}.hgrm`;
    renderers[name] = () => hgrm(phase.latency);
  }
  return renderers;
}

/** Every file of reportFileRenderers, rendered (file name → content); throws if one cannot be. */
export function reportFiles(result: RunResult): Record<string, string> {
  return Object.fromEntries(Object.entries(reportFileRenderers(result)).map(([name, render]) => [name, render()]));
}
