import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Sql } from 'postgres';
import { buildTestApp, type TestApp } from './app.js';
import { createUserWithToken, type TestUser } from './users.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Requests to /api/v1 as a user. */
export function client(app: FastifyInstance, user: TestUser) {
  return (method: Method, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method, url: `/api/v1${url}`, headers: { ...user.headers, ...headers }, ...(payload === undefined ? {} : { payload: payload as InjectOptions['payload'] }) });
}
export type Client = ReturnType<typeof client>;

/** A valid create body with a unique S3 key. */
export function newDoc(extra: Record<string, unknown> = {}): { title: string; s3_bucket: string; s3_key: string; [field: string]: unknown } {
  return { title: `Document ${randomUUID().slice(0, 8)}`, s3_bucket: 'offbase-test', s3_key: `docs/${randomUUID()}.pdf`, ...extra };
}

/** The usual data-API test file setup: its own app and database, one user, a client for them. */
export async function dataApp(env: Record<string, string> = {}): Promise<{ t: TestApp; alice: TestUser; api: Client }> {
  const t = await buildTestApp(env);
  const alice = await createUserWithToken(t.app);
  return { t, alice, api: client(t.app, alice) };
}

/**
 * `count` documents of the owner, each with `textBytes` of text, inserted in one statement
 * (no API round trips): the large accounts the export tests stream.
 */
export async function insertLargeDocuments(sql: Sql, ownerId: string, count: number, textBytes: number): Promise<void> {
  await sql`
    insert into documents (owner_id, title, s3_bucket, s3_key, content_text)
    select ${ownerId}, 'Document ' || i, 'b', 'k/' || i, left(repeat('exported rows stay bounded ' || i || ' ', ${Math.ceil(textBytes / 20)}), ${textBytes})
    from generate_series(1, ${count}) i`;
}
