import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { TestUser } from './users.js';

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
