import { Type, type Static } from '@sinclair/typebox';
import { ANALYSIS_KINDS, ANALYSIS_STATUSES } from '../../db/schema/index.js';
import { Nullable, Timestamp, Uuid } from '../../lib/http-schemas.js';
import { JsonValue } from '../../lib/json-depth.js';

const Kind = Type.Union(ANALYSIS_KINDS.map((k) => Type.Literal(k)));
const Status = Type.Union(ANALYSIS_STATUSES.map((s) => Type.Literal(s)));
const NoNul = (max: number) => Type.String({ maxLength: max, pattern: '^[^\\u0000]*$' });

/** numeric(14, 6): up to 8 integer digits and 6 decimals, stored exactly. */
export const COST_PATTERN = '^\\d{1,8}(\\.\\d{1,6})?$';
// A decimal string keeps every digit; a JSON number is accepted when its shortest form fits.
// The pattern is checked in code (service.ts): in the schema, a string failing it would fall
// through to the number branch, which type coercion would happily satisfy ("" → 0).
const Cost = Type.Unsafe<string | number | null>({
  type: ['string', 'number', 'null'],
  maxLength: 32,
  description: `a decimal string or number matching ${COST_PATTERN}`,
});

const writable = {
  kind: Kind,
  model: Nullable(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' })),
  status: Status,
  result: JsonValue(),
  error: Nullable(NoNul(10_000)),
  tokens_used: Nullable(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  cost_usd: Cost,
  duration_ms: Nullable(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
};

export const AnalysisCreate = Type.Object(
  {
    kind: writable.kind,
    model: Type.Optional(writable.model),
    status: Type.Optional(writable.status),
    result: Type.Optional(writable.result),
    error: Type.Optional(writable.error),
    tokens_used: Type.Optional(writable.tokens_used),
    cost_usd: Type.Optional(writable.cost_usd),
    duration_ms: Type.Optional(writable.duration_ms),
  },
  { additionalProperties: false },
);
export type AnalysisCreate = Static<typeof AnalysisCreate>;

export const AnalysisPatch = Type.Partial(Type.Object(writable), { additionalProperties: false, minProperties: 1 });
export type AnalysisPatch = Static<typeof AnalysisPatch>;

export const Analysis = Type.Object({
  id: Uuid,
  document_id: Uuid,
  owner_id: Uuid,
  kind: Kind,
  model: Nullable(Type.String()),
  status: Status,
  result: Type.Unknown(),
  error: Nullable(Type.String()),
  tokens_used: Nullable(Type.Integer()),
  cost_usd: Nullable(Type.String({ description: 'Exact decimal, as a string (numeric(14,6))' })),
  duration_ms: Nullable(Type.Integer()),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const ListQuery = Type.Object(
  {
    sort: Type.Optional(Type.Union([Type.Literal('created_at'), Type.Literal('-created_at')], { default: '-created_at' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 4096 })),
    status: Type.Optional(Status),
    kind: Type.Optional(Kind),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;
export const ListResponse = Type.Object({ data: Type.Array(Analysis), next_cursor: Nullable(Type.String()) });
