// Retry with capped exponential backoff and full jitter (delay drawn uniformly from
// [0, min(cap, base·2^attempt)]), so that many consumers retrying after one outage do not
// stampede the sink in lockstep. By default only TransientError is retried; the pipeline retries
// every infrastructure fault (aggregator/failure.ts).

import { TransientError } from './sink/index.ts';
import type { Random } from './random.ts';
import { sleep } from './clock.ts';

export interface RetryPolicy {
  base_ms: number;
  cap_ms: number;
  /** Total attempts including the first; when all fail transiently the error is final. */
  max_attempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { base_ms: 10, cap_ms: 2_000, max_attempts: 8 };

export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: Random): number {
  const ceiling = Math.min(policy.cap_ms, policy.base_ms * 2 ** attempt);
  return random() * ceiling;
}

export class RetriesExhaustedError extends Error {
  override name = 'RetriesExhaustedError';
  constructor(
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`retries exhausted after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export function isTransient(error: unknown): boolean {
  return error instanceof TransientError;
}

/**
 * Run `operation` until it succeeds, an error `retryable` refuses is thrown (rethrown as is), or
 * `max_attempts` retryable failures (RetriesExhaustedError). `onRetry` is told of every retry.
 */
export async function withRetry<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  random: Random,
  onRetry: (attempt: number, error: unknown, delayMs: number) => void = () => {},
  wait: (ms: number) => Promise<void> = sleep,
  retryable: (error: unknown) => boolean = isTransient,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!retryable(error)) throw error;
      if (attempt + 1 >= policy.max_attempts) throw new RetriesExhaustedError(attempt + 1, error);
      const delayMs = backoffDelayMs(attempt, policy, random);
      onRetry(attempt + 1, error, delayMs);
      await wait(delayMs);
    }
  }
}
