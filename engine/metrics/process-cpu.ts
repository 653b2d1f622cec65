// What a run cost in CPU, per process it started, from the operating system's own accounts
// (/proc/<pid>/stat, and /proc/<pid>/task/<tid>/stat for the harness's main thread and each load
// worker thread), never from the processes' own view of themselves. A process killed and restarted
// by a fault has several incarnations: each is sampled (every second, and right before the harness
// kills or stops it) and the last reading of each is summed. What a SIGKILLed incarnation burnt after
// its last sample is missed (at most one sampling interval of its CPU); a process the run did not
// start (an external broker) is not measured at all. Linux only: elsewhere nothing is measured and
// the result says so.
//
// While the load ran, each row also gets the cores it used and the share of that time it was ready
// to run but waiting for a core (/proc/<pid>/task/<tid>/schedstat; a process's is its main
// thread's): on a machine the harness shares with what it measures, both together say whether the
// harness itself was the bound (harnessBusiest, and the closed model's validity rule in
// engine/result-assembly.ts).

import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';

/** result.json `cost`: CPU seconds and µs per message of each process (or thread) the run started. */
export interface CostSection {
  source: '/proc';
  clock_ticks_per_s: number;
  /** The denominator of every us_per_message: messages the harness put on the wire. */
  messages: number;
  /** What `messages` counts, in words. */
  messages_counted: string;
  /** How often every process was sampled (s), besides right before the harness killed or stopped it. */
  sampling_interval_s: number;
  processes: CostProcess[];
  /** The harness process as a whole (every thread: main, load workers, GC and libuv helpers) over the run; includes the rows of its threads, so it is not one to add to them. */
  harness_process: { cpu_s: number; us_per_message: number | null } & PhaseSplit;
  /** Wall seconds from the start of the load schedule to the load's end: the denominator of load_cores and load_wait_share. */
  load_wall_s?: number;
  /** The harness thread (main or a load worker) that was busiest while the load ran, when every harness thread's load_cores and load_wait_share were read. */
  harness_busiest?: HarnessBusiest;
  /** Processes of the run that were not measured, and why (an external broker). */
  not_measured: string[];
  /** What the figures miss, in words. */
  notes: string[];
}

export interface CostProcess extends PhaseSplit {
  /** 'harness main thread', 'load worker 1', …, 'broker', 'aggregator', 'bare subscriber', 'target'. */
  role: string;
  /** utime + stime over every incarnation (the last reading of each). */
  cpu_s: number;
  /** cpu_s ÷ messages, in µs, start-up included; null when no message was sent. */
  us_per_message: number | null;
  /** Processes (or threads) that held this role during the run: 2 or more after a kill and restart. */
  incarnations: number;
  /**
   * Of the load's wall time (load_wall_s), the share this row's thread (a process's: its main thread)
   * was ready to run but waiting for a core (run-queue time from schedstat). With load_cores: how
   * much of the time it wanted a core. Absent where schedstat could not be read for every incarnation.
   */
  load_wait_share?: number;
}

/** The harness thread that was busiest while the load ran: running (cores) or ready but waiting for a core. */
export interface HarnessBusiest {
  role: string;
  cores: number;
  wait_share: number;
  /** cores + wait_share: the share of the load's wall time the thread had work and wanted a core. */
  busy_share: number;
}

/**
 * A row's CPU split at the start of the load schedule, and at its end. The fields of each split are
 * absent in results from before it was recorded, and in a run that never reached the point.
 */
export interface PhaseSplit {
  /** Of cpu_s, what was spent before the load schedule started: loading modules, starting, connecting. */
  startup_cpu_s?: number;
  /**
   * (cpu_s − startup_cpu_s) ÷ messages, in µs: the cost per message of the run itself, the same for a
   * short run and a long one (us_per_message spreads a fixed start-up over the messages); null when
   * no message was sent.
   */
  running_us_per_message?: number | null;
  /**
   * Of cpu_s, what was spent after the load ended (every publish acknowledged or given up): the
   * consumer draining what it still held, the harness's ledger reading the sink, the stops.
   */
  after_load_cpu_s?: number;
  /**
   * (cpu_s − startup_cpu_s − after_load_cpu_s) ÷ messages, in µs: the CPU spent while the load ran,
   * the part that competed with the other processes for the machine; null when no message was sent.
   */
  load_us_per_message?: number | null;
  /** (cpu_s − startup_cpu_s − after_load_cpu_s) ÷ load_wall_s: the cores it used while the load ran (1 = one core throughout). */
  load_cores?: number;
}

export const MESSAGES_COUNTED = 'events handed to a connection plus the duplicate copies sent; raw poison messages are not counted';
/** Does every row of the section, the harness process's too, record this field of a split? Results from before it was recorded do not. Pure. */
export function costHasSplit(cost: CostSection, field: keyof PhaseSplit): boolean {
  return cost.harness_process[field] !== undefined && cost.processes.every((p) => p[field] !== undefined);
}

export const STARTUP_NOTE = "each row's startup_cpu_s is its CPU before the load schedule started (modules loaded, processes started, connections made); running_us_per_message leaves it out, so that runs of different lengths compare";
export const AFTER_LOAD_NOTE = "after_load_cpu_s is its CPU after the load ended (draining, the ledger's read of the sink, stopping); load_us_per_message is what it spent while the load ran, in competition with the other processes";
export const LOAD_SHARE_NOTE = "load_cores is each row's CPU while the load ran ÷ the load's wall time (1 = one core throughout); load_wait_share is the share of that time its thread (a process's main thread) was ready to run but waiting for a core, from /proc schedstat";
export const MISSED_AFTER_KILL = 'CPU a SIGKILLed incarnation spent after its last sample is missed (at most one sampling interval of its CPU)';

/** Clock ticks per second of /proc's times (getconf CLK_TCK), asked once; 100 when it cannot be asked. */
let ticksPerSecond: number | undefined;
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime (clock ticks) from the text of a /proc stat file; undefined when it is not one. Pure. */
export function parseStatTicks(text: string): number | undefined {
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

/** A process (tid absent) or one of its threads. */
export interface ProcessId {
  pid: number;
  tid?: number;
}

/** A /proc file of a process (tid absent) or of one of its threads, parsed; undefined when it is gone (or there is no /proc). */
function readProc(id: ProcessId, file: 'stat' | 'schedstat', parse: (text: string) => number | undefined): number | undefined {
  try {
    return parse(readFileSync(id.tid === undefined ? `/proc/${id.pid}/${file}` : `/proc/${id.pid}/task/${id.tid}/${file}`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU ticks of a process or thread so far; undefined when it is gone (or there is no /proc). */
export const readCpuTicks = (id: ProcessId): number | undefined => readProc(id, 'stat', parseStatTicks);

/** The run-queue wait (ns: ready to run, waiting for a core) from the text of a /proc schedstat file; undefined when it is not one. Pure. */
export function parseSchedWaitNs(text: string): number | undefined {
  // "<ns on a cpu> <ns waiting on a run queue> <timeslices>"
  const fields = text.trim().split(/\s+/);
  const wait = Number(fields[1]);
  return fields.length >= 3 && Number.isFinite(wait) && wait >= 0 ? wait : undefined;
}

/** Run-queue wait (ns) of a thread, or of a process's main thread; undefined when it is gone or cannot be read. */
export const readWaitNs = (id: ProcessId): number | undefined => readProc(id, 'schedstat', parseSchedWaitNs);

/** The harness's own threads (the generator), by role: its main thread and its load workers. */
export const HARNESS_MAIN_THREAD = 'harness main thread';
export const isHarnessThread = (role: string): boolean => role === HARNESS_MAIN_THREAD || role.startsWith('load worker');

/** This thread's id (a worker thread's own, not the process's), from /proc/thread-self; undefined without /proc. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

interface Incarnation {
  id: ProcessId;
  /** Ticks at the first reading when the process was already running before the run (the harness's own main thread), else 0. */
  base: number;
  last: number;
  gone: boolean;
  /** Run-queue wait (ns) at its first reading and its last; wait_known false once a reading of a live one failed. */
  wait_first: number;
  wait_last: number;
  wait_known: boolean;
}

interface Watched {
  role: string;
  current: () => ProcessId | undefined;
  /** Count from the first reading, not from the process's start (it did work before the run). */
  from_first_reading: boolean;
  incarnations: Incarnation[];
}

/**
 * Samples the CPU time of every process and thread the run watches. Each role's current process is
 * asked for at every sample; a new pid (or tid) is a new incarnation. Never throws.
 */
export class CpuMeter {
  readonly #watched: Watched[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Each role's ticks and run-queue wait (ns) at markStart() and markLoadEnd(), and the wall clock (ms); undefined until then. */
  #atStart: Mark | undefined;
  #atLoadEnd: Mark | undefined;

  constructor(
    readonly clock_ticks_per_s = clockTicksPerSecond(),
    readonly interval_ms = 1000,
    private readonly read: (id: ProcessId) => number | undefined = readCpuTicks,
    private readonly readWait: (id: ProcessId) => number | undefined = readWaitNs,
    /** Wall clock, ms (monotonic). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Watch a role; `current` gives the process (or thread) holding it now, undefined while there is none. */
  watch(role: string, current: () => ProcessId | undefined, options: { from_first_reading?: boolean } = {}): void {
    this.#watched.push({ role, current, from_first_reading: options.from_first_reading === true, incarnations: [] });
    this.sample();
  }

  /** Read every watched process now. */
  sample(): void {
    for (const watched of this.#watched) {
      for (const incarnation of watched.incarnations) {
        if (incarnation.gone) continue;
        const ticks = this.read(incarnation.id);
        if (ticks === undefined) {
          incarnation.gone = true;
          continue;
        }
        incarnation.last = Math.max(incarnation.last, ticks);
        const wait = this.readWait(incarnation.id);
        if (wait !== undefined) incarnation.wait_last = Math.max(incarnation.wait_last, wait);
        // It exited between the two reads: gone, its wait known up to its last reading.
        else if (this.read(incarnation.id) === undefined) incarnation.gone = true;
        else incarnation.wait_known = false;
      }
      const id = watched.current();
      const latest = watched.incarnations.at(-1);
      if (id === undefined || (latest !== undefined && latest.id.pid === id.pid && latest.id.tid === id.tid)) continue;
      if (latest) latest.gone = true;
      const ticks = this.read(id);
      if (ticks === undefined) continue;
      const wait = this.readWait(id);
      // No wait for one that exited between the two reads: it had none to count after this reading.
      const gone = wait === undefined && this.read(id) === undefined;
      watched.incarnations.push({ id, base: watched.from_first_reading ? ticks : 0, last: ticks, gone, wait_first: wait ?? 0, wait_last: wait ?? 0, wait_known: wait !== undefined || gone });
    }
  }

  /** Sample every interval_ms until stop(). */
  start(): void {
    this.#timer ??= setInterval(() => this.sample(), this.interval_ms);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Sample right before `action` (a kill, a stop) and every `every_ms` while it runs: a graceful
   * stop's own work is then counted up to the last few ms before the process exits.
   */
  async around<T>(action: () => Promise<T>, every_ms = 20): Promise<T> {
    this.sample();
    const timer = setInterval(() => this.sample(), every_ms);
    try {
      return await action();
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * The load schedule starts now: reads every role, and totals() then also give what each had spent
   * by this moment (its start-up). A role watched later had spent nothing by then. Once per run.
   */
  markStart(): void {
    this.sample();
    this.#atStart = this.mark();
  }

  /**
   * The load has ended (after markStart): reads every role, and totals() then also give what each
   * spent from this moment on. A role watched later spent all of its CPU after it.
   */
  markLoadEnd(): void {
    if (!this.#atStart) return;
    this.sample();
    this.#atLoadEnd = this.mark();
  }

  private mark(): Mark {
    return { wall_ms: this.now(), ticks: new Map(this.#watched.map((w) => [w, ticksOf(w)])), wait_ns: new Map(this.#watched.map((w) => [w, waitOf(w)])) };
  }

  /** Wall seconds from markStart() to markLoadEnd(); undefined until both were called. */
  loadWallSeconds(): number | undefined {
    return this.#atStart && this.#atLoadEnd ? Math.max(0, this.#atLoadEnd.wall_ms - this.#atStart.wall_ms) / 1000 : undefined;
  }

  /**
   * Per role, in the order watched: CPU seconds over every incarnation, how many there were, and
   * (after markStart) the CPU seconds spent before it, (after markLoadEnd) those spent after that
   * and the run-queue wait in between (where every incarnation's schedstat was read).
   */
  totals(): MeterTotal[] {
    const atStart = this.#atStart;
    const atLoadEnd = this.#atLoadEnd;
    const seconds = (ticks: number) => ticks / this.clock_ticks_per_s;
    return this.#watched.map((w) => ({
      role: w.role,
      cpu_s: seconds(ticksOf(w)),
      incarnations: w.incarnations.length,
      ...(atStart ? { startup_cpu_s: seconds(atStart.ticks.get(w) ?? 0) } : {}),
      ...(atStart && atLoadEnd ? { after_load_cpu_s: seconds(ticksOf(w) - (atLoadEnd.ticks.get(w) ?? 0)) } : {}),
      ...(atStart && atLoadEnd && w.incarnations.every((i) => i.wait_known) ? { load_wait_s: Math.max(0, (atLoadEnd.wait_ns.get(w) ?? 0) - (atStart.wait_ns.get(w) ?? 0)) / 1e9 } : {}),
    }));
  }
}

interface Mark {
  wall_ms: number;
  ticks: Map<Watched, number>;
  wait_ns: Map<Watched, number>;
}

/** A role's CPU ticks so far, over every incarnation. */
const ticksOf = (w: Watched) => w.incarnations.reduce((sum, i) => sum + (i.last - i.base), 0);
/** A role's run-queue wait (ns) since each incarnation's first reading, over every incarnation. */
const waitOf = (w: Watched) => w.incarnations.reduce((sum, i) => sum + (i.wait_last - i.wait_first), 0);

/** What the meter measured of one role; startup_cpu_s once the schedule's start was marked. */
export interface MeterTotal {
  role: string;
  cpu_s: number;
  incarnations: number;
  startup_cpu_s?: number;
  after_load_cpu_s?: number;
  /** Run-queue wait (s) between markStart and markLoadEnd. */
  load_wait_s?: number;
}

/** µs of CPU per message; null when no message was sent. Pure. */
export function usPerMessage(cpu_s: number, messages: number): number | null {
  return messages > 0 ? round3((cpu_s * 1e6) / messages) : null;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** The cost section from the meter's totals (the harness process's row apart). Pure. */
export function costSection(input: {
  clock_ticks_per_s: number;
  sampling_interval_s: number;
  messages: number;
  processes: MeterTotal[];
  harness_process_cpu_s: number;
  /** With every row's startup_cpu_s: the split is recorded only when all have it. */
  harness_process_startup_cpu_s?: number;
  /** With every row's after_load_cpu_s (and the start-up split): recorded only when all have it. */
  harness_process_after_load_cpu_s?: number;
  /** Wall seconds the load ran (CpuMeter.loadWallSeconds): with the split at its end, each row's load_cores. */
  load_wall_s?: number;
  not_measured: string[];
  /** Was some process killed and restarted (default: some role had more than one incarnation)? */
  restarted?: boolean;
}): CostSection {
  const killed = input.restarted ?? input.processes.some((p) => p.incarnations > 1);
  const split = input.harness_process_startup_cpu_s !== undefined && input.processes.every((p) => p.startup_cpu_s !== undefined);
  const splitEnd = split && input.harness_process_after_load_cpu_s !== undefined && input.processes.every((p) => p.after_load_cpu_s !== undefined);
  const wall = splitEnd && input.load_wall_s !== undefined && input.load_wall_s > 0 ? input.load_wall_s : undefined;
  const waits = wall !== undefined && input.processes.every((p) => p.load_wait_s !== undefined);
  const phases = (cpu_s: number, startup_cpu_s: number | undefined, after_load_cpu_s: number | undefined): PhaseSplit => {
    // CPU while the load ran (meaningful only with both splits).
    const load_cpu_s = Math.max(0, cpu_s - (startup_cpu_s ?? 0) - (after_load_cpu_s ?? 0));
    return {
      ...(split ? { startup_cpu_s: round3(startup_cpu_s!), running_us_per_message: usPerMessage(Math.max(0, cpu_s - startup_cpu_s!), input.messages) } : {}),
      ...(splitEnd ? { after_load_cpu_s: round3(after_load_cpu_s!), load_us_per_message: usPerMessage(load_cpu_s, input.messages) } : {}),
      ...(wall !== undefined ? { load_cores: round3(load_cpu_s / wall) } : {}),
    };
  };
  const processes: CostProcess[] = input.processes.map((p) => ({
    role: p.role,
    cpu_s: round3(p.cpu_s),
    us_per_message: usPerMessage(p.cpu_s, input.messages),
    incarnations: p.incarnations,
    ...phases(p.cpu_s, p.startup_cpu_s, p.after_load_cpu_s),
    ...(waits ? { load_wait_share: round3(p.load_wait_s! / wall!) } : {}),
  }));
  const busiest = harnessBusiest(processes);
  return {
    source: '/proc',
    clock_ticks_per_s: input.clock_ticks_per_s,
    messages: input.messages,
    messages_counted: MESSAGES_COUNTED,
    sampling_interval_s: input.sampling_interval_s,
    processes,
    harness_process: {
      cpu_s: round3(input.harness_process_cpu_s),
      us_per_message: usPerMessage(input.harness_process_cpu_s, input.messages),
      ...phases(input.harness_process_cpu_s, input.harness_process_startup_cpu_s, input.harness_process_after_load_cpu_s),
    },
    ...(wall !== undefined ? { load_wall_s: round3(wall) } : {}),
    ...(busiest ? { harness_busiest: busiest } : {}),
    not_measured: input.not_measured,
    notes: [
      `sampled every ${input.sampling_interval_s} s and right before the harness killed or stopped a process; each incarnation's last reading is summed`,
      ...(killed ? [MISSED_AFTER_KILL] : []),
      'the harness main thread counts from the start of the run, the other processes and threads from their own start',
      ...(split ? [STARTUP_NOTE] : []),
      ...(splitEnd ? [AFTER_LOAD_NOTE] : []),
      ...(waits ? [LOAD_SHARE_NOTE] : []),
    ],
  };
}

/**
 * The harness thread (its main thread or a load worker) that most wanted a core while the load ran:
 * the largest load_cores + load_wait_share. Undefined unless every harness thread's two were read.
 * A thread near 1 had work the whole time: it, not the system, set the pace. Pure.
 */
export function harnessBusiest(processes: readonly CostProcess[]): HarnessBusiest | undefined {
  const threads = processes.filter((p) => isHarnessThread(p.role));
  if (threads.length === 0 || threads.some((p) => p.load_cores === undefined || p.load_wait_share === undefined)) return undefined;
  let busiest: HarnessBusiest | undefined;
  for (const p of threads) {
    const busy_share = round3(p.load_cores! + p.load_wait_share!);
    if (busiest === undefined || busy_share > busiest.busy_share) busiest = { role: p.role, cores: p.load_cores!, wait_share: p.load_wait_share!, busy_share };
  }
  return busiest;
}
