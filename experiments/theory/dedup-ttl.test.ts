// Table 6: the findings on hand-made rows, then one small real sweep (two TTLs) through an embedded
// broker and the reference aggregator: the short TTL must leak more and hold fewer entries.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DEDUP_TTL_OPTIONS, dedupTtlFindings, dedupTtlRows, measureDedupTtl, type DedupTtlMeasurement, type DedupTtlOptions } from './dedup-ttl.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const outDir = tempDirs('dedup-ttl');

function measurement(ttl_ms: number, copies: number, leaked: number, predicted_share: number, entries_peak: number): DedupTtlMeasurement {
  return { ttl_ms, copies, leaked, predicted_share, entries_peak, entries_final: entries_peak, bytes_peak: entries_peak * 106, lost: 0, valid: true };
}

describe('dedup TTL findings', () => {
  it('quote the measured and predicted leak rates, the size growth and the cheapest TTL under 1%, from the rows', () => {
    const rows = dedupTtlRows([measurement(100, 2_000, 1_810, 0.905, 110), measurement(1_000, 2_000, 740, 0.368, 1_180), measurement(10_000, 2_000, 0, 0, 9_000)]);
    expect(rows[0]).toMatchObject({ ttl_ms: 100, leaked_share: 0.905, size_peak_kb: (110 * 106) / 1024 });
    const findings = dedupTtlFindings(rows, DEFAULT_DEDUP_TTL_OPTIONS).join('\n');
    expect(findings).toContain('100 ms: 90.5% leaked, 90.5% predicted');
    expect(findings).toContain('1 s: 37.0% leaked, 36.8% predicted');
    expect(findings).toContain('peak entries grew from 110 at 100 ms to 9,000 at 10 s (82×)');
    expect(findings).toContain('The shortest TTL that leaked under 1% of duplicates was 10 s');
    expect(findings).toContain('4.6 s for 1%');
    expect(findings).not.toContain('Caveat');
  });
});

describe('dedup TTL sweep (real runs)', () => {
  it('a short TTL leaks more duplicates than a long one, and the long one holds more entries', async () => {
    const out_dir = outDir();
    // Exponential delays with mean 300 ms (capped at 1.5 s): a 30 ms TTL should leak ~90%, a 2 s TTL none.
    const options: DedupTtlOptions = { ttls_ms: [30, 2_000], rate: 400, duration_s: 2.5, warmup_s: 0, fraction: 0.3, delay_ms: 300, delay_distribution: 'exponential' };
    const [short, long] = await measureDedupTtl({ seed: 7, out_dir, log: () => {} }, options);
    expect(short!.copies).toBeGreaterThan(150);
    expect(long!.copies).toBe(short!.copies);
    expect(short!.leaked / short!.copies).toBeGreaterThan(0.5);
    expect(long!.leaked).toBeLessThan(short!.leaked);
    expect(long!.leaked / long!.copies).toBeLessThan(0.05);
    expect(long!.entries_peak).toBeGreaterThan(2 * short!.entries_peak!);
    expect(short!.lost + long!.lost).toBe(0);
  }, 60_000);
});
