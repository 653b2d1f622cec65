// One timer for everything a load worker does at a given time: the schedule's next events and the
// duplicate fault's delayed copies alike. Tasks wait in a time-ordered queue (a FIFO for tasks
// that come in time order, as a fixed delay's copies do, and a binary heap for the rest: a drawn
// delay puts copies out of order, and the schedule's next wake-up is earlier than them) and run on the worker's wake-ups, which come at most once
// per `min_interval_us`: at high rates a wake-up hands off a batch of events (one socket write
// per connection for all of them, and one read of the PUBACKs that come back together) instead of
// a wake-up, a write and a read per millisecond and per copy. A task never runs before its time and
// at most about one interval (plus the timer's own slack) after it. Intended send times stay the
// schedule's: what a batch adds is generator lag, recorded as such (engine/load/worker.ts).

import { nowMicros } from '../../aggregator/clock.ts';

// The interval is the scenario's load.wake_interval_ms (scenarios/schema.ts, DEFAULT_WAKE_INTERVAL_MS):
// at 10,000 ev/s, 4 ms hands off ~40 events a wake-up in one socket write per connection instead of
// ~10; it is generator lag (up to about that much, recorded), never a later intended time.

interface Task {
  at_us: number;
  /** Insertion order: tasks due at the same time run first in, first out. */
  order: number;
  run: () => void;
}

export class Wakeups {
  private readonly heap: Task[] = [];
  /** Tasks in time order, from fifoHead on. */
  private fifo: Task[] = [];
  private fifoHead = 0;
  private order = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer is meant to fire (µs); Infinity when none is armed. */
  private armedAt = Number.POSITIVE_INFINITY;
  /** The last wake-up that ran tasks (µs). */
  private lastWake = Number.NEGATIVE_INFINITY;
  /** Wake-ups that ran at least one task. */
  wakes = 0;

  /** `clock`: µs since the epoch (tests pass a fake one). */
  constructor(
    private readonly min_interval_us: number,
    private readonly clock: () => number = nowMicros,
  ) {}

  /** Tasks waiting. */
  get pending(): number {
    return this.heap.length + this.fifo.length - this.fifoHead;
  }

  /** Run `run` on the first wake-up at or after `at_us`. */
  at(at_us: number, run: () => void): void {
    const task: Task = { at_us, order: this.order++, run };
    const fifo = this.fifo;
    if (fifo.length === this.fifoHead || at_us >= fifo[fifo.length - 1]!.at_us) {
      fifo.push(task);
      if (this.fifoHead === fifo.length - 1) this.arm();
      return;
    }
    const heap = this.heap;
    let i = heap.push(task) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(task, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = task;
    this.arm();
  }

  /** Resolves on the first wake-up at or after `at_us`. */
  until(at_us: number): Promise<void> {
    return new Promise((resolve) => this.at(at_us, resolve));
  }

  /** Drop every task and the timer (the worker is done). */
  clear(): void {
    this.heap.length = 0;
    this.fifo = [];
    this.fifoHead = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  /** The next task due (not taken out). */
  private head(): Task | undefined {
    const a = this.heap[0];
    const b = this.fifoHead < this.fifo.length ? this.fifo[this.fifoHead] : undefined;
    if (a === undefined) return b;
    return b === undefined || before(a, b) ? a : b;
  }

  /** Take the next task due out. */
  private take(): Task {
    const a = this.heap[0];
    const b = this.fifoHead < this.fifo.length ? this.fifo[this.fifoHead] : undefined;
    if (b !== undefined && (a === undefined || before(b, a))) {
      this.fifo[this.fifoHead++] = undefined as unknown as Task;
      if (this.fifoHead === this.fifo.length) {
        this.fifo.length = 0;
        this.fifoHead = 0;
      } else if (this.fifoHead >= 1024 && this.fifoHead * 2 >= this.fifo.length) {
        this.fifo = this.fifo.slice(this.fifoHead);
        this.fifoHead = 0;
      }
      return b;
    }
    return this.pop();
  }

  private arm(): void {
    const head = this.head();
    if (head === undefined) return;
    const at = Math.max(head.at_us, this.lastWake + this.min_interval_us);
    if (this.timer !== undefined && this.armedAt <= at) return;
    clearTimeout(this.timer);
    this.armedAt = at;
    // Whole ms, rounded up: a timer never fires before its ms have passed on the loop's clock.
    this.timer = setTimeout(this.wake, Math.max(0, Math.ceil((at - this.clock()) / 1000)));
  }

  private readonly wake = (): void => {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = this.clock();
    let head = this.head();
    if (head !== undefined && head.at_us <= now) {
      this.lastWake = now;
      this.wakes++;
      while (head !== undefined && head.at_us <= now) {
        this.take().run();
        head = this.head();
      }
    }
    // Woken early (the loop's clock is coarser than ours): armed again for the head, no interval lost.
    this.arm();
  };

  private pop(): Task {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && before(heap[right]!, heap[left]!) ? right : left;
        if (!before(heap[child]!, last)) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: Task, b: Task): boolean {
  return a.at_us < b.at_us || (a.at_us === b.at_us && a.order < b.order);
}
