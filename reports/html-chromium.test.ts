// report.html, compare.html and gate.html in a real browser: Debian's headless Chromium (CHROMIUM
// names another binary), offline. Each page must load with no console error, request nothing but
// itself and show its charts; the screenshot is written beside the page. Chromium missing is a
// failure that says how to install it, never a skip. The planted pages prove the check can fail.

import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkPage, pngSize, requireChromium, type PageCheck } from '../test-support/chromium.ts';
import { compareReportFixture, gateReportFixture } from '../test-support/campaign-fixtures.ts';
import { runChaosbench } from '../test-support/run-command.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';
import { renderCompareHtml, renderGateHtml } from './html.ts';

const FIXTURE_PATH = fileURLToPath(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url));
const tempDir = tempDirs('html-chromium');
const WIDTH = 1280;
const HEIGHT = 2000;

/** What the page shows: its verdict, and each inline chart's rendered size. */
const SHOWN = `({
  verdict: document.querySelector('.verdict .status')?.textContent,
  charts: [...document.querySelectorAll('figure svg')].map((svg) => { const box = svg.getBoundingClientRect(); return [svg.querySelector('title').textContent.split(' — ')[0], Math.round(box.width), Math.round(box.height)]; }),
})`;

let chromium: string | undefined;
/** The page at path loaded in Chromium; its screenshot written to png. */
async function load(path: string, png?: string): Promise<PageCheck> {
  chromium ??= requireChromium();
  const check = await checkPage(pathToFileURL(path).href, { width: WIDTH, height: HEIGHT, evaluate: SHOWN });
  if (png) writeFileSync(png, check.screenshot);
  return check;
}

/** A page that loaded clean: no console error, nothing requested but the page, a screenshot of the viewport. */
function expectClean(check: PageCheck, path: string, png: string): void {
  expect(check.console_errors, `console errors of ${path}`).toEqual([]);
  expect(check.requests).toEqual([pathToFileURL(path).href]);
  expect(check.failed_requests).toEqual([]);
  expect(statSync(png).size).toBeGreaterThan(20_000);
  expect(pngSize(readFileSync(png))).toEqual({ width: WIDTH, height: HEIGHT });
}

describe('the HTML reports in headless Chromium', () => {
  it("report.html of a real run (npm run report on dup-storm's result.json) loads offline, clean, with its three charts drawn", { timeout: 120_000 }, async () => {
    const dir = tempDir();
    copyFileSync(FIXTURE_PATH, join(dir, 'result.json'));
    const report = await runChaosbench('report', [dir]);
    expect(report.code, report.stderr).toBe(0);
    const page = join(dir, 'report.html');
    const png = join(dir, 'report.png');
    const check = await load(page, png);
    expectClean(check, page, png);
    // Drawn at their own size, 900 × 400, inside a 1 px border (the page is wider).
    expect(check.value).toEqual({
      verdict: 'PASS',
      charts: [
        ['Latency by percentile', 902, 402],
        ['Throughput and p99 per second', 902, 402],
        ['Backlog over time', 902, 402],
      ],
    });
  });

  it('compare.html and gate.html load offline, clean, with their tables as bar charts', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const pages: [string, string, unknown][] = [
      ['compare', renderCompareHtml(compareReportFixture()), { verdict: 'ALL VALID', charts: [['Committed ev/s per variant', 902], ['End-to-end p99 per variant', 902]] }],
      ['gate', renderGateHtml(gateReportFixture()), { verdict: 'gate FAILED: regression', charts: [['p99_ms: baselines/gate.json and this checkout', 902], ['Ratio candidate / baseline (1 = no change)', 902]] }],
    ];
    for (const [name, html, shown] of pages) {
      const page = join(dir, `${name}.html`);
      const png = join(dir, `${name}.png`);
      writeFileSync(page, html);
      const check = await load(page, png);
      expectClean(check, page, png);
      const value = check.value as { verdict: string; charts: [string, number, number][] };
      expect({ verdict: value.verdict, charts: value.charts.map(([title, width]) => [title, width]) }).toEqual(shown);
    }
  });

  it('the check can fail: a planted console.error, an uncaught exception and a request to the network are each caught', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const page = join(dir, 'planted.html');
    writeFileSync(
      page,
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>planted</title></head><body><p>planted</p>" +
        "<script>console.error('x')</script><script>throw new Error('planted exception')</script><img src='http://example.com/planted.png'></body></html>",
    );
    const check = await load(page);
    expect(check.console_errors).toEqual(expect.arrayContaining(['console.error: x', expect.stringContaining('planted exception'), expect.stringContaining('ERR_NAME_NOT_RESOLVED')]));
    expect(check.requests).toContain('http://example.com/planted.png');
    expect(check.failed_requests).toEqual(['http://example.com/planted.png: net::ERR_NAME_NOT_RESOLVED']);
  });

  it("report.html's policy holds in the browser: a script and an image planted in it are refused, and the refusal is caught", { timeout: 120_000 }, async () => {
    const dir = tempDir();
    copyFileSync(FIXTURE_PATH, join(dir, 'result.json'));
    expect((await runChaosbench('report', [dir])).code).toBe(0);
    const page = join(dir, 'report.html');
    writeFileSync(page, readFileSync(page, 'utf8').replace('</body>', "<script>console.error('ran')</script><img src='http://example.com/planted.png'>\n</body>"));
    const check = await load(page);
    expect(check.console_errors.some((e) => e.includes('ran'))).toBe(false);
    expect(check.console_errors.filter((e) => e.includes('Content Security Policy')).length).toBeGreaterThanOrEqual(2);
    // The image was never fetched: the request was blocked by the policy before it left.
    expect(check.failed_requests).toEqual(['http://example.com/planted.png: failed (blocked: csp)']);
  });
});
