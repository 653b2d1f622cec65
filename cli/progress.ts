// The progress lines of a long command (bench, compare, gate) on stderr: lines that stay (log) and a
// line that shows where a run is and is overwritten in place on a terminal (progress). Off a
// terminal there is no "in place": the command chooses whether a progress line is then written as
// a plain line (bench: its log is the record of the run) or dropped (a campaign's one-line-per-run
// log). A line written in place is cut to the terminal's width, since a wrapped line would not be
// cleared by the next one. Every line is written with any URL's password as *** (a line may quote
// an error of a store or a sink, or the aggregator's log).

import { redactPasswords } from '../aggregator/redact.ts';

/** Where the lines go: stderr, or a stand-in with the same three members in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressWriter {
  /** A line that stays; on a terminal it replaces the progress line shown. */
  log(line: string): void;
  /** A line the next one replaces, on a terminal; elsewhere a plain line or nothing (see offTerminal). */
  progress(line: string): void;
  /** Ends a progress line left on the terminal, so that what follows starts on a line of its own. */
  end(): void;
}

export interface ProgressOptions {
  /** No lines at all. */
  quiet: boolean;
  /** What a progress line becomes when the stream is not a terminal. */
  offTerminal: 'line' | 'drop';
}

const CLEAR_LINE = '\r\x1b[2K';

export function progressWriter(stream: ProgressStream, options: ProgressOptions): ProgressWriter {
  const tty = stream.isTTY === true;
  let shown = false;
  return {
    log(text) {
      if (options.quiet) return;
      const line = redactPasswords(text);
      stream.write(`${shown ? CLEAR_LINE : ''}${line}\n`);
      shown = false;
    },
    progress(text) {
      if (options.quiet) return;
      const line = redactPasswords(text);
      if (tty) {
        stream.write(`${CLEAR_LINE}${line.slice(0, (stream.columns || 120) - 1)}`);
        shown = true;
      } else if (options.offTerminal === 'line') stream.write(`${line}\n`);
    },
    end() {
      if (!shown) return;
      stream.write('\n');
      shown = false;
    },
  };
}
