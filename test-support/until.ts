// Waiting in a test for something another process or the event loop does: poll a condition until it
// holds, or fail naming what was awaited. A bound on the wait, never a timing assertion.

import { sleep } from '../aggregator/clock.ts';

export async function until(condition: () => boolean, timeoutMs: number, what: string, pollMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}
