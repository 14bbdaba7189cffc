import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDatabase, poolOptions, type Database } from '../../src/db/client.js';
import { startEmbeddedServer } from '../setup/server.js';

// DB_IAM_AUTH=true: the pool's password is a function that signs a fresh RDS IAM token
// (@aws-sdk/rds-signer, SigV4, offline from env credentials) for every new connection.
// RDS checks the token; here an embedded PostgreSQL with password authentication plays
// RDS by storing the exact token as the role's password, so the token the driver sends
// on each connection is really checked by a server.

const REGION = 'eu-west-1';
let server: Awaited<ReturnType<typeof startEmbeddedServer>>;
let admin: postgres.Sql;
const opened: Database[] = [];

beforeAll(async () => {
  // Static example credentials: signing is local; nothing here talks to AWS.
  process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  server = await startEmbeddedServer();
  admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  await admin`create role offbase_iam login`;
});
afterAll(async () => {
  vi.useRealTimers();
  await Promise.all(opened.map((d) => d.close()));
  await admin?.end();
  await server?.stop();
});

const iamConfig = (url: string) =>
  loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, DB_IAM_AUTH: 'true', DB_MAX_LIFETIME_S: '600', AWS_REGION: REGION, DB_POOL_MAX: '1' });

async function tokenAt(url: string): Promise<string> {
  const options = await poolOptions(iamConfig(url).db, url);
  return (options.password as () => Promise<string>)();
}

describe('DB_IAM_AUTH', () => {
  it('signs a token-shaped RDS auth token offline, and a new one when the clock moves', async () => {
    const url = 'postgres://offbase@mydb.abc123.eu-west-1.rds.amazonaws.com:5432/offbase';
    const config = iamConfig(url);
    const options = await poolOptions(config.db, url);
    expect(options.password).toBeTypeOf('function');
    expect(options.max_lifetime).toBe(600);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-02T03:04:05Z'));
    const first = await (options.password as () => Promise<string>)();
    expect(first).toMatch(
      /^mydb\.abc123\.eu-west-1\.rds\.amazonaws\.com:5432\/\?Action=connect&DBUser=offbase&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=900&X-Amz-Signature=[0-9a-f]{64}&X-Amz-SignedHeaders=host$/,
    );
    vi.setSystemTime(new Date('2026-01-02T03:14:05Z'));
    const second = await (options.password as () => Promise<string>)();
    expect(second).toContain('X-Amz-Date=20260102T031405Z');
    expect(second).not.toBe(first);
    vi.useRealTimers();
  });

  it('the pool sends a freshly signed token on every new connection', async () => {
    const url = server.adminUrl.replace('postgres:postgres@', 'offbase_iam@');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-04T05:06:07Z'));
    // The "RDS" side: the role's password is exactly the token valid at this instant.
    await admin.unsafe(`alter role offbase_iam password '${await tokenAt(url)}'`);

    const database = await createDatabase({ ...iamConfig(url).db, poolMax: 2 }, url);
    opened.push(database);
    expect((await database.sql`select current_user as u`)[0]!.u).toBe('offbase_iam');

    // Ten minutes later the old token no longer matches. The open connection keeps working
    // (RDS checks tokens only at connect); a second connection, opened while the first is
    // busy, must sign a new token, which the server refuses until it is the valid one.
    vi.setSystemTime(new Date('2026-03-04T05:16:07Z'));
    const busy = database.sql`select pg_sleep(0.5)`.execute(); // queries are lazy: start it now
    await expect(database.sql`select 2`).rejects.toMatchObject({ code: '28P01' });
    await busy;

    await admin.unsafe(`alter role offbase_iam password '${await tokenAt(url)}'`);
    const busyAgain = database.sql`select pg_sleep(0.5)`.execute();
    expect((await database.sql`select current_user as u`)[0]!.u).toBe('offbase_iam');
    await busyAgain;
    const [row] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where usename = 'offbase_iam'`;
    expect(row!.n).toBe(2);
    vi.useRealTimers();
  });
});
