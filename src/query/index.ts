// The reusable query layer: allowlisted columns → filters, sorts and keyset/offset pages as
// Drizzle SQL. Feature queries (documents, audit logs, admin lists) and /rest/v1 share it.
export { defineTable, type ColumnSpec, type ColumnType, type TableSpec } from './columns.js';
export { allOf, boundValues, isBound, type Bound } from './bound.js';
export { bindFilters, compileFilter, compileFilters, filterableColumn, OPERATORS, textArrayLiteral, type AllOf, type AnyOf, type Condition, type Filter, type Operator } from './filter.js';
export { compileOrder, parseSortKey, totalOrder, validateSort, type SortTerm } from './sort.js';
export { decodeCursor, encodeCursor, keysetBound, keysetCondition } from './cursor.js';
export { isLiteralLimit, keysetPage, literalLimit, parseLimit, parseOffset, type KeysetPage, type LimitBounds } from './page.js';
export { coerceValue, invalid, isTimestamp } from './values.js';
export { ownerScope, ownRows } from './scope.js';
export type { RowsQuery } from './rows.js';
