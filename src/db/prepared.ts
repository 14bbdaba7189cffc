import type { DbOrTx } from './client.js';

/**
 * Statements built once and reused: drizzle renders a query builder chain to SQL on every
 * call (entity checks, selection building, parameter collection), which on a hot read costs
 * more CPU than the round trip. A statement built with `sql.placeholder(...)` and
 * `.prepare(name)` is rendered once and only gets its values per call.
 *
 * `build(db, shape, input)` makes the statement for one handle (pool, replica or transaction:
 * a prepared query is bound to the handle it was built on) and one shape (whatever changes the
 * SQL text: the actor's scope, the sort); `input` is what the build needs beyond the shape
 * and must render the same SQL for the same shape. Handles are held weakly, so a
 * transaction's entries go with it; past `maxShapes` per handle a statement is built and not
 * kept, so a caller with many shapes cannot grow the cache without bound.
 */
export function statementCache<S, I = undefined>(build: (db: DbOrTx, shape: string, input: I) => S, maxShapes = 32): (db: DbOrTx, shape: string, input: I) => S {
  const byHandle = new WeakMap<DbOrTx, Map<string, S>>();
  return (db, shape, input) => {
    let shapes = byHandle.get(db);
    if (!shapes) byHandle.set(db, (shapes = new Map()));
    let statement = shapes.get(shape);
    if (statement === undefined) {
      statement = build(db, shape, input);
      if (shapes.size < maxShapes) shapes.set(shape, statement);
    }
    return statement;
  };
}
