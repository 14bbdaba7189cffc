// The README's frontend example against the generated client/offbase-api.d.ts. Typechecked by
// `npm run typecheck`: a stale, broken or untyped (`any`) generated file fails there, since
// every `@ts-expect-error` below must be an error and the calls must type. typed-client.test.ts
// runs it against the real app.
import createClient from 'openapi-fetch';
import type { paths } from '../../client/offbase-api.js';

export async function frontendExample(baseUrl: string, email: string, password: string): Promise<string[]> {
  const api = createClient<paths>({ baseUrl });

  const login = await api.POST('/api/v1/auth/login', { body: { email, password } });
  if (login.error) throw new Error(`login failed: ${login.error.code} (request ${login.error.request_id})`);
  const token: string = login.data.access_token;
  const headers = { authorization: `Bearer ${token}` };

  const created = await api.POST('/api/v1/documents', {
    headers,
    body: { title: 'Q3 contract', s3_bucket: 'docs', s3_key: 'q3.pdf', tags: ['contracts'] },
  });
  if (created.response.status === 409) return [];
  if (created.error) throw new Error(created.error.message);
  const id: string = created.data.id;

  const fetched = await api.GET('/api/v1/documents/{id}', { headers, params: { path: { id } } });
  if (fetched.response.status === 404) return [];

  const page = await api.GET('/api/v1/documents', {
    headers,
    params: { query: { tag: ['contracts'], sort: '-created_at', limit: 20, count: 'exact' } },
  });
  if (page.error) throw new Error(page.error.details?.map((d) => d.field).join(', ') ?? page.error.message);
  const total: number | undefined = page.data.total;
  const titles: string[] = page.data.data.map((d) => d.title);

  // @ts-expect-error a path the API does not have
  await api.GET('/api/v1/no-such-route');
  // @ts-expect-error a required body field is missing
  await api.POST('/api/v1/auth/login', { body: { email } });
  // @ts-expect-error status is an enum
  await api.GET('/api/v1/documents', { headers, params: { query: { status: 'lost' } } });
  // @ts-expect-error the response has no such field
  void page.data.data[0]?.no_such_field;

  return total === undefined ? titles : [...titles, String(total)];
}
