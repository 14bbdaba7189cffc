import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { actorFor, type Actor } from './actor.js';
import type { AuditFields, RequestContext } from './request-context.js';
import type { DeferredSessionCheck } from './session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's context for services: built on first use, then the same object. */
    readonly ctx: RequestContext;
    /** The session check the request's first read carries, while it has not run (context/session.ts). */
    sessionCheck: DeferredSessionCheck | null;
  }
}

const USER_AGENT_MAX = 512;

/**
 * The context of one HTTP request. The database handles and the actor are read through,
 * not copied: the read handle follows the read-your-writes rule at the moment of the read
 * (as request.readDb does), and the actor appears once authentication has run.
 */
class HttpRequestContext implements RequestContext {
  readonly audit: AuditFields;
  #user: FastifyRequest['user'] | undefined;
  #actor: Actor | null = null;

  constructor(
    private readonly request: FastifyRequest,
    private readonly adminPowers: boolean,
  ) {
    this.audit = { requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent']?.slice(0, USER_AGENT_MAX) ?? null };
  }

  get db() {
    return this.request.server.db;
  }

  get readDb() {
    return this.request.readDb;
  }

  get log() {
    return this.request.log;
  }

  get actor(): Actor | null {
    const user = this.request.user as FastifyRequest['user'] | null | undefined;
    if (user !== this.#user) {
      this.#user = user ?? undefined;
      this.#actor = user ? actorFor(user, this.adminPowers, this.request.sessionCheck) : null;
    }
    return this.#actor;
  }

  withoutAdminPowers(): RequestContext {
    return this.adminPowers ? new HttpRequestContext(this.request, false) : this;
  }
}

const kContext = Symbol('offbase.requestContext');
type WithContext = FastifyRequest & { [kContext]: RequestContext | null };

export default fp(
  async (app) => {
    // Declared up front (null) so every request object keeps one shape.
    app.decorateRequest(kContext, null);
    app.decorateRequest('sessionCheck', null);
    app.decorateRequest('ctx', {
      getter(this: FastifyRequest) {
        const request = this as WithContext;
        return (request[kContext] ??= new HttpRequestContext(this, true));
      },
    });
  },
  { name: 'request-context', dependencies: ['database'] },
);
