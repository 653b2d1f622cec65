// `npm run theory`: each table of the write-up on pub-sub log aggregation is one experiment that
// makes small but real runs and returns its table as plain data. reports/theory.ts renders the
// tables (a pure function); commands/theory/theory.ts runs the experiments and writes theory.json and
// theory.md.

/** How a cell is printed: int 12,345 · ms 12.3 · pct 1.23% · ratio 0.84× · float 1.23 · text as is. */
export type CellFormat = 'int' | 'ms' | 'pct' | 'ratio' | 'float' | 'text';

export interface TheoryColumn {
  key: string;
  label: string;
  format: CellFormat;
}

/** A cell: a number (printed by the column's format), a string, or null (printed as —). pct cells hold fractions (0.0123). */
export type TheoryCell = number | string | null;

export interface TheoryTable {
  /** 1..7, the table's number in the write-up. */
  id: number;
  slug: string;
  title: string;
  /** What the table compares and how to read it, in plain prose for a reader who does not read code. */
  intro: string;
  /** How it was measured: set-up, sizes, durations, faults injected. Plain prose. */
  method: string;
  /** The command that reproduces this table alone, e.g. `npm run theory -- --only 2`. */
  command: string;
  seed: number;
  columns: TheoryColumn[];
  rows: Record<string, TheoryCell>[];
  /** Sentences derived from the measured rows (numbers computed from them, never typed in). */
  findings: string[];
  /** Wall time the experiment took. */
  duration_ms: number;
  /** Runs whose figures need a caveat (invalid by the harness's own rules), added by the runner. */
  warnings?: string[];
}

export interface TheoryContext {
  seed: number;
  /** Directory for this experiment's run artifacts (result.json files, databases); created by the caller. */
  out_dir: string;
  /** MQTT URL of an external broker when given, else undefined (experiments start the embedded Aedes). */
  broker_url?: string;
  /** Progress lines for the terminal. */
  log: (line: string) => void;
  /** A caveat to print under the table, e.g. a run the harness marked invalid. */
  warn?: (line: string) => void;
  /**
   * Aborted on SIGINT/SIGTERM (cli/interrupt.ts): a run under way stops and removes what it made
   * (RunOptions.signal), and the experiment throws at its next step (signal.throwIfAborted()).
   */
  signal?: AbortSignal;
}

export interface TheoryExperiment {
  id: number;
  slug: string;
  title: string;
  run(context: TheoryContext): Promise<TheoryTable>;
}

export interface TheoryDocument {
  schema: 'chaosbench.theory/1';
  created_at: string;
  git_sha: string | null;
  machine: { cpus: number; cpu_model: string; node: string; platform: string };
  seed: number;
  command: string;
  tables: TheoryTable[];
}
