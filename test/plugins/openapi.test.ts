import { randomUUID } from 'node:crypto';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { randomIp } from '../helpers/auth.js';
import { createUserWithToken } from '../helpers/users.js';

// The OpenAPI document the app serves passes a linter (Redocly, the engine openapi-typescript
// uses), and every operation in it is complete: a summary, tags, each status it can answer
// with (the error statuses included) and its schema, and `security` when it needs credentials.
// "Can answer with" is checked two ways: by rule (a body can be too large or not JSON, a path
// parameter can name nothing, a secured route can be refused) and by asking the running app
// (anonymous, with the API key only, signed in, with a non-JSON body): whatever status comes
// back must be documented. Failures are reported per operation.

const ANON_KEY = 'openapi-lint-anon-key-0123456789';

type Schema = Record<string, unknown>;
interface Response {
  description?: string;
  content?: Record<string, { schema?: Schema }>;
}
interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; required?: boolean }[];
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, Response>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

const isCompat = (path: string) => path.startsWith('/auth/v1') || path.startsWith('/rest/v1');
const needsBearer = (op: Operation) => (op.security ?? []).some((r) => 'bearer' in r);
const needsApiKey = (op: Operation) => (op.security ?? []).some((r) => 'apikey' in r);

function concretePath(path: string): string {
  return path.replace(/\{table\}/g, 'documents').replace(/\{[^}]+\}/g, () => randomUUID());
}

/** What the operation says it can answer with, by rule. */
function requiredStatuses(path: string, op: Operation): number[] {
  const required = [500, 503];
  const hasInput = Boolean(op.requestBody) || (op.parameters ?? []).length > 0;
  if (hasInput) required.push(400);
  if (op.requestBody) required.push(413, 415);
  if ((op.security ?? []).length > 0) required.push(401);
  if (/\{[^}]+\}/.test(path)) required.push(404);
  return required;
}

function staticProblems(path: string, op: Operation): string[] {
  const problems: string[] = [];
  if (!op.summary?.trim()) problems.push('no summary');
  if (!op.tags?.length) problems.push('no tags');
  const responses = op.responses ?? {};
  const statuses = Object.keys(responses);
  if (!statuses.some((s) => /^[23]/.test(s))) problems.push('no success response');
  for (const status of requiredStatuses(path, op)) {
    if (!(String(status) in responses)) problems.push(`${status} not documented`);
  }
  for (const [status, response] of Object.entries(responses)) {
    const bodiless = status === '204' || status === '304' || status === '205';
    const schema = response.content?.['application/json']?.schema;
    if (!bodiless && !schema) problems.push(`${status} has no application/json schema`);
    if (/^[45]/.test(status) && schema && !schema.properties && !schema.anyOf && !schema.oneOf && !schema.$ref) problems.push(`${status} schema describes no error body`);
  }
  return problems;
}

let t: TestApp;
let doc: Document;

beforeAll(async () => {
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY });
  doc = structuredClone(t.app.swagger()) as unknown as Document;
});
afterAll(async () => {
  await t?.close();
});

function operations(): [string, string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => [path, m, item[m]!] as [string, string, Operation]));
}

/** Asks the app: each probe's status must be documented, and a refusal (401) needs `security`. */
async function probeProblems(path: string, method: string, op: Operation): Promise<string[]> {
  const problems: string[] = [];
  const responses = op.responses ?? {};
  const documented = (status: number) => String(status) in responses || `${String(status)[0]}XX` in responses;
  const user = await createUserWithToken(t.app);
  const url = concretePath(path);
  const apikey: Record<string, string> = isCompat(path) ? { apikey: ANON_KEY } : {};
  const body = op.requestBody ? { payload: {} } : {};
  const send = (headers: Record<string, string>, extra: Record<string, unknown> = body) =>
    t.app.inject({ method: method.toUpperCase() as 'GET', url, headers, remoteAddress: randomIp(), ...extra });

  const anonymous = await send({});
  if (!documented(anonymous.statusCode)) problems.push(`answers ${anonymous.statusCode} without credentials; not documented`);
  if (anonymous.statusCode === 401 && !(op.security ?? []).length) problems.push('refuses a request without credentials (401) but declares no security');
  if (isCompat(path)) {
    if (anonymous.statusCode === 401 && !needsApiKey(op)) problems.push('refuses a request without the apikey (401) but its security names no apikey');
    const keyOnly = await send(apikey);
    if (!documented(keyOnly.statusCode)) problems.push(`answers ${keyOnly.statusCode} with the apikey only; not documented`);
    if (keyOnly.statusCode === 401 && !needsBearer(op)) problems.push('refuses a request without a Bearer token (401) but its security names no bearer');
  } else if (anonymous.statusCode === 401 && !needsBearer(op)) {
    problems.push('refuses a request without a Bearer token (401) but its security names no bearer');
  }
  const signedIn = await send({ ...apikey, ...user.headers });
  if (!documented(signedIn.statusCode)) problems.push(`answers ${signedIn.statusCode} when signed in; not documented`);
  if (op.requestBody) {
    const notJson = await send({ ...apikey, ...user.headers, 'content-type': 'text/plain' }, { payload: 'hello' });
    if (!documented(notJson.statusCode)) problems.push(`answers ${notJson.statusCode} to a text/plain body; not documented`);
  }
  return problems;
}

describe('the OpenAPI document', () => {
  it('passes the linter (structure, references, summaries, success and client-error responses)', async () => {
    const config = await createConfig({
      extends: ['minimal'],
      rules: {
        struct: 'error',
        'no-unresolved-refs': 'error',
        'operation-summary': 'error',
        'operation-2xx-response': 'error',
        'path-parameters-defined': 'error',
        'operation-parameters-unique': 'error',
        'no-identical-paths': 'error',
        'no-ambiguous-paths': 'error',
        'operation-operationId-unique': 'error',
        // Public operations declare no security (there is no global default to opt out of).
        'security-defined': 'off',
      },
    });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config });
    const byOperation: Record<string, string[]> = {};
    for (const p of problems.filter((p) => p.severity === 'error')) {
      const pointer = p.location[0]?.pointer ?? '#';
      const [, rawPath, method] = /^#\/paths\/([^/]+)\/([a-z]+)/.exec(pointer) ?? [];
      const key = rawPath ? `${method!.toUpperCase()} ${rawPath.replace(/~1/g, '/').replace(/~0/g, '~')}` : 'document';
      (byOperation[key] ??= []).push(`${p.ruleId}: ${p.message} (${pointer})`);
    }
    expect(byOperation).toEqual({});
  });

  it('documents every operation completely: summary, tags, each status it answers with and its schema, security', async () => {
    const failures: Record<string, string[]> = {};
    for (const [path, method, op] of operations()) {
      const key = `${method.toUpperCase()} ${path}`;
      const problems = [...staticProblems(path, op), ...(await probeProblems(path, method, op))];
      if (!problems.length) continue;
      failures[key] = problems;
    }
    expect(failures).toEqual({});
  });
});
