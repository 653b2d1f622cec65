// For the tests that talk to the real PostgreSQL: one short-lived client for the work the code under
// test does not do itself (dropping a test schema, looking at pg_stat_activity or pg_namespace).

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
