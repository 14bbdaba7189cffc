import { sql, type SQL } from 'drizzle-orm';

// The write side of the carried session check (session-check.ts, carriedSessionColumn): a
// statement that writes can carry the check only if the write itself depends on it, so the
// INSERT selects its row from the check's state with this condition and a session that may
// not write inserts nothing (no row, no audit row, no error). It must refuse exactly what the
// separate check and the MFA gate (plugins/authenticate.ts, requireAssurance) refuse:
//   - no live session (the column is NULL: revoked, expired, someone else's, user disabled);
//   - a user with a verified second factor on an aal1 session, unless the route allows aal1.
// It reads the column's text, `<role> <aal> <mfa>`, as parseCarriedState does; if that form
// changes, the write tests (test/plugins/authenticate-carried-write.test.ts) fail closed:
// every create is refused.

/** SQL: true when the carried state `state` (carriedSessionColumn's value) may write on a route; `allowAal1` as the route's config says. */
export function mayWrite(state: SQL, allowAal1: boolean): SQL {
  if (allowAal1) return sql`(${state} is not null)`;
  return sql`(${state} is not null and (split_part(${state}, ' ', 3) = 'f' or split_part(${state}, ' ', 2) = 'aal2'))`;
}
