import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../engine/metrics/histogram.ts';
import type { LatencyResult, RunResult } from '../engine/result.ts';
import {
  escapeXml,
  latencySpectrumSvg,
  niceScale,
  percentileLabel,
  SPECTRUM_PLOT,
  spectrumSeries,
  timelineSvg,
  TIMELINE_P99_PLOT,
  TIMELINE_THROUGHPUT_PLOT,
} from './svg.ts';
import { allElements, parseXml, textContent, type XmlElement } from '../test-support/xml-check.ts';

const FIXTURE_TEXT = readFileSync(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url), 'utf8');

function fixture(): RunResult {
  return JSON.parse(FIXTURE_TEXT) as RunResult;
}

/** A LatencyResult of the given latencies (ms), as a run would write it. */
function latencyOf(ms: number[]): LatencyResult {
  const recorder = new LatencyRecorder();
  for (const value of ms) recorder.record(value * 1000);
  return { ...recorder.summary(), histogram: recorder.encode() };
}

const EMPTY_LATENCY = latencyOf([]);

function elements(svg: string, name: string): XmlElement[] {
  return allElements(parseXml(svg)).filter((e) => e.name === name);
}

function polylines(svg: string): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  for (const line of elements(svg, 'polyline')) {
    const points = line.attrs.points!.trim().split(/\s+/).map((pair) => pair.split(',').map(Number) as [number, number]);
    for (const [x, y] of points) {
      expect(Number.isFinite(x) && Number.isFinite(y), `vertex of ${line.attrs['data-series']}`).toBe(true);
    }
    out.set(line.attrs['data-series']!, points);
  }
  return out;
}

function groupAttr(svg: string, cls: string, attr: string): number {
  const group = elements(svg, 'g').find((g) => g.attrs.class === cls);
  expect(group, `<g class="${cls}">`).toBeDefined();
  return Number(group!.attrs[attr]);
}

function expectWellFormedSvg(svg: string): XmlElement {
  const root = parseXml(svg);
  expect(root.name).toBe('svg');
  expect(root.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
  expect(root.attrs.viewBox).toBe('0 0 900 400');
  expect(root.children[0]?.name).toBe('title');
  expect(root.children[1]?.name).toBe('desc');
  // Self-contained: no links, scripts, images or foreign objects.
  for (const e of allElements(root)) {
    expect(['script', 'image', 'use', 'foreignObject', 'style', 'a']).not.toContain(e.name);
    expect(Object.keys(e.attrs).some((a) => a.includes('href'))).toBe(false);
  }
  return root;
}

describe('the XML checker used by these tests', () => {
  it('accepts well-formed markup and decodes entities', () => {
    const root = parseXml('<a x="1 &amp; 2"><b/><c y=\'&lt;\'>t &quot;q&quot;</c></a>\n');
    expect(root.attrs.x).toBe('1 & 2');
    expect(root.children.map((e) => e.name)).toEqual(['b', 'c']);
    expect(root.children[1]!.attrs.y).toBe('<');
    expect(root.children[1]!.text).toBe('t "q"');
  });

  it.each([
    ['unclosed', '<a><b></a>'],
    ['closed out of order', '<a><b><c></b></c></a>'],
    ['never closed', '<a><b/>'],
    ['unquoted attribute', '<a x=1/>'],
    ['bare & in text', '<a>x & y</a>'],
    ['bare & in attribute', '<a x="&"/>'],
    ['< in attribute', '<a x="<"/>'],
    ['duplicate attribute', '<a x="1" x="2"/>'],
    ['two roots', '<a/><b/>'],
    ['text outside the root', 'hi<a/>'],
    ['raw quote breaking an attribute', '<a x="say "hi""/>'],
  ])('rejects %s', (_name, text) => {
    expect(() => parseXml(text)).toThrow();
  });
});

describe('helpers', () => {
  it('escapes &, <, > and both quotes', () => {
    expect(escapeXml(`a<b&"c"'d'>`)).toBe('a&lt;b&amp;&quot;c&quot;&apos;d&apos;&gt;');
  });

  it('labels the decades of 1/(1-p) as percentiles', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map(percentileLabel)).toEqual(['0%', '90%', '99%', '99.9%', '99.99%', '99.999%', '99.9999%']);
  });

  it('picks a nice axis maximum at or above the data', () => {
    expect(niceScale(23.631)).toEqual({ max: 25, step: 5 });
    expect(niceScale(7)).toEqual({ max: 8, step: 2 });
    expect(niceScale(1279.6)).toEqual({ max: 1500, step: 500 });
    expect(niceScale(0)).toEqual({ max: 1, step: 0.25 });
  });
});

describe('latencySpectrumSvg', () => {
  it('is well-formed, titled and described, with one polyline per counted series', () => {
    const result = fixture();
    const svg = latencySpectrumSvg(result);
    const root = expectWellFormedSvg(svg);
    expect(textContent(root.children[0]!)).toBe('Latency by percentile — dup-storm (20261125T132404-dup-storm)');
    const desc = textContent(root.children[1]!);
    expect(desc).toContain('end-to-end, overall: 5000 samples');
    expect(desc).toContain('max 23.63 ms');
    // The warmup is excluded from the totals, so it is not drawn.
    expect([...polylines(svg).keys()]).toEqual(['end_to_end', 'phase:storm', 'publish_ack']);
    const text = allElements(root).filter((e) => e.name === 'text').map(textContent);
    for (const label of ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%', 'percentile', 'latency (ms)']) expect(text).toContain(label);
    for (const label of ['end-to-end, overall', 'phase storm', 'publish→PUBACK']) expect(text).toContain(label);
    expect(text).toContain('n=7433, max 10.78 ms');
  });

  it('draws every generated point: ceil(10·log10 n) + 1 of them, the last one the histogram max', () => {
    const result = fixture();
    const svg = latencySpectrumSvg(result);
    const lines = polylines(svg);
    const series = spectrumSeries(result);
    const e2e = lines.get('end_to_end')!;
    expect(series[0]!.id).toBe('end_to_end');
    expect(e2e).toHaveLength(series[0]!.points.length);
    // 5000 samples: k = 0 … 36 (10^(36/10) ≈ 3981 < 5000 ≤ 10^(37/10)), then the max.
    expect(e2e).toHaveLength(38);
    expect(lines.get('publish_ack')).toHaveLength(40); // 7433 samples: k = 0 … 38, then the max.

    const yMax = groupAttr(svg, 'plot', 'data-y-max-ms');
    const decades = groupAttr(svg, 'plot', 'data-x-decades');
    expect(yMax).toBe(25);
    expect(decades).toBe(5);
    const toMs = (py: number) => ((SPECTRUM_PLOT.top + SPECTRUM_PLOT.height - py) / SPECTRUM_PLOT.height) * yMax;
    const toInverseTail = (px: number) => 10 ** (((px - SPECTRUM_PLOT.left) / SPECTRUM_PLOT.width) * decades);

    // Largest value = smallest SVG y = the histogram's max, drawn last, at 1/(1-p) = count.
    const top = Math.min(...e2e.map(([, y]) => y));
    const histogramMax = LatencyRecorder.decode(result.latency.end_to_end.histogram).valueAtPercentile(100) / 1000;
    expect(histogramMax).toBe(23.631);
    expect(toMs(top)).toBeCloseTo(histogramMax, 2);
    expect(e2e[e2e.length - 1]![1]).toBe(top);
    expect(toInverseTail(e2e[e2e.length - 1]![0])).toBeCloseTo(5000, -1);
    // First point: 0%, the minimum.
    expect(e2e[0]![0]).toBe(SPECTRUM_PLOT.left);
    expect(toMs(e2e[0]![1])).toBeCloseTo(result.latency.end_to_end.min_ms, 2);
    // p99 is the 21st point (k = 20).
    expect(toMs(e2e[20]![1])).toBeCloseTo(result.latency.end_to_end.p99_ms, 2);
    expect(toInverseTail(e2e[20]![0])).toBeCloseTo(100, 3);
    // A spectrum never goes down: x increases and y (SVG, downwards) never increases.
    for (let i = 1; i < e2e.length; i++) {
      expect(e2e[i]![0]).toBeGreaterThan(e2e[i - 1]![0]);
      expect(e2e[i]![1]).toBeLessThanOrEqual(e2e[i - 1]![1]);
    }
    // The publish→PUBACK max, on the same axis.
    const ack = lines.get('publish_ack')!;
    expect(toMs(Math.min(...ack.map(([, y]) => y)))).toBeCloseTo(result.latency.publish_ack.max_ms, 2);
  });

  it('follows a hand-made histogram: 1000 samples of 1…1000 ms', () => {
    const result = fixture();
    result.latency.end_to_end = latencyOf(Array.from({ length: 1000 }, (_, i) => i + 1));
    result.phases = [];
    result.latency.publish_ack = EMPTY_LATENCY;
    const svg = latencySpectrumSvg(result);
    expectWellFormedSvg(svg);
    const lines = polylines(svg);
    expect([...lines.keys()]).toEqual(['end_to_end']);
    const e2e = lines.get('end_to_end')!;
    expect(e2e).toHaveLength(31); // k = 0 … 29, then the max.
    const yMax = groupAttr(svg, 'plot', 'data-y-max-ms');
    expect(yMax).toBe(1250); // the max, 1000.447 ms, is just past 1000: the next 250 step.
    const toMs = (py: number) => ((SPECTRUM_PLOT.top + SPECTRUM_PLOT.height - py) / SPECTRUM_PLOT.height) * yMax;
    // HDR with 3 significant digits: the max reads as 1000.447 ms (its bucket's highest value).
    expect(toMs(Math.min(...e2e.map(([, y]) => y)))).toBeCloseTo(result.latency.end_to_end.max_ms, 1);
    expect(result.latency.end_to_end.max_ms).toBeGreaterThanOrEqual(1000);
    expect(result.latency.end_to_end.max_ms).toBeLessThan(1001);
    // The median (k = 3: p = 1 − 10^−0.3 ≈ 49.9%) sits near 500 ms.
    expect(toMs(e2e[3]![1])).toBeGreaterThan(490);
    expect(toMs(e2e[3]![1])).toBeLessThan(510);
  });

  it('extends the axis past 99.999% when a histogram holds more than 10^5 samples', () => {
    const result = fixture();
    const recorder = new LatencyRecorder();
    for (let i = 0; i < 200_000; i++) recorder.record(1000 + (i % 1000));
    result.latency.end_to_end = { ...recorder.summary(), histogram: recorder.encode() };
    const svg = latencySpectrumSvg(result);
    expect(groupAttr(svg, 'plot', 'data-x-decades')).toBe(6);
    expect(elements(svg, 'text').map(textContent)).toContain('99.9999%');
    expect(polylines(svg).get('end_to_end')).toHaveLength(Math.ceil(10 * Math.log10(200_000)) + 1);
  });

  it('marks a single-sample series with a dot as well', () => {
    const result = fixture();
    result.latency.end_to_end = latencyOf([5]);
    result.phases = [];
    result.latency.publish_ack = EMPTY_LATENCY;
    const svg = latencySpectrumSvg(result);
    expectWellFormedSvg(svg);
    expect(polylines(svg).get('end_to_end')).toHaveLength(1);
    expect(elements(svg, 'circle')).toHaveLength(1);
  });

  it('escapes phase and scenario names', () => {
    const result = fixture();
    result.scenario.name = 'x<y> & "z"';
    result.phases[1]!.name = 'a<b&"c"';
    const svg = latencySpectrumSvg(result);
    const root = expectWellFormedSvg(svg);
    expect(svg).not.toContain('a<b');
    expect(svg).toContain('data-series="phase:a&lt;b&amp;&quot;c&quot;"');
    expect([...polylines(svg).keys()]).toContain('phase:a<b&"c"');
    expect(textContent(root.children[0]!)).toBe('Latency by percentile — x<y> & "z" (20261125T132404-dup-storm)');
    expect(elements(svg, 'text').map(textContent)).toContain('phase a<b&"c"');
  });

  it.each<[string, (r: RunResult) => void]>([
    ['every histogram empty', (r) => {
      r.latency.end_to_end = EMPTY_LATENCY;
      r.latency.publish_ack = EMPTY_LATENCY;
      for (const p of r.phases) p.latency = EMPTY_LATENCY;
    }],
    ['no histograms at all', (r) => {
      (r as Partial<RunResult>).latency = undefined;
      (r as Partial<RunResult>).phases = undefined;
    }],
    ['empty histogram strings', (r) => {
      r.latency.end_to_end = { ...EMPTY_LATENCY, histogram: '' };
      r.latency.publish_ack = { ...EMPTY_LATENCY, histogram: '' };
      r.phases = [];
    }],
  ])('says "no data" with %s', (_name, change) => {
    const result = fixture();
    change(result);
    const svg = latencySpectrumSvg(result);
    const root = expectWellFormedSvg(svg);
    expect(root.attrs['data-empty']).toBe('true');
    expect(elements(svg, 'text').map(textContent)).toContain('no data');
    expect(elements(svg, 'polyline')).toHaveLength(0);
  });

  it('draws publish→PUBACK alone for a bare-subscriber run (nothing committed)', () => {
    const result = fixture();
    result.latency.end_to_end = EMPTY_LATENCY;
    for (const p of result.phases) p.latency = EMPTY_LATENCY;
    const svg = latencySpectrumSvg(result);
    expectWellFormedSvg(svg);
    expect([...polylines(svg).keys()]).toEqual(['publish_ack']);
  });

  it('is pure: same output twice, input unchanged', () => {
    const result = fixture();
    expect(latencySpectrumSvg(result)).toBe(latencySpectrumSvg(result));
    expect(timelineSvg(result)).toBe(timelineSvg(result));
    expect(JSON.stringify(result, null, 2)).toBe(FIXTURE_TEXT.trimEnd());
  });
});

describe('timelineSvg', () => {
  /** x (SVG) → seconds, from the axis the chart declares. */
  function toSeconds(svg: string): (px: number) => number {
    const xMax = groupAttr(svg, 'x-axis', 'data-x-max-s');
    return (px) => ((px - TIMELINE_THROUGHPUT_PLOT.left) / TIMELINE_THROUGHPUT_PLOT.width) * xMax;
  }

  it('says who counted the consumed rate, and labels it self-reported when the subscriber did (or the result does not say)', () => {
    const counted = timelineSvg(fixture());
    expect(counted).toContain('consumed; its PUBACKs counted by the broker');
    expect(counted).not.toContain('self-reported');
    const selfReported = fixture();
    selfReported.backlog_source = 'subscriber (self-reported)';
    const older = fixture();
    delete older.backlog_source;
    for (const result of [selfReported, older]) {
      const svg = timelineSvg(result);
      expectWellFormedSvg(svg);
      expect(svg).toContain('consumed; self-reported by the subscriber');
      expect(svg).toContain('consumed msg/s (self-reported)');
    }
  });

  it('has one vertex per timeline sample and per second of commits, at the right places', () => {
    const result = fixture();
    const svg = timelineSvg(result);
    const root = expectWellFormedSvg(svg);
    expect(textContent(root.children[0]!)).toContain('dup-storm');
    const lines = polylines(svg);
    expect([...lines.keys()].sort()).toEqual(['consumed', 'offered', 'p99']);
    expect(lines.get('consumed')).toHaveLength(result.timeline.length);
    expect(lines.get('offered')).toHaveLength(result.timeline.length);
    expect(lines.get('p99')).toHaveLength(result.commits_per_second.length);
    expect(result.timeline).toHaveLength(7);
    expect(result.commits_per_second).toHaveLength(8);

    const seconds = toSeconds(svg);
    expect(groupAttr(svg, 'x-axis', 'data-x-max-s')).toBe(8);
    const rateMax = groupAttr(svg, 'throughput', 'data-y-max');
    expect(rateMax).toBe(1500);
    const toRate = (py: number) => ((TIMELINE_THROUGHPUT_PLOT.top + TIMELINE_THROUGHPUT_PLOT.height - py) / TIMELINE_THROUGHPUT_PLOT.height) * rateMax;
    result.timeline.forEach((sample, i) => {
      const [cx, cy] = lines.get('consumed')![i]!;
      const [, oy] = lines.get('offered')![i]!;
      expect(seconds(cx)).toBeCloseTo(sample.t_s, 1);
      expect(toRate(cy)).toBeCloseTo(sample.consumed_per_s, -1);
      expect(toRate(oy)).toBeCloseTo(sample.offered_per_s, -1);
    });

    // p99 on a log scale: 10 … 100 ms for this run (7.6 … 61.9 ms).
    const lo = groupAttr(svg, 'p99', 'data-log10-min');
    const hi = groupAttr(svg, 'p99', 'data-log10-max');
    expect([lo, hi]).toEqual([1, 2]);
    const toMs = (py: number) => 10 ** (lo + ((TIMELINE_P99_PLOT.top + TIMELINE_P99_PLOT.height - py) / TIMELINE_P99_PLOT.height) * (hi - lo));
    result.commits_per_second.forEach((second, i) => {
      const [px, py] = lines.get('p99')![i]!;
      expect(seconds(px)).toBeCloseTo(second.t_s + 0.5, 1);
      expect(toMs(py) / second.p99_ms).toBeCloseTo(1, 2);
    });
    // The highest p99 point is the second with p99 61.919 ms.
    const highest = lines.get('p99')!.reduce((a, b) => (b[1] < a[1] ? b : a));
    expect(toMs(highest[1])).toBeCloseTo(61.919, 1);
  });

  it('shades each phase with faults, labelled, and marks the phase boundaries', () => {
    const result = fixture();
    const svg = timelineSvg(result);
    const seconds = toSeconds(svg);
    // The fixture's storm phase injects duplicates: the one phase with faults.
    const rects = elements(svg, 'rect').filter((r) => 'data-phase' in r.attrs);
    expect(rects.map((r) => r.attrs['data-phase'])).toEqual(['storm']);
    expect(seconds(Number(rects[0]!.attrs.x))).toBeCloseTo(2, 5);
    expect(seconds(Number(rects[0]!.attrs.x) + Number(rects[0]!.attrs.width))).toBeCloseTo(7, 5);
    expect(elements(svg, 'text').map(textContent)).toContain('storm');
    const boundaries = elements(svg, 'line').filter((l) => l.attrs.class === 'phase-boundary');
    expect(boundaries.map((l) => seconds(Number(l.attrs.x1)))).toEqual([2]);
  });

  it('shades every faulted phase: a variation with faults in the warmup too, and one with none', () => {
    const both = fixture();
    both.scenario.phases[0]!.faults = [{ kind: 'consumer-crash', at_s: 1, every_s: 0, downtime_ms: 500 } as never];
    const svg = timelineSvg(both);
    expectWellFormedSvg(svg);
    const seconds = toSeconds(svg);
    const rects = elements(svg, 'rect').filter((r) => 'data-phase' in r.attrs);
    expect(rects.map((r) => r.attrs['data-phase'])).toEqual(['warmup', 'storm']);
    expect(seconds(Number(rects[0]!.attrs.x))).toBeCloseTo(0, 5);
    expect(seconds(Number(rects[0]!.attrs.width) + Number(rects[0]!.attrs.x))).toBeCloseTo(2, 5);

    const none = fixture();
    for (const phase of none.scenario.phases) phase.faults = [];
    const clean = timelineSvg(none);
    expectWellFormedSvg(clean);
    expect(elements(clean, 'rect').filter((r) => 'data-phase' in r.attrs)).toHaveLength(0);
    expect(textContent(parseXml(clean).children[1]!)).toContain('No phase has faults.');
  });

  it('escapes a phase named a<b&"c"', () => {
    const result = fixture();
    result.scenario.phases[1]!.name = 'a<b&"c"';
    for (const sample of result.timeline) if (sample.phase === 'storm') sample.phase = 'a<b&"c"';
    const svg = timelineSvg(result);
    expectWellFormedSvg(svg);
    expect(svg).not.toContain('a<b');
    expect(svg).toContain('data-phase="a&lt;b&amp;&quot;c&quot;"');
    const rects = elements(svg, 'rect').filter((r) => 'data-phase' in r.attrs);
    expect(rects.map((r) => r.attrs['data-phase'])).toEqual(['a<b&"c"']);
    expect(elements(svg, 'text').map(textContent)).toContain('a<b&"c"');
  });

  it('draws an older result without commits_per_second: throughput only, and says so', () => {
    const result = fixture();
    delete (result as Partial<RunResult>).commits_per_second;
    const svg = timelineSvg(result);
    expectWellFormedSvg(svg);
    const lines = polylines(svg);
    expect([...lines.keys()].sort()).toEqual(['consumed', 'offered']);
    expect(lines.get('consumed')).toHaveLength(7);
    expect(elements(svg, 'text').map(textContent)).toContain('no per-second commit latency in this result');
  });

  it('draws p99 alone when there is no timeline', () => {
    const result = fixture();
    result.timeline = [];
    const svg = timelineSvg(result);
    expectWellFormedSvg(svg);
    expect([...polylines(svg).keys()]).toEqual(['p99']);
    expect(polylines(svg).get('p99')).toHaveLength(8);
  });

  it('puts a second with a p99 of 0 on the axis floor rather than dropping it', () => {
    const result = fixture();
    result.commits_per_second[3]!.p99_ms = 0;
    const svg = timelineSvg(result);
    const p99 = polylines(svg).get('p99')!;
    expect(p99).toHaveLength(8);
    expect(p99[3]![1]).toBe(TIMELINE_P99_PLOT.top + TIMELINE_P99_PLOT.height);
  });

  it.each<[string, (r: RunResult) => void]>([
    ['empty timeline and commits', (r) => {
      r.timeline = [];
      r.commits_per_second = [];
    }],
    ['neither field (an older file)', (r) => {
      delete (r as Partial<RunResult>).timeline;
      delete (r as Partial<RunResult>).commits_per_second;
    }],
  ])('says "no data" with %s', (_name, change) => {
    const result = fixture();
    change(result);
    const svg = timelineSvg(result);
    const root = expectWellFormedSvg(svg);
    expect(root.attrs['data-empty']).toBe('true');
    expect(elements(svg, 'text').map(textContent)).toContain('no data');
    expect(elements(svg, 'polyline')).toHaveLength(0);
  });
});
