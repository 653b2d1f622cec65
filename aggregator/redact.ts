// Passwords in connection URLs, one place: a sink, dedup store or broker URL may carry one
// (postgres://user:PASSWORD@…, redis://:PASSWORD@…). Nothing printed or kept — the aggregator's log,
// the harness's progress lines, errors, result.json and what is rendered from it — may show it, and
// no command-line value may carry it (argv is readable by every user: ps, /proc/PID/cmdline).
// Invariants: pure; a redacted text keeps everything but the password (shown as ***), so that a
// message still says which server it is about.

/** scheme://[user]:password@ anywhere in a text; group 1 is what precedes the password, group 2 the password. */
const CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)@/gi;

/** The URL with its password, if any, replaced by ***; text that is not a URL is scrubbed of user:password@ too. */
export function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return redactPasswords(url);
  }
}

/** Any text (a message, a log line, a command) with every URL's password replaced by ***. */
export function redactPasswords(text: string): string {
  return text.replace(CREDENTIALS, (match, before: string, password: string) => (password === '***' ? match : `${before}***@`));
}

/** Whether a text holds a URL with a password (other than the *** of a redacted one). */
export function carriesPassword(text: string): boolean {
  return redactPasswords(text) !== text;
}

/** Every string inside a value (an object, an array, a string), for checking a structured value given on a command line. */
export function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(stringsIn);
  return [];
}

/** Where a password goes instead of a flag, by the URL's scheme (docs/own-broker.md, "Dedup store and sink"). */
const INSTEAD: [RegExp, string][] = [
  [/^rediss?:/i, 'put the URL in REDIS_URL and give the bare name (redis)'],
  [/^postgres(ql)?:/i, 'give it in PGPASSWORD (the URL without it), or put the URL in DATABASE_URL and give the bare name (postgres)'],
  [/^mqtts?:/i, 'give it in CHAOSBENCH_BROKER_PASSWORD'],
];

/**
 * The refusal of a command-line value that carries a password (exit 2), naming the flag and saying
 * where the password goes instead, with the password itself shown as ***; undefined when it carries none.
 */
export function passwordInFlag(flag: string, value: unknown): string | undefined {
  const text = stringsIn(value).find(carriesPassword);
  if (text === undefined) return undefined;
  const url = /[a-z][a-z0-9+.-]*:\/\/\S*/i.exec(redactPasswords(text))?.[0] ?? '';
  const instead = INSTEAD.find(([scheme]) => scheme.test(url))?.[1] ?? 'give it in the environment';
  return `${flag}: the URL ${redactPasswords(url)} carries a password, which would be readable in the process list (ps); ${instead}`;
}

/** A copy of a plain (JSON) value with every string's URL passwords as ***: for what is kept in a file. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactPasswords(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, redactDeep(inner)])) as T;
  return value;
}
