// Wall-clock microseconds since the epoch with sub-millisecond resolution, comparable across
// processes on one machine. Latency is measured as (commit time in the aggregator process) −
// (intended send time in the harness process), so both sides must read the same clock.
// Date.now() alone has 1 ms steps; the monotonic hrtime is anchored to the wall clock once,
// at the moment Date.now() ticks over, which aligns the two to within a few microseconds.

function anchor(): { epochMs: number; hr: bigint } {
  const start = Date.now();
  let now = start;
  // Spin at most ~2 ms until the millisecond changes: the tick edge is the precise anchor.
  while (now === start) now = Date.now();
  return { epochMs: now, hr: process.hrtime.bigint() };
}

const base = anchor();

/** Microseconds since the Unix epoch (fractional part dropped). */
export function nowMicros(): number {
  const elapsedNs = process.hrtime.bigint() - base.hr;
  return base.epochMs * 1000 + Number(elapsedNs / 1000n);
}

/** ISO 8601 with microseconds, e.g. 2026-11-25T06:25:00.123456Z. */
export function isoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // ...SS.mmmZ
  const extra = String(micros % 1000).padStart(3, '0');
  return `${iso.slice(0, -1)}${extra}Z`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
