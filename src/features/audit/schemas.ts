import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Timestamp, Uuid } from '../../lib/http-schemas.js';

export const AuditQuery = Type.Object(
  {
    entity_type: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000]*$' })),
    entity_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000]*$' })),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
    actor_id: Type.Optional(Uuid),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;

export const AuditLog = Type.Object({
  id: Type.Integer(),
  actor_id: Nullable(Uuid),
  action: Type.String(),
  entity_type: Type.String(),
  entity_id: Nullable(Type.String()),
  request_id: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  changes: Nullable(Type.Record(Type.String(), Type.Unknown())),
  created_at: Timestamp,
});
export const AuditListResponse = Type.Object({ data: Type.Array(AuditLog), next_cursor: Nullable(Type.String()) });
