// The slow-sink knob: how long each sink commit waits before it writes. A fixed delay (the
// --sink-delay-ms flag), plus what the harness's slow-sink fault sets at run time over IPC: seeded
// uniform jitter and stall windows during which every commit waits until the stall ends. Pure
// arithmetic on a clock it is given; the sink does the waiting.

import { deriveSeed, seededRandom, type Random } from '../random.ts';

export interface SlowdownProfile {
  delay_ms: number;
  jitter_ms: number;
  /** Share of commits that fail with a transient error after their delay (default 0). */
  error_rate?: number;
}

export class SinkSlowdown {
  private profile: SlowdownProfile;
  private random: Random;
  private stallUntilMs = 0;
  /** Commits failed on purpose so far. */
  injected_errors = 0;

  constructor(
    private readonly baseDelayMs: number,
    seed: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isFinite(baseDelayMs) || baseDelayMs < 0) throw new RangeError(`sink delay must be a finite number >= 0, got ${baseDelayMs}`);
    this.profile = { delay_ms: baseDelayMs, jitter_ms: 0 };
    this.random = seededRandom(deriveSeed(seed, 'aggregator.slow-sink'));
  }

  /** Replace the delay profile (a slow-sink fault starting); `undefined` goes back to the base delay. */
  set(profile: SlowdownProfile | undefined, seed?: number): void {
    this.profile = profile ?? { delay_ms: this.baseDelayMs, jitter_ms: 0 };
    if (seed !== undefined) this.random = seededRandom(seed);
  }

  /** Every commit from now until `ms` from now waits for the stall to end. */
  stall(ms: number): void {
    this.stallUntilMs = Math.max(this.stallUntilMs, this.now() + ms);
  }

  /** Whether the next commit fails with a transient error (seeded, from the profile's error_rate). */
  nextFails(): boolean {
    const rate = this.profile.error_rate ?? 0;
    if (rate <= 0 || this.random() >= rate) return false;
    this.injected_errors++;
    return true;
  }

  /** How long the next commit waits (ms). */
  nextDelayMs(): number {
    const stalled = Math.max(0, this.stallUntilMs - this.now());
    const jitter = this.profile.jitter_ms > 0 ? this.random() * this.profile.jitter_ms : 0;
    return stalled + this.profile.delay_ms + jitter;
  }
}
