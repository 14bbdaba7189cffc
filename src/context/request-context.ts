import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.js';
import { AppError } from '../errors/app-error.js';
import type { Actor } from './actor.js';

/** What every audit row records about the request that caused it. */
export interface AuditFields {
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

/**
 * Everything a service needs from the request it serves, as plain values: the database
 * handles, who is asking, what the audit trail records, and where to log. Built once per
 * request by the request-context plugin (src/context/plugin.ts); services and queries take
 * this (or its parts), never the Fastify request.
 */
export interface RequestContext {
  /** Primary: writes, transactions, reads that must see the request's own writes. */
  readonly db: Db;
  /**
   * Where plain reads go: the replica when one is configured, except for a user who wrote
   * in the last few seconds (read-your-writes; see src/plugins/database.ts).
   */
  readonly readDb: Db;
  /** The signed-in user, or null before authentication / for anonymous callers. */
  readonly actor: Actor | null;
  readonly audit: AuditFields;
  readonly log: FastifyBaseLogger;
  /**
   * The same request with admin powers off: an admin acts as a plain user (owner scope on
   * every statement). The Supabase-compatible /rest/v1 asks for this.
   */
  withoutAdminPowers(): RequestContext;
}

/** The signed-in actor; 401 when the route forgot to require a user. */
export function requireActor(ctx: RequestContext): Actor {
  if (!ctx.actor) throw new AppError('unauthorized');
  return ctx.actor;
}
