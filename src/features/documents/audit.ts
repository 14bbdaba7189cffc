import type { Actor } from '../../context/index.js';
import { AppError } from '../../errors/app-error.js';
import { auditViewOf, type AuditViewSpec } from '../audit/in-statement.js';
import type { AuditEntry } from '../audit/record.js';
import type { FullDocumentRow } from './queries.js';
import { CONTENT_TEXT_MAX_BYTES } from './schemas.js';

// What every documents write path shares: the byte limit of content_text, what the audit
// trail keeps of a document, and the conflict on (owner, s3_bucket, s3_key).

/** 1 MiB of UTF-8 is the limit (and a database CHECK); schema maxLength counts characters. */
export function checkContentBytes(content: string | null | undefined, field = 'content_text'): string | null {
  if (content != null && Buffer.byteLength(content, 'utf8') > CONTENT_TEXT_MAX_BYTES) return `${field} must be at most ${CONTENT_TEXT_MAX_BYTES} bytes of UTF-8`;
  return null;
}

export function assertContentBytes(content: string | null | undefined) {
  const problem = checkContentBytes(content);
  if (problem) throw new AppError('validation_failed', { message: problem, details: [{ field: 'body.content_text', message: problem }] });
}

// What the trail keeps of a document: every field, except the extracted text, which is
// summarised (size and hash) so a 1 MB body is not copied into every audit row.
export const DOCUMENT_AUDIT: AuditViewSpec = { omit: ['id', 'etag', 'created_at', 'updated_at', 'analysis_count'], digest: ['content_text'] };
export type AuditView = Record<string, unknown>;
export const auditView: (row: Partial<FullDocumentRow>) => AuditView = auditViewOf(DOCUMENT_AUDIT);
export const created = (row: FullDocumentRow) => Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: null, after: v }]));
export const removed = (row: FullDocumentRow) => Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: v, after: null }]));

export const entry = (actor: Actor, action: string, id: string, changes: Record<string, unknown>): AuditEntry => ({
  actor_id: actor.id,
  action,
  entity_type: 'document',
  entity_id: id,
  changes,
});

export const conflict = (bucket: string, key: string, index?: number) =>
  new AppError('conflict', { message: 'A document with this s3_bucket and s3_key already exists.', details: [
    { field: 's3_key', message: `${bucket}/${key} already exists`, ...(index === undefined ? {} : { index }) },
  ] });

