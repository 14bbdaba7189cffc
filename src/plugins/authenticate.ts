import jwt from '@fastify/jwt';
import { eq, sql } from 'drizzle-orm';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { sessions, users, type UserRole } from '../db/schema/index.js';
import { AppError } from '../errors/app-error.js';
import { jwtKeyRing } from '../features/auth/jwt-keys.js';
import { isUuid } from '../lib/uuid.js';
import { supabaseTokenUser } from './supabase-tokens.js';

export interface AccessTokenClaims {
  sub: string;
  role: UserRole;
  email: string;
  /** Session id: revoking the session invalidates the token before it expires. */
  sid: string;
  /** GoTrue's name for the session id, on tokens issued by /auth/v1 (which carry sid too). */
  session_id?: string;
  iat?: number;
  exp?: number;
  iss?: string;
  aud?: string | string[];
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenClaims;
    user: AccessTokenClaims;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: a valid Bearer access token of a live session and an enabled user. */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>;
    /** preHandler: authenticate, then require role=admin. */
    requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    // Signs with the current key (its kid in the header); previous keys verify only.
    const keys = jwtKeyRing(config.auth.jwtSecret, config.auth.jwtPreviousSecrets);
    await app.register(jwt, {
      secret: keys.current.secret,
      sign: { algorithm: 'HS256', kid: keys.current.kid, iss: config.auth.issuer, aud: config.auth.audience, expiresIn: config.auth.accessTokenTtlS },
      // Pinning the algorithm rejects alg:none and key-confusion tricks. fast-jwt checks exp,
      // iss and aud only when present: requiredClaims refuses a token that leaves one out.
      verify: { algorithms: ['HS256'], allowedIss: config.auth.issuer, allowedAud: config.auth.audience, requiredClaims: ['exp', 'iss', 'aud'] },
    });

    // Every authenticated request runs this: built once, not per request.
    const sessionQuery = app.db
      .select({ revoked_at: sessions.revoked_at, expires_at: sessions.expires_at, disabled_at: users.disabled_at, role: users.role, user_id: users.id })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.user_id))
      .where(eq(sessions.id, sql.placeholder('sid')))
      .limit(1)
      .prepare('offbase_authenticate_session');

    app.decorate('authenticate', async (request: FastifyRequest) => {
      const header = request.headers.authorization;
      if (!header || !/^bearer\s+\S+/i.test(header)) throw new AppError('unauthorized');
      let claims: AccessTokenClaims;
      try {
        const key = keys.keyFor(header.replace(/^bearer\s+/i, ''));
        if (key === null) throw new Error('unknown kid');
        // A previous key is passed per call; the registered verify options still apply.
        claims = key === keys.current.secret ? await request.jwtVerify<AccessTokenClaims>() : await request.jwtVerify<AccessTokenClaims>({ key });
      } catch {
        // Supabase cut-over hook (src/plugins/supabase-tokens.ts): off unless SUPABASE_JWT_SECRET is set.
        const legacy = await supabaseTokenUser(app, request);
        if (legacy) return void (request.user = legacy);
        throw new AppError('invalid_token');
      }
      const sid = claims.sid ?? claims.session_id;
      if (!isUuid(sid) || !isUuid(claims.sub)) throw new AppError('invalid_token');
      // The session row is the source of truth: logout, password change and disabling
      // revoke it, and the access token dies with it instead of at expiry. Deliberately no
      // cache: one primary-key read on the primary makes a revocation in any task effective
      // in every task on the next request (a replica could lag behind the revocation).
      const [row] = await sessionQuery.execute({ sid });
      if (!row || row.user_id !== claims.sub || row.revoked_at || row.disabled_at || Date.parse(row.expires_at) <= Date.now()) {
        throw new AppError('invalid_token');
      }
      // The role is read fresh so a demotion takes effect on the next request.
      request.user = { ...claims, sid, role: row.role };
    });

    app.decorate('requireAdmin', async (request: FastifyRequest, reply: FastifyReply) => {
      await app.authenticate(request, reply);
      if (request.user.role !== 'admin') throw new AppError('forbidden');
    });
  },
  { name: 'authenticate', dependencies: ['database'] },
);
