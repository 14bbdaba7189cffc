import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { registerUser } from '../helpers/auth.js';
import { frontendExample } from './typed-client.js';

describe('typed client (openapi-fetch + client/offbase-api.d.ts)', () => {
  let t: TestApp;
  let baseUrl: string;
  beforeAll(async () => {
    t = await buildTestApp();
    baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => t.close());

  it("the README's example runs against the real API: login, create, get, list with a query string", async () => {
    const user = await registerUser(t.app);
    expect(await frontendExample(baseUrl, user.email, user.password)).toEqual(['Q3 contract', '1']);
  });
});
