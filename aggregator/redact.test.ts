// URL passwords: found and replaced by *** wherever they sit in a text or a value, and the refusal
// of one in a command-line value names the flag and where the password goes instead.

import { describe, expect, it } from 'vitest';
import { carriesPassword, passwordInFlag, redactDeep, redactPassword, redactPasswords } from './redact.ts';

describe('redactPasswords', () => {
  it('replaces every URL password in a text, user names and hosts kept', () => {
    const text = 'connect to postgres://bench:pw1@db:5432/x failed; then redis://:pw2@cache:6379/0 and rediss://u:pw3@c:6380';
    expect(redactPasswords(text)).toBe('connect to postgres://bench:***@db:5432/x failed; then redis://:***@cache:6379/0 and rediss://u:***@c:6380');
  });

  it('leaves URLs without a password, and redacted ones, as they are', () => {
    for (const text of ['postgres://bench@db/x', 'redis://127.0.0.1:6379', 'mqtt://h:1883', 'redis://:***@h:1', 'http://h:80/a@b', 'plain text: with@at']) {
      expect(redactPasswords(text)).toBe(text);
      expect(carriesPassword(text)).toBe(false);
    }
    expect(carriesPassword('redis://:x@h:1')).toBe(true);
  });

  it('redactPassword keeps working on a whole URL and on text that is not one', () => {
    expect(redactPassword('postgres://u:p%40ss@h/db')).toBe('postgres://u:***@h/db');
    expect(redactPassword('not a url://u:p@x')).toBe('not a url://u:***@x');
  });
});

describe('redactDeep', () => {
  it('redacts every string of a JSON value, in objects and arrays, and leaves the rest', () => {
    const value = { scenario: { aggregator: { dedup: 'redis://:s3cret@h:6379', batch_size: 200 } }, findings: ['dedup postgres://u:s3cret@h/db'], ok: true, none: null };
    expect(redactDeep(value)).toEqual({ scenario: { aggregator: { dedup: 'redis://:***@h:6379', batch_size: 200 } }, findings: ['dedup postgres://u:***@h/db'], ok: true, none: null });
    expect(value.scenario.aggregator.dedup).toBe('redis://:s3cret@h:6379'); // a copy
  });
});

describe('passwordInFlag', () => {
  it('names the flag, hides the password and says where it goes by the URL kind', () => {
    expect(passwordInFlag('--dedup', 'redis://:s3cret@h:6379')).toBe('--dedup: the URL redis://:***@h:6379 carries a password, which would be readable in the process list (ps); put the URL in REDIS_URL and give the bare name (redis)');
    expect(passwordInFlag('--sink', 'postgresql://u:s3cret@h/db')).toMatch(/^--sink: the URL postgresql:\/\/u:\*\*\*@h\/db carries a password, .*PGPASSWORD/);
    expect(passwordInFlag('--set', { dedup: ['mqtt://u:s3cret@h:1883'] })).toMatch(/^--set: the URL mqtt:\/\/u:\*\*\*@h:1883 .*CHAOSBENCH_BROKER_PASSWORD/);
    expect(passwordInFlag('--dedup', 'redis://h:6379')).toBeUndefined();
    expect(passwordInFlag('--batch-size', 20)).toBeUndefined();
  });
});
