import type { DbOrTx } from './client.js';

/**
 * Statements built once and reused: drizzle renders a query builder chain to SQL on every
 * call (entity checks, selection building, parameter collection), which on a hot read costs
 * more CPU than the round trip. A statement built with `sql.placeholder(...)` and
 * `.prepare(name)` is rendered once and only gets its values per call.
 *
 * `build(db, shape)` makes the statement for one handle (pool, replica or transaction: a
 * prepared query is bound to the handle it was built on) and one shape (whatever changes
 * the SQL text: the actor's scope, the sort). Handles are held weakly, so a transaction's
 * entries go with it; shapes must come from a small fixed set.
 */
export function statementCache<S>(build: (db: DbOrTx, shape: string) => S): (db: DbOrTx, shape: string) => S {
  const byHandle = new WeakMap<DbOrTx, Map<string, S>>();
  return (db, shape) => {
    let shapes = byHandle.get(db);
    if (!shapes) byHandle.set(db, (shapes = new Map()));
    let statement = shapes.get(shape);
    if (statement === undefined) shapes.set(shape, (statement = build(db, shape)));
    return statement;
  };
}
