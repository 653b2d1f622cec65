// The aggregator's --sink flag: sqlite:PATH (the default) or a PostgreSQL server, and the checks that
// refuse combinations the service could not start with.

import { describe, expect, it } from 'vitest';
import { parseAggregatorArgs } from './main.ts';
import { UsageError } from '../cli/exit.ts';
import { DEFAULT_AGGREGATOR_CONFIG, parseSinkSpec, sinkPath } from './service.ts';

describe('parseSinkSpec', () => {
  it('reads sqlite:PATH, postgres and postgres URLs', () => {
    expect(parseSinkSpec('sqlite:./data/events.db')).toEqual({ kind: 'sqlite', path: './data/events.db' });
    expect(parseSinkSpec('postgres')).toEqual({ kind: 'postgres' });
    expect(parseSinkSpec('postgres://postgres@127.0.0.1:5432/test')).toEqual({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test' });
    expect(parseSinkSpec('postgresql://u@db/x')).toEqual({ kind: 'postgres', url: 'postgresql://u@db/x' });
  });

  it('refuses anything else, naming the valid forms', () => {
    expect(() => parseSinkSpec('sqlite:')).toThrow(/empty path/);
    expect(() => parseSinkSpec('postgres://')).toThrow(/names no host|not a valid URL/);
    expect(() => parseSinkSpec('postgres:foo')).toThrow(/sink must be sqlite:PATH, got 'postgres:foo' \(or postgres, postgres:\/\/USER@HOST:PORT\/DB\)/);
    expect(() => parseSinkSpec('mysql://x')).toThrow(/sink must be sqlite:PATH, got 'mysql:\/\/x'/);
  });

  it('sinkPath answers only for a SQLite sink', () => {
    expect(sinkPath('sqlite:a.db')).toBe('a.db');
    expect(() => sinkPath('postgres')).toThrow(/sqlite:PATH/);
  });
});

describe('--sink', () => {
  it('keeps sqlite as the default', async () => {
    const config = await parseAggregatorArgs([]);
    expect(config.sink).toBe(DEFAULT_AGGREGATOR_CONFIG.sink);
    expect(parseSinkSpec(config.sink).kind).toBe('sqlite');
  });

  it('takes a postgres sink with a dedup store that does not need the SQLite sink database', async () => {
    const config = await parseAggregatorArgs(['--sink', 'postgres://postgres@127.0.0.1:5432/test', '--dedup', 'postgres']);
    expect(config.sink).toBe('postgres://postgres@127.0.0.1:5432/test');
    for (const dedup of ['memory', 'none', 'sqlite:/tmp/dedup.db', 'redis']) {
      await expect(parseAggregatorArgs(['--sink', 'postgres', '--dedup', dedup])).resolves.toMatchObject({ sink: 'postgres', dedup });
    }
  });

  it("refuses dedup 'sqlite' (the sink's SQLite database) with a postgres sink, and a bad sink", async () => {
    await expect(parseAggregatorArgs(['--sink', 'postgres'])).rejects.toThrow(UsageError);
    await expect(parseAggregatorArgs(['--sink', 'postgres'])).rejects.toThrow(/--dedup sqlite .*--sink postgres .*--dedup postgres/);
    await expect(parseAggregatorArgs(['--sink', 'kafka:x'])).rejects.toThrow(/sink must be sqlite:PATH, got 'kafka:x'/);
  });
});
