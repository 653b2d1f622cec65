import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../engine/metrics/histogram.ts';
import type { LatencyResult, RunResult } from '../engine/result.ts';
import { reportFiles, sanitizeFileName } from './files.ts';
import { renderReport } from './markdown.ts';
import { latencySpectrumSvg, timelineSvg } from './svg.ts';
import { parseXml } from '../test-support/xml-check.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';
import { runChaosbench } from '../test-support/run-command.ts';

const FIXTURE_PATH = fileURLToPath(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url));
const FIXTURE_TEXT = readFileSync(FIXTURE_PATH, 'utf8');

function fixture(): RunResult {
  return JSON.parse(FIXTURE_TEXT) as RunResult;
}

const EXPECTED_NAMES = [
  'backlog.svg',
  'latency.hgrm',
  'latency.svg',
  'phase-storm.hgrm',
  'phase-warmup.hgrm',
  'publish-ack.hgrm',
  'report.html',
  'report.md',
  'timeline.svg',
];

const HGRM_HEADER = '       Value     Percentile TotalCount 1/(1-Percentile)\n\n';

/** Checks an .hgrm text against the histogram it came from: header, rows, and the footer's max and count. */
function expectHgrmOf(text: string, latency: LatencyResult, name: string): void {
  expect(text.startsWith(HGRM_HEADER), name).toBe(true);
  const footer = /#\[Max\s+=\s+([\d.]+), Total count\s+=\s+(\d+)\]/.exec(text);
  expect(footer, `${name} footer`).not.toBeNull();
  expect(Number(footer![1]), `${name} max`).toBe(latency.max_ms);
  expect(Number(footer![2]), `${name} count`).toBe(latency.count);
  // Data rows: value, percentile, cumulative count (and 1/(1-p) except on the last row).
  const rows = text
    .slice(HGRM_HEADER.length)
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.trim().split(/\s+/).map(Number));
  if (latency.count === 0) {
    expect(rows, name).toEqual([]);
    return;
  }
  for (const row of rows) expect(row.every(Number.isFinite), `${name} row ${row.join(' ')}`).toBe(true);
  // The first row is the minimum's bucket, printed at the bucket's top (3 significant digits).
  expect(Math.abs(rows[0]![0]! - latency.min_ms) / latency.min_ms, `${name} first value`).toBeLessThan(0.002);
  expect(rows[0]!.slice(1, 3), `${name} first row`).toEqual([0, 1]);
  const last = rows[rows.length - 1]!;
  expect(last.slice(0, 3), `${name} last row`).toEqual([latency.max_ms, 1, latency.count]);
}

describe('reportFiles', () => {
  it('names every file of a run directory for the fixture', () => {
    expect(Object.keys(reportFiles(fixture())).sort()).toEqual(EXPECTED_NAMES);
  });

  it('holds the report, both charts and an .hgrm per histogram, each from its own data', () => {
    const result = fixture();
    const files = reportFiles(result);
    expect(files['report.md']).toBe(renderReport(result));
    expect(files['latency.svg']).toBe(latencySpectrumSvg(result));
    expect(files['timeline.svg']).toBe(timelineSvg(result));
    expect(parseXml(files['latency.svg']!).name).toBe('svg');
    expect(parseXml(files['timeline.svg']!).name).toBe('svg');
    // What the bench command wrote as latency.hgrm before reportFiles existed.
    expect(files['latency.hgrm']).toBe(LatencyRecorder.decode(result.latency.end_to_end.histogram).toHgrm());
    expectHgrmOf(files['latency.hgrm']!, result.latency.end_to_end, 'latency.hgrm');
    expectHgrmOf(files['publish-ack.hgrm']!, result.latency.publish_ack, 'publish-ack.hgrm');
    for (const phase of result.phases) expectHgrmOf(files[`phase-${phase.name}.hgrm`]!, phase.latency, phase.name);
    // The histograms differ: the warmup's max (71.9 ms) is not the storm's (23.6 ms).
    expect(files['phase-warmup.hgrm']).not.toBe(files['phase-storm.hgrm']);
    expect(result.phases.map((p) => p.latency.max_ms)).toEqual([71.935, 23.631]);
  });

  it('is pure: same files twice, input unchanged', () => {
    const result = fixture();
    expect(reportFiles(result)).toEqual(reportFiles(result));
    expect(JSON.stringify(result, null, 2)).toBe(FIXTURE_TEXT.trimEnd());
  });

  it('sanitises phase names into file names, never a path, never overwriting another', () => {
    expect(sanitizeFileName('a<b&"c"')).toBe('a_b_c_');
    expect(sanitizeFileName('../../etc/passwd')).toBe('etc_passwd');
    expect(sanitizeFileName('spike-1')).toBe('spike-1');
    expect(sanitizeFileName('...')).toBe('unnamed');
    const result = fixture();
    const storm = result.phases[1]!;
    result.phases = [
      { ...result.phases[0]!, name: 'a<b&"c"' },
      { ...storm, name: 'x y' },
      { ...storm, name: 'x/y' },
      { ...storm, name: '../../evil' },
    ];
    const names = Object.keys(reportFiles(result));
    expect(names.filter((n) => n.startsWith('phase-'))).toEqual(['phase-a_b_c_.hgrm', 'phase-x_y.hgrm', 'phase-x_y-2.hgrm', 'phase-evil.hgrm']);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  });

  it('renders an older result without per-second data, and empty histograms', () => {
    const result = fixture();
    delete (result as Partial<RunResult>).timeline;
    delete (result as Partial<RunResult>).commits_per_second;
    const empty = new LatencyRecorder();
    result.latency.publish_ack = { ...empty.summary(), histogram: empty.encode() };
    const files = reportFiles(result);
    expect(Object.keys(files).sort()).toEqual(EXPECTED_NAMES);
    expect(files['timeline.svg']).toContain('>no data<');
    expectHgrmOf(files['publish-ack.hgrm']!, result.latency.publish_ack, 'publish-ack.hgrm');
  });
});

const runReport = (args: string[]) => runChaosbench('report', args);

describe('commands/report/report.ts (npm run report)', () => {
  const tempDir = tempDirs('report');

  it('writes every file next to result.json, prints their paths and exits 0', async () => {
    const dir = tempDir();
    copyFileSync(FIXTURE_PATH, join(dir, 'result.json'));
    const run = await runReport([dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const expected = reportFiles(fixture());
    expect(run.stdout.trim().split('\n').sort()).toEqual(EXPECTED_NAMES.map((name) => join(dir, name)));
    expect(readdirSync(dir).sort()).toEqual([...EXPECTED_NAMES, 'result.json'].sort());
    for (const name of EXPECTED_NAMES) expect(readFileSync(join(dir, name), 'utf8'), name).toBe(expected[name]);
    expect(readFileSync(join(dir, 'result.json'), 'utf8')).toBe(FIXTURE_TEXT);
  });

  it('re-renders a result.json that holds a URL password (written before results were redacted) without it', async () => {
    const dir = tempDir();
    const result = fixture();
    result.scenario.aggregator.dedup = 'redis://:old-secret-pw@127.0.0.1:6379';
    result.overrides = { ...result.overrides, dedup: 'redis://:old-secret-pw@127.0.0.1:6379' };
    writeFileSync(join(dir, 'result.json'), JSON.stringify(result));
    const run = await runReport([dir]);
    expect(run.code, run.stderr).toBe(0);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('redis://:***@127.0.0.1:6379');
    for (const name of EXPECTED_NAMES) expect(readFileSync(join(dir, name), 'utf8').includes('old-secret-pw'), name).toBe(false);
  });

  it('exits 2 with a clear message on a directory without result.json, writing nothing', async () => {
    const dir = tempDir();
    const run = await runReport([dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: no result.json in ${dir}`);
    expect(run.stdout).toBe('');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('exits 2 on a result.json of another schema, naming the schema it expected', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'result.json'), JSON.stringify({ ...fixture(), schema: 'chaosbench.result/v0' }));
    const run = await runReport([dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not a chaosbench.result/v1 file (schema: "chaosbench.result/v0")');
    expect(existsSync(join(dir, 'report.md'))).toBe(false);
  });

  it('writes what renders and exits 1 when a histogram is damaged, leaving the unrenderable files as they were', async () => {
    const dir = tempDir();
    const result = fixture();
    result.phases[1]!.latency.histogram = 'not-a-histogram';
    writeFileSync(join(dir, 'result.json'), JSON.stringify(result));
    writeFileSync(join(dir, 'latency.svg'), 'OLD');
    const run = await runReport([dir]);
    expect(run.code).toBe(1);
    // The storm's histogram feeds its .hgrm and the spectrum; everything else still renders.
    expect(run.stderr).toContain(`error: cannot render latency.svg from ${join(dir, 'result.json')}: not a compressed base64 HDR histogram`);
    expect(run.stderr).toContain('error: cannot render phase-storm.hgrm');
    expect(run.stdout.trim().split('\n').sort()).toEqual(
      ['backlog.svg', 'latency.hgrm', 'phase-warmup.hgrm', 'publish-ack.hgrm', 'report.html', 'report.md', 'timeline.svg'].map((name) => join(dir, name)),
    );
    // report.html says which chart it could not draw, and why, where the chart would be.
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('latency by percentile: cannot be drawn from this result.json: not a compressed base64 HDR histogram');
    expect(readFileSync(join(dir, 'latency.svg'), 'utf8')).toBe('OLD');
    expect(existsSync(join(dir, 'phase-storm.hgrm'))).toBe(false);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toBe(renderReport(result));
  });

  it('exits 2 on a result.json that is not JSON', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'result.json'), '{ not json');
    const run = await runReport([dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not JSON');
  });

  it('explains itself with --help, and exits 2 without a directory', async () => {
    const help = await runReport(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run report -- DIR');
    expect(help.stdout).toContain('Exit codes: 0 files written · 1 some files could not be rendered · 2 bad input');
    for (const name of ['report.md', 'report.html', 'latency.svg', 'timeline.svg', 'backlog.svg', 'latency.hgrm', 'publish-ack.hgrm', 'phase-<name>.hgrm']) expect(help.stdout).toContain(name);
    const none = await runReport([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('missing the run directory');
  });
});
