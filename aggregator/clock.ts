// Wall-clock microseconds since the epoch with sub-millisecond resolution, comparable across
// processes on one machine. Latency is measured as (commit time in the aggregator process) −
// (intended send time in the harness process), so both sides must read the same clock.
// Date.now() alone has 1 ms steps; the monotonic hrtime is anchored to the wall clock once,
// at the moment Date.now() ticks over, which aligns the two to within a few microseconds.

/** A tick edge seen within this many ns is taken at once; otherwise the tightest of a few tries. */
const ANCHOR_TIGHT_NS = 20_000n;
const ANCHOR_TRIES = 5;

function anchor(): { epochMs: number; hr: bigint } {
  // The tick edge lies between the hrtime read before the Date.now() that saw the old millisecond
  // and the hrtime read after the one that saw the new: a thread pre-empted in that gap (a loaded
  // machine) would anchor late by the pre-emption, so each thread or process could disagree by
  // 0.1 ms or more. Keep the try with the narrowest gap.
  let best = { epochMs: 0, hr: 0n, gap: -1n };
  for (let i = 0; i < ANCHOR_TRIES && (best.gap < 0n || best.gap > ANCHOR_TIGHT_NS); i++) {
    const start = Date.now();
    let before = process.hrtime.bigint();
    let now = Date.now();
    let after = process.hrtime.bigint();
    // Spin at most ~2 ms until the millisecond changes.
    while (now === start) {
      before = after;
      now = Date.now();
      after = process.hrtime.bigint();
    }
    const gap = after - before;
    if (best.gap < 0n || gap < best.gap) best = { epochMs: now, hr: after, gap };
  }
  return { epochMs: best.epochMs, hr: best.hr };
}

const base = anchor();

/** Microseconds since the Unix epoch (fractional part dropped). */
export function nowMicros(): number {
  const elapsedNs = process.hrtime.bigint() - base.hr;
  return base.epochMs * 1000 + Number(elapsedNs / 1000n);
}

/** The last second isoMicros formatted (s since the epoch) and its text up to the decimal point. */
let isoSecond = Number.NaN;
let isoPrefix = '';
const isoPrefixBytes = Buffer.alloc(20);

function isoPrefixOf(second: number): void {
  if (second === isoSecond) return;
  isoPrefix = new Date(second * 1000).toISOString().slice(0, -4); // YYYY-MM-DDTHH:MM:SS.
  isoPrefixBytes.write(isoPrefix, 0, 'latin1');
  isoSecond = second;
}

/**
 * ISO 8601 with microseconds, e.g. 2026-11-25T06:25:00.123456Z (`micros`: a whole number). The
 * date and time up to the second are formatted once per second (the generator stamps every event
 * with one: a Date and toISOString per call cost it ~2 µs).
 */
export function isoMicros(micros: number): string {
  const second = Math.floor(micros / 1e6);
  isoPrefixOf(second);
  const fraction = micros - second * 1e6;
  return `${isoPrefix}${fraction < 100_000 ? String(fraction).padStart(6, '0') : fraction}Z`;
}

/** Bytes isoMicros' text takes (years 1000–9999). */
export const ISO_MICROS_BYTES = 27;

/** isoMicros(micros)'s ASCII bytes written into `buffer` at `at`, no string made. */
export function writeIsoMicros(buffer: Buffer, at: number, micros: number): void {
  const second = Math.floor(micros / 1e6);
  isoPrefixOf(second);
  buffer.set(isoPrefixBytes, at);
  let fraction = (micros - second * 1e6) | 0;
  for (let i = at + 25; i >= at + 20; i--) {
    const next = (fraction / 10) | 0;
    buffer[i] = 48 + fraction - next * 10;
    fraction = next;
  }
  buffer[at + 26] = 90; // Z
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
