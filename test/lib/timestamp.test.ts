import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTimestamp } from '../../src/lib/timestamp.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// apiTimestamp rewrites PostgreSQL's timestamptz text without a regular expression when the
// session is in UTC (the pool's are); the result must be what PostgreSQL itself renders as
// RFC 3339 with six fractional digits, for every number of fractional digits it prints.

describe('apiTimestamp on PostgreSQL text', () => {
  let testDb: TestDatabase;
  let sql: postgres.Sql;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    sql = postgres(testDb.appUrl, { max: 1, onnotice: () => {}, types: { tstz: { to: 1184, from: [1184], serialize: (x: string) => x, parse: (x: string) => x } } });
  });
  afterAll(async () => {
    await sql.end();
    await testDb.drop();
  });

  for (const timeZone of ['UTC', 'Asia/Kolkata', 'America/St_Johns']) {
    it(`matches to_char(... at time zone 'UTC') in a ${timeZone} session`, async () => {
      await sql.unsafe(`set time zone '${timeZone}'`);
      const rows = await sql.unsafe<{ text: string; expected: string }[]>(`
        select t::text as text, to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as expected
        from (select '2026-01-02 03:04:05+00'::timestamptz + make_interval(secs => s) as t
              from unnest(array[0, 0.1, 0.12, 0.123, 0.1234, 0.12345, 0.123456, 0.000001, 59.999999, 86399.5]::float8[]) s
              union all select '1899-12-31 23:59:59.5+00'::timestamptz union all select '0099-06-01 00:00:00+00'::timestamptz) x`);
      for (const { text, expected } of rows) expect(apiTimestamp(text), text).toBe(expected);
    });
  }

  it('leaves text with no RFC 3339 form as it is', () => {
    for (const text of ['infinity', '-infinity', '2026-01-02 03:04:05 BC+00']) expect(apiTimestamp(text)).toBe(text);
  });
});
