import { Type, type Static } from '@sinclair/typebox';
import { DOCUMENT_STATUSES } from '../../db/schema/index.js';
import { Nullable, Timestamp, Uuid } from '../../lib/http-schemas.js';
import { JsonObject } from '../../lib/json-depth.js';

export const CONTENT_TEXT_MAX_BYTES = 1_048_576;
export const BATCH_MAX = 1000;
export const MiB = 1_048_576;

const Status = Type.Union(DOCUMENT_STATUSES.map((s) => Type.Literal(s)));
// NUL cannot be stored in PostgreSQL text: reject it here instead of failing in the database.
const Text = (min: number, max: number) => Type.String({ minLength: min, maxLength: max, pattern: '^[^\\u0000]*$' });

const writable = {
  title: Text(1, 500),
  description: Nullable(Text(0, 10_000)),
  status: Status,
  s3_bucket: Text(1, 255),
  s3_key: Text(1, 1024),
  content_type: Nullable(Text(1, 255)),
  size_bytes: Nullable(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  sha256: Nullable(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
  // Bounded in bytes (1 MiB of UTF-8) by the route; this only stops absurd inputs early.
  content_text: Nullable(Type.String({ maxLength: CONTENT_TEXT_MAX_BYTES, pattern: '^[^\\u0000]*$' })),
  tags: Type.Array(Text(1, 100), { maxItems: 100, uniqueItems: true }),
  metadata: JsonObject(),
};

export const DocumentCreate = Type.Object(
  {
    title: writable.title,
    s3_bucket: writable.s3_bucket,
    s3_key: writable.s3_key,
    description: Type.Optional(writable.description),
    status: Type.Optional(writable.status),
    content_type: Type.Optional(writable.content_type),
    size_bytes: Type.Optional(writable.size_bytes),
    sha256: Type.Optional(writable.sha256),
    content_text: Type.Optional(writable.content_text),
    tags: Type.Optional(writable.tags),
    metadata: Type.Optional(writable.metadata),
  },
  { additionalProperties: false },
);
export type DocumentCreate = Static<typeof DocumentCreate>;

export const DocumentPatch = Type.Partial(Type.Object(writable), { additionalProperties: false, minProperties: 1 });
export type DocumentPatch = Static<typeof DocumentPatch>;

export const BatchBody = Type.Object(
  { documents: Type.Array(DocumentCreate, { minItems: 1, maxItems: BATCH_MAX }) },
  { additionalProperties: false },
);

const documentFields = {
  id: Uuid,
  owner_id: Uuid,
  title: Type.String(),
  description: Nullable(Type.String()),
  status: Status,
  s3_bucket: Type.String(),
  s3_key: Type.String(),
  content_type: Nullable(Type.String()),
  size_bytes: Nullable(Type.Integer()),
  sha256: Nullable(Type.String()),
  tags: Type.Array(Type.String()),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  analysis_count: Type.Integer(),
  created_at: Timestamp,
  updated_at: Timestamp,
};
export const Document = Type.Object(documentFields);
export const DocumentWithContent = Type.Object({ ...documentFields, content_text: Nullable(Type.String()) });
export type DocumentOut = Static<typeof DocumentWithContent>;

export const SORT_KEYS = ['created_at', '-created_at', 'updated_at', '-updated_at', 'title', '-title'] as const;

const listFilters = {
  status: Type.Optional(Status),
  // Repeat for several: ?tag=a&tag=b matches documents carrying all of them.
  tag: Type.Optional(Type.Array(Text(1, 100), { maxItems: 20 })),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  owner_id: Type.Optional(Uuid),
};
export const ListQuery = Type.Object(
  {
    ...listFilters,
    sort: Type.Optional(Type.Union(SORT_KEYS.map((k) => Type.Literal(k)), { default: '-created_at' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 4096 })),
    count: Type.Optional(Type.Literal('exact')),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;
export const CountQuery = Type.Object(listFilters, { additionalProperties: false });
export type ListFilters = Static<typeof CountQuery>;

export const ListResponse = Type.Object({
  data: Type.Array(Document),
  next_cursor: Nullable(Type.String()),
  total: Type.Optional(Type.Integer()),
});
export const CountResponse = Type.Object({ count: Type.Integer() });

export const SearchQuery = Type.Object(
  {
    q: Type.String({ minLength: 1, maxLength: 500, pattern: '^[^\\u0000]*$' }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    status: Type.Optional(Status),
    owner_id: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
export type SearchQuery = Static<typeof SearchQuery>;
export const SearchResponse = Type.Object({
  data: Type.Array(Type.Object({ ...documentFields, rank: Type.Number(), snippet: Type.String() })),
});

export const BatchResponse = Type.Object({ data: Type.Array(Document) });

export const IfMatchHeaders = Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 1024 })) });
export const IfNoneMatchHeaders = Type.Object({ 'if-none-match': Type.Optional(Type.String({ maxLength: 1024 })) });
