// A connection URL fit to print or keep in result.json: a sink or dedup store URL may carry a
// password (postgres://user:PASSWORD@…, redis://:PASSWORD@…), and neither the aggregator's log
// nor the harness's reports may show it.

/** The URL with its password, if any, replaced by ***; text that is not a URL is scrubbed of user:password@ too. */
export function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}
