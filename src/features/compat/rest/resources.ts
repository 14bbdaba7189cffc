import type { TSchema } from '@sinclair/typebox';
import { getTableColumns, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { DbOrTx } from '../../../db/client.js';
import { analyses, documents } from '../../../db/schema/index.js';
import type { Actor } from '../../../context/index.js';
import type { ColumnSpec, ColumnType, RowsQuery, TableSpec } from '../../../query/index.js';
import { analysisMatches, analysisTable, countAnalysisRows, selectAnalysisRows } from '../../analyses/queries.js';
import { AnalysisCreate, AnalysisPatch } from '../../analyses/schemas.js';
import { countDocumentRows, documentMatches, documentTable, selectDocumentRows } from '../../documents/queries.js';
import { DocumentCreate, DocumentPatch } from '../../documents/schemas.js';

// The tables /rest/v1 serves, as allowlists over the data API's own table specs and queries.
// Nothing here reads or writes by itself: every statement is one of documents/ or analyses/.

export type ResourceName = 'documents' | 'analyses';

export interface Relationship {
  target: ResourceName;
  /** many: the target's rows point at this row (documents → analyses); one: this row points at the target. */
  cardinality: 'many' | 'one';
  /** This table's column holding the join value, and the target's. */
  localKey: string;
  targetKey: string;
}

export interface Resource {
  name: ResourceName;
  /** Filter and sort allowlist (the query module compiles it). */
  spec: TableSpec;
  /** Selectable columns, in `*` order. */
  columns: Record<string, PgColumn>;
  embeds: Record<string, Relationship>;
  /** Columns that exist but are kept by the database or by offbase: a body may not set them. */
  readOnly: string[];
  create: TSchema;
  patch: TSchema;
  select(db: DbOrTx, actor: Actor, rows: RowsQuery): Promise<Record<string, unknown>[]>;
  count(db: DbOrTx, actor: Actor, where?: SQL): Promise<number>;
  /** `<this>!inner(<other>)` seen from the other side: "has a visible related row matching". */
  matchedBy(actor: Actor, where?: SQL): SQL;
}

// PostgREST orders by any column; the REST allowlist does too, for every scalar type.
const SORTABLE: ColumnType[] = ['uuid', 'text', 'integer', 'bigint', 'numeric', 'timestamptz', 'boolean'];

function restSpec(base: TableSpec, extra: Record<string, ColumnSpec>): TableSpec {
  const columns = Object.fromEntries(
    Object.entries({ ...base.columns, ...extra }).map(([name, spec]) => [name, { ...spec, filterable: true, sortable: SORTABLE.includes(spec.type) }]),
  );
  return { ...base, columns };
}

const { search: _search, ...documentColumns } = getTableColumns(documents);

const documentsResource: Resource = {
  name: 'documents',
  // content_text is filterable here (PostgREST exposes every column); `search` is the
  // generated tsvector, for the full-text operators only.
  spec: restSpec(documentTable, {
    content_text: { column: documents.content_text, type: 'text', nullable: true },
    search: { column: documents.search, type: 'tsvector', nullable: true },
  }),
  columns: documentColumns,
  embeds: { analyses: { target: 'analyses', cardinality: 'many', localKey: 'id', targetKey: 'document_id' } },
  readOnly: ['analysis_count', 'created_at', 'updated_at', 'search'],
  create: DocumentCreate,
  patch: DocumentPatch,
  select: selectDocumentRows,
  count: countDocumentRows,
  // Used when analyses embed their document with !inner.
  matchedBy: documentMatches,
};

const analysesResource: Resource = {
  name: 'analyses',
  spec: restSpec(analysisTable, {
    result: { column: analyses.result, type: 'jsonb', nullable: true },
    error: { column: analyses.error, type: 'text', nullable: true },
  }),
  columns: getTableColumns(analyses),
  embeds: { documents: { target: 'documents', cardinality: 'one', localKey: 'document_id', targetKey: 'id' } },
  readOnly: ['created_at', 'updated_at'],
  create: AnalysisCreate,
  patch: AnalysisPatch,
  select: selectAnalysisRows,
  count: countAnalysisRows,
  matchedBy: analysisMatches,
};

export const RESOURCES: Record<ResourceName, Resource> = { documents: documentsResource, analyses: analysesResource };

export const resourceOf = (name: string): Resource | undefined => (Object.hasOwn(RESOURCES, name) ? RESOURCES[name as ResourceName] : undefined);
