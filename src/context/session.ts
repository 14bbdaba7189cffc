import type { SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import type { UserRole } from '../db/schema/index.js';

/** What settling changes in an actor (context/actor.ts). */
interface ProvisionalActor {
  role: UserRole;
  admin: boolean;
  deferred?: DeferredSessionCheck;
}

/**
 * A request's session check that has not run yet, so that the request's first read can carry
 * it: one statement and one round trip instead of the check and then the read. Built by the
 * authenticate plugin for the routes that ask for it (GET routes whose data access goes through
 * src/resources/queries.ts, and create routes whose write is src/resources/writer.ts's
 * createRows, whose INSERT carries it); every other request is checked before its handler runs.
 *
 * Until it settles the request's actors are provisional: the token's user (its signature is
 * verified) with the narrowest powers (no admin scope), so a statement that does not carry the
 * check can only ever read the user's own rows, and the response is not sent before the check
 * has settled (the route's onSend hook runs it when nothing else did).
 */
/** The column (and a carrying create's CTE) under which a statement carries the check's value. */
export const CARRIED_SESSION = 'offbase_session';

export interface DeferredSessionCheck {
  /** A scalar subquery with placeholders: the live session's state as one text value, NULL when there is none. */
  readonly column: SQL;
  /** Values for the column's placeholders. */
  readonly params: Readonly<Record<string, string>>;
  /** The handle a carrying statement must run on: the primary, where revocations are. */
  readonly db: DbOrTx;
  readonly settled: boolean;
  /**
   * SQL true when the session whose carried state is `state` (the column's value) may write on
   * this route: live, and past the route's MFA gate. A write carries the check by writing only
   * when this holds, then settles from the same state.
   */
  writeGate(state: SQL): SQL;
  /** The actor follows the session once it settles (role and admin powers read fresh). */
  track(actor: ProvisionalActor, adminPowers: boolean): void;
  /** Settle from the column's value in a carrying statement's row; throws the request's 401 or mfa error. */
  settle(value: string | null): void;
  /** Settle by running the check on its own (no statement carried it, or it returned no row). */
  run(): Promise<void>;
}

/** Settles the actor's pending session check, if any, before a statement that cannot carry it. */
export async function settleSession(actor: ProvisionalActor): Promise<void> {
  const check = actor.deferred;
  if (check && !check.settled) await check.run();
}
