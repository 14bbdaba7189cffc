// The declare-once layer: a resource (table + owner + column roles + relations) and what comes
// from it. docs/adding-a-table.md walks through adding one.
export { columnType, defineResource, ResourceRegistry, type ParentOwnership, type Relation, type Resource, type ResourceDeclaration, type Row, type RowCheck, type WriteExtras } from './define.js';
export type { ResourceSchemas } from './schemas.js';
export * as resourceQueries from './queries.js';
export * as resourceWriter from './writer.js';
