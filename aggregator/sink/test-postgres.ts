// For the tests that talk to the real PostgreSQL: one short-lived client for the work the code under
// test does not do itself (dropping a test schema, looking at pg_stat_activity or pg_namespace).

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export async function withPostgresClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A login role of its own (trust auth, no password) that may create schemas in the test database, for
 * tests of what a role without a privilege meets; the url connects as it. Superusers bypass every
 * grant, so a REVOKE only bites such a role. Dropped, with everything it owns, afterwards.
 */
export async function withLimitedRole<T>(adminUrl: string, work: (url: string, role: string) => Promise<T>): Promise<T> {
  // A name no other test run on the shared server can hold (a nonce, not a measurement: no seed needed).
  const role = `chaosbench_limited_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const url = new URL(adminUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  await withPostgresClient(adminUrl, async (client) => {
    await client.query(`CREATE ROLE "${role}" LOGIN`);
    await client.query(`GRANT CREATE ON DATABASE "${database}" TO "${role}"`);
  });
  url.username = role;
  url.password = '';
  try {
    return await work(url.toString(), role);
  } finally {
    await withPostgresClient(adminUrl, async (client) => {
      await client.query(`DROP OWNED BY "${role}" CASCADE`);
      await client.query(`DROP ROLE "${role}"`);
    });
  }
}
