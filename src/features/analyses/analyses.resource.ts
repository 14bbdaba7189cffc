import { analyses } from '../../db/schema/index.js';
import { AppError } from '../../errors/app-error.js';
import { defineResource, type Row } from '../../resources/index.js';
import { documentsResource } from '../documents/documents.resource.js';
import { Analysis, AnalysisCreate, AnalysisPatch, COST_PATTERN } from './schemas.js';

// The analyses table, declared once. Ownership flows from the document: an analysis is
// created only on a document the caller may see, and belongs to that document's owner (also
// when an admin creates it); its document never changes. The nested native routes are the
// feature's own (routes.ts); /rest/v1/analyses comes from this declaration alone.

const COST = new RegExp(COST_PATTERN);

/** cost_usd as the exact decimal string stored in numeric(14,6); 400 when it cannot be exact. */
function cost(value: string | number | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  const text = typeof value === 'number' ? String(value) : value;
  if (!COST.test(text)) {
    throw new AppError('validation_failed', { message: 'cost_usd must be a decimal with up to 8 integer digits and 6 decimals.', details: [
      { field: 'body.cost_usd', message: 'must be a decimal with up to 8 integer digits and 6 decimals' },
    ] });
  }
  return text;
}

function values(input: Row): Row {
  const { cost_usd, ...rest } = input as { cost_usd?: string | number | null };
  return { ...rest, ...(cost_usd === undefined ? {} : { cost_usd: cost(cost_usd) }) };
}

export const analysesResource = defineResource({
  name: 'analyses',
  entity: 'analysis',
  table: analyses,
  owner: 'owner_id',
  parent: { resource: documentsResource, key: 'document_id' },
  writable: ['kind', 'model', 'status', 'result', 'error', 'tokens_used', 'cost_usd', 'duration_ms'],
  filterable: ['document_id', 'owner_id', 'kind', 'model', 'status', 'tokens_used', 'cost_usd', 'duration_ms', 'created_at', 'updated_at'],
  sortable: ['created_at', 'updated_at'],
  relations: { documents: { target: 'documents', cardinality: 'one', localKey: 'document_id', targetKey: 'id' } },
  schemas: { create: AnalysisCreate, patch: AnalysisPatch, row: Analysis },
  prepare: values,
  nativeRoutes: false,
});
