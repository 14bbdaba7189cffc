import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sessions, users, type UserRole } from '../../src/db/schema/index.js';

export interface TestUser {
  id: string;
  email: string;
  role: UserRole;
  sessionId: string;
  token: string;
  headers: { authorization: string };
}

/**
 * A user with a live session and a signed access token, written straight to the database.
 * For tests of features other than auth; auth tests go through the real endpoints.
 */
export async function createUserWithToken(app: FastifyInstance, opts: { role?: UserRole; email?: string } = {}): Promise<TestUser> {
  const email = opts.email ?? `user-${randomUUID().slice(0, 8)}@example.com`;
  const role = opts.role ?? 'user';
  const [user] = await app.db.insert(users).values({ email, role }).returning({ id: users.id });
  const [session] = await app.db
    .insert(sessions)
    .values({ user_id: user!.id, expires_at: new Date(Date.now() + 86_400_000).toISOString() })
    .returning({ id: sessions.id });
  const token = app.jwt.sign({ sub: user!.id, role, email, sid: session!.id });
  return { id: user!.id, email, role, sessionId: session!.id, token, headers: { authorization: `Bearer ${token}` } };
}
