import { createHmac } from 'node:crypto';
import type postgres from 'postgres';

// Sessions and access tokens minted straight into a database, for code that has no app
// instance to call app.jwt.sign on: processes under test (faults) and the bench. The token
// is exactly what the auth feature issues: HS256 with sub, role, email, sid, iss, aud, exp.

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');

export function signAccessToken(
  claims: { sub: string; role: string; email: string; sid: string },
  secret: string,
  options: { issuer?: string; audience?: string; ttlS?: number } = {},
): string {
  const iat = Math.floor(Date.now() / 1000);
  const payload = { ...claims, iat, exp: iat + (options.ttlS ?? 3600), iss: options.issuer ?? 'offbase', aud: options.audience ?? 'authenticated' };
  const unsigned = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(payload))}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

/** Inserts a live session for an existing user and returns a Bearer token for it. */
export async function mintSession(
  sql: postgres.Sql,
  user: { id: string; email: string; role?: string },
  secret: string,
  options: { ttlS?: number } = {},
): Promise<{ sessionId: string; token: string }> {
  const ttlS = options.ttlS ?? 3600;
  const [row] = await sql<{ id: string }[]>`
    insert into sessions (user_id, expires_at) values (${user.id}, now() + make_interval(secs => ${ttlS})) returning id`;
  const token = signAccessToken({ sub: user.id, role: user.role ?? 'user', email: user.email, sid: row!.id }, secret, { ttlS });
  return { sessionId: row!.id, token };
}
