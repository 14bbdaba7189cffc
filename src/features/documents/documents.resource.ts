import { documents } from '../../db/schema/index.js';
import { defineResource } from '../../resources/index.js';
import { assertContentBytes, checkContentBytes, conflict, DOCUMENT_AUDIT } from './audit.js';
import { etagSql } from './queries.js';
import { DocumentCreate, DocumentPatch, DocumentWithContent } from './schemas.js';
import { createDocuments, insertIgnoringDuplicates, mergeDocuments } from './writes.js';

// The documents table, declared once. Its native routes are the feature's own (routes.ts:
// ETags, batch, upsert, search), and write through the resource writer; /rest/v1/documents
// comes from this declaration alone.
export const documentsResource = defineResource({
  name: 'documents',
  entity: 'document',
  table: documents,
  owner: 'owner_id',
  // The generated tsvector is not a readable column; /rest/v1's full-text operators may use it.
  hidden: ['search'],
  restFilterOnly: ['search'],
  writable: ['title', 'description', 'status', 's3_bucket', 's3_key', 'content_type', 'size_bytes', 'sha256', 'content_text', 'tags', 'metadata'],
  // content_text is no list filter (a 1 MB body); search has its own endpoint.
  filterable: ['owner_id', 'title', 'description', 'status', 's3_bucket', 's3_key', 'content_type', 'size_bytes', 'sha256', 'tags', 'metadata', 'analysis_count', 'created_at', 'updated_at'],
  sortable: ['title', 'created_at', 'updated_at'],
  relations: { analyses: { target: 'analyses', cardinality: 'many', localKey: 'id', targetKey: 'document_id' } },
  clientIds: true,
  computed: { etag: etagSql },
  schemas: { create: DocumentCreate, patch: DocumentPatch, row: DocumentWithContent },
  prepare(values) {
    assertContentBytes(values.content_text as string | null | undefined);
    return values;
  },
  checks: [{ constraint: 'documents_content_text_check', test: (row) => checkContentBytes(row.content_text as string | null | undefined) }],
  conflict: (row) => conflict(row.s3_bucket as string, row.s3_key as string),
  audit: DOCUMENT_AUDIT,
  writes: {
    createMany: (ctx, rows) => createDocuments(ctx, rows as DocumentCreate[]),
    upsert: { targets: [['s3_bucket', 's3_key']], merge: mergeDocuments, ignoreDuplicates: insertIgnoringDuplicates },
  },
  nativeRoutes: false,
});
