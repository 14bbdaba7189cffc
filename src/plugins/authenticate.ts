import jwt from '@fastify/jwt';
import type { SQL } from 'drizzle-orm';
import type { FastifyReply, FastifyRequest, onSendHookHandler, RouteOptions } from 'fastify';
import { createVerifier } from 'fast-jwt';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import type { Actor, DeferredSessionCheck } from '../context/index.js';
import { AppError } from '../errors/app-error.js';
import type { AccessTokenClaims, SessionUser } from '../features/auth/claims.js';
import { jwtKeyRing } from '../features/auth/jwt-keys.js';
import { hasVerifiedFactor } from '../features/auth/mfa/queries.js';
import {
  carriedParams,
  carriedSessionColumn,
  createSessionCheck,
  parseCarriedState,
  sessionParams,
  sessionUser,
  type SessionCheck,
} from '../features/auth/session-check.js';
import { mayWrite } from '../features/auth/session-write-check.js';
import { TokenVerifiers } from '../features/auth/verifiers.js';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenClaims;
    user: SessionUser;
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route serves an aal1 session of a user with a second factor: completing MFA,
     * listing factors, signing out. Every other authenticated route requires aal2 for them.
     */
    allowAal1?: boolean;
    /**
     * The route's first read carries the session check (context/session.ts): one round trip
     * instead of two. For GET routes whose data access goes through src/resources/queries.ts;
     * anything else is still safe (the check runs before the response is sent) but gains nothing.
     */
    carrySessionCheck?: boolean;
    /**
     * The route's create carries the session check in its INSERT (context/session.ts): the row
     * is selected from the check's state, so a session that may not write inserts nothing, and
     * one statement does both. For POST routes whose only write is src/resources/writer.ts's
     * createRows (which carries it or settles it before any other statement).
     */
    carrySessionCheckInCreate?: boolean;
  }
  interface FastifyInstance {
    /**
     * A valid Bearer access token of a live session and an enabled user, else 401. A route
     * tree that needs a user says so with `app.addHook('onRequest', app.authenticate)`.
     */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>;
    /** authenticate, then role=admin, else 403: `app.addHook('onRequest', app.requireAdmin)`. */
    requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void>;
    /** Other issuers' access tokens accepted besides offbase's own (see features/auth/verifiers.ts). */
    tokenVerifiers: TokenVerifiers;
    /**
     * Whether `token` is validly signed and unexpired by one of offbase's keys (current or
     * previous), whatever its session's state: for telling "bad token" from "session ended".
     */
    signedByUs(token: string): boolean;
  }
}

const BEARER = /^bearer\s+\S+/i;
// A foreign token is looked at only when the header is exactly `Bearer <token>`.
const WHOLE_BEARER = /^bearer\s+(\S+)$/i;

// The HTTP edge of authentication: read the Bearer token, verify its signature with
// @fastify/jwt, then hand the claims to the auth feature's session check.
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

    // The hot path verifies with fast-jwt directly (what @fastify/jwt uses underneath), one
    // verifier per key built once, with the same options as above: @fastify/jwt merges its
    // options, decodes the token twice and runs a callback waterfall on every request.
    // Verified tokens are cached until they expire (fast-jwt's LRU, 1,000 tokens): a cached
    // token skips the HMAC and the JSON parse, never the session check below.
    const verifierFor = new Map(
      [keys.current.secret, ...config.auth.jwtPreviousSecrets].map((secret) => [
        secret,
        createVerifier({ key: secret, algorithms: ['HS256'], allowedIss: config.auth.issuer, allowedAud: config.auth.audience, requiredClaims: ['exp', 'iss', 'aud'], cache: true }),
      ]),
    );

    // One of our tokens, verified with the key its kid names; throws for anything else.
    const verifyOurs = (token: string): AccessTokenClaims => {
      const key = keys.keyFor(token);
      const verify = key === null ? undefined : verifierFor.get(key);
      if (!verify) throw new Error('unknown kid');
      return verify(token) as AccessTokenClaims;
    };
    app.decorate('signedByUs', (token: string) => {
      try {
        verifyOurs(token);
        return true;
      } catch {
        return false;
      }
    });

    const checkSession = createSessionCheck(app.db);
    const verifiers = new TokenVerifiers();
    app.decorate('tokenVerifiers', verifiers);

    // Reads carry the check only where they run on the primary: with a replica configured they
    // go there, and a replica may lag behind a revocation, so the check runs first as before.
    const carryColumn = app.database.readDb === app.database.db ? carriedSessionColumn(app.db) : null;
    const settleBeforeSend: onSendHookHandler = (request, reply, payload, done) => {
      const check = request.sessionCheck;
      // A 5xx carries no data (and the database it would ask may be what failed).
      if (!check || check.settled || reply.statusCode >= 500) return done(null, payload);
      // Nothing carried the check (a 400 before the handler, a read elsewhere): it runs now,
      // and a dead session's response is replaced by the 401 before a byte of it is sent.
      check.run().then(
        () => done(null, payload),
        (err: Error) => {
          reply.removeHeader('etag');
          done(err);
        },
      );
    };
    // A create's INSERT runs on the primary whatever the reads do, so it can always carry the check.
    const writeCarryColumn = carriedSessionColumn(app.db);
    app.addHook('onRoute', (route) => carryInCreate(route, settleBeforeSend));
    app.addHook('onRoute', (route) => {
      if (!route.config?.carrySessionCheck) return;
      const methods = ([] as string[]).concat(route.method);
      // A carried check settles at the first read: a handler that writes first would write unchecked.
      if (methods.some((m) => m !== 'GET' && m !== 'HEAD')) throw new Error(`carrySessionCheck is for GET routes only: ${methods.join(',')} ${route.url}`);
      route.onSend = [...([] as onSendHookHandler[]).concat(route.onSend ?? []), settleBeforeSend];
    });

    app.decorate('authenticate', async (request: FastifyRequest) => {
      const header = request.headers.authorization;
      if (!header || !BEARER.test(header)) throw new AppError('unauthorized');
      const token = header.replace(/^bearer\s+/i, '');
      let claims: AccessTokenClaims;
      try {
        claims = verifyOurs(token);
      } catch {
        // Not one of ours: another issuer's, if one is plugged in (the Supabase cut-over).
        const whole = WHOLE_BEARER.exec(header)?.[1];
        const foreign = whole ? await verifiers.verify(whole) : null;
        if (!foreign) throw new AppError('invalid_token');
        // No offbase session backs it, so no aal of ours: a user with a second factor signs in again.
        request.user = { ...foreign, aal: 'aal1', mfaEnabled: await hasVerifiedFactor(app.db, foreign.sub) };
        return requireAssurance(request);
      }
      const { carrySessionCheck, carrySessionCheckInCreate } = request.routeOptions.config;
      const column = carrySessionCheck ? carryColumn : carrySessionCheckInCreate ? writeCarryColumn : null;
      if (column && claims.role !== 'admin') {
        // An admin's token is checked first: admin scope is never provisional.
        const params = sessionParams(claims);
        if (!params) throw new AppError('invalid_token');
        request.user = { ...claims, sid: params.sid, role: 'user', aal: claims.aal ?? 'aal1' };
        request.sessionCheck = new CarriedCheck(request, claims, params, column, checkSession, requireAssurance);
        return;
      }
      const user = await checkSession(claims);
      if (!user) throw new AppError('invalid_token');
      request.user = user;
      requireAssurance(request);
    });

    // The one MFA gate: a user with a verified second factor reaches a route with an aal2
    // session only, except the few routes marked allowAal1. Users without factors are unaffected.
    function requireAssurance(request: FastifyRequest): void {
      const { mfaEnabled, aal } = request.user;
      if (mfaEnabled && aal !== 'aal2' && !request.routeOptions.config.allowAal1) throw new AppError('mfa_required');
    }

    app.decorate('requireAdmin', async (request: FastifyRequest, reply: FastifyReply) => {
      await app.authenticate(request, reply);
      if (request.sessionCheck && !request.sessionCheck.settled) await request.sessionCheck.run();
      if (request.user.role !== 'admin') throw new AppError('forbidden');
    });
  },
  { name: 'authenticate', dependencies: ['database', 'request-context'] },
);

/**
 * The write side: a route marked carrySessionCheckInCreate is a POST whose response, like a
 * carrying read's, waits for the check to settle (nothing carried it: a 400 before the handler).
 */
function carryInCreate(route: RouteOptions, settleBeforeSend: onSendHookHandler): void {
  if (!route.config?.carrySessionCheckInCreate) return;
  const methods = ([] as string[]).concat(route.method);
  if (route.config.carrySessionCheck || methods.some((m) => m !== 'POST')) throw new Error(`carrySessionCheckInCreate is for POST routes only: ${methods.join(',')} ${route.url}`);
  route.onSend = [...([] as onSendHookHandler[]).concat(route.onSend ?? []), settleBeforeSend];
}

/**
 * The session check of one request, carried by its first read (context/session.ts). Settling
 * makes the request's user and actors what the separate check would have made them, and
 * applies the same refusals (401 for a dead session, the MFA gate).
 */
class CarriedCheck implements DeferredSessionCheck {
  settled = false;
  readonly params: Record<string, string>;
  readonly db: DeferredSessionCheck['db'];
  readonly #actors: [Actor, boolean][] = [];

  constructor(
    private readonly request: FastifyRequest,
    private readonly claims: AccessTokenClaims,
    private readonly session: { sid: string; sub: string },
    readonly column: DeferredSessionCheck['column'],
    private readonly checkSession: SessionCheck,
    private readonly requireAssurance: (request: FastifyRequest) => void,
  ) {
    this.params = carriedParams(session);
    this.db = request.server.db;
  }

  writeGate(state: SQL): SQL {
    return mayWrite(state, this.request.routeOptions.config.allowAal1 === true);
  }

  track(actor: Actor, adminPowers: boolean): void {
    this.#actors.push([actor, adminPowers]);
  }

  settle(value: string | null): void {
    const state = parseCarriedState(value);
    this.#apply(state && sessionUser(this.claims, this.session.sid, state));
  }

  async run(): Promise<void> {
    this.#apply(await this.checkSession(this.claims));
  }

  #apply(user: SessionUser | null): void {
    this.settled = true;
    if (!user) throw new AppError('invalid_token');
    this.request.user = user;
    for (const [actor, adminPowers] of this.#actors) {
      actor.role = user.role;
      actor.admin = adminPowers && user.role === 'admin';
    }
    this.requireAssurance(this.request);
  }
}
