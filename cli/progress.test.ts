import { describe, expect, it } from 'vitest';
import { progressWriter, type ProgressStream } from './progress.ts';

function stream(tty: boolean, columns?: number): ProgressStream & { text: string } {
  const s = { text: '', isTTY: tty, columns, write: (t: string) => (s.text += t) };
  return s;
}

describe('progressWriter', () => {
  it('on a terminal writes a progress line in place, cut to the width, and a log line replaces it', () => {
    const out = stream(true, 12);
    const w = progressWriter(out, { quiet: false, offTerminal: 'drop' });
    w.progress('[1/3] run one at 2000 ev/s');
    w.progress('[1/3] 2 s');
    w.log('run 1: ok');
    w.log('run 2: ok');
    w.progress('[3/3] 1 s');
    w.end();
    w.end();
    expect(out.text).toBe('\r\x1b[2K[1/3] run o' + '\r\x1b[2K[1/3] 2 s' + '\r\x1b[2Krun 1: ok\n' + 'run 2: ok\n' + '\r\x1b[2K[3/3] 1 s' + '\n');
  });

  it('off a terminal writes progress as plain lines or drops it, as the command chose, and never clears', () => {
    const lines = stream(false);
    const asLines = progressWriter(lines, { quiet: false, offTerminal: 'line' });
    asLines.progress('a long progress line that no terminal cuts');
    asLines.log('kept');
    asLines.end();
    expect(lines.text).toBe('a long progress line that no terminal cuts\nkept\n');

    const dropped = stream(false);
    const dropping = progressWriter(dropped, { quiet: false, offTerminal: 'drop' });
    dropping.progress('transient');
    dropping.log('kept');
    dropping.end();
    expect(dropped.text).toBe('kept\n');
  });

  it('writes nothing when quiet', () => {
    const out = stream(true, 80);
    const w = progressWriter(out, { quiet: true, offTerminal: 'line' });
    w.progress('p');
    w.log('l');
    w.end();
    expect(out.text).toBe('');
  });
});
