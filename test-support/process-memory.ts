// Resident memory of running processes, read from /proc as `ps` does, for the soak tests: a
// process's RSS, its child processes, and whether a series of samples grew.

import { readdirSync, readFileSync } from 'node:fs';

/** VmRSS of a process in MB, or undefined once it has gone. */
export function rssMb(pid: number): number | undefined {
  return statusMb(pid, 'VmRSS');
}

/** VmHWM of a process in MB: the peak of its resident memory so far (undefined once it has gone). */
export function peakRssMb(pid: number): number | undefined {
  return statusMb(pid, 'VmHWM');
}

function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** The process's children (of every thread), each with its command line. */
export function childProcesses(pid: number): { pid: number; command: string }[] {
  const pids = new Set<number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (child !== '') pids.add(Number(child));
    }
  } catch {
    // Gone.
  }
  return [...pids].flatMap((child) => {
    try {
      return [{ pid: child, command: readFileSync(`/proc/${child}/cmdline`, 'utf8').replace(/\0/g, ' ') }];
    } catch {
      return [];
    }
  });
}

/** The processes of a run with the embedded broker, told apart by their command line (the harness's tsx launchers name its script too, so it is told by pid or by its first argument). */
export const CHILD_ROLES = {
  broker: (command: string) => command.includes('embedded-process.ts'),
  aggregator: (command: string) => command.includes('aggregator/main.ts'),
} as const;

export interface MemoryGrowth {
  /** Median RSS of the first and of the last third of the samples, MB. */
  first_mb: number;
  last_mb: number;
  growth_mb: number;
  /** growth_mb / first_mb. */
  growth_fraction: number;
  samples: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/** Compares the median of the first third of `samples` (MB, taken after warm-up) with the last third's. */
export function memoryGrowth(samples: readonly number[]): MemoryGrowth {
  if (samples.length < 6) throw new Error(`need at least 6 samples to compare thirds, got ${samples.length}`);
  const third = Math.floor(samples.length / 3);
  const first_mb = median(samples.slice(0, third));
  const last_mb = median(samples.slice(-third));
  return { first_mb, last_mb, growth_mb: last_mb - first_mb, growth_fraction: (last_mb - first_mb) / first_mb, samples: samples.length };
}
