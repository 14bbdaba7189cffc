import { Type, type Static } from '@sinclair/typebox';
import type { User } from '../../db/schema/index.js';
import { Nullable, Timestamp } from '../../lib/http-schemas.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import { UserView, toUserView } from '../auth/schemas.js';

const Role = Type.Union([Type.Literal('user'), Type.Literal('admin')]);

export const AdminUserView = Type.Composite([
  UserView,
  Type.Object({
    disabled: Type.Boolean(),
    disabled_at: Nullable(Timestamp),
    email_verified_at: Nullable(Timestamp),
    metadata: Type.Record(Type.String(), Type.Unknown()),
  }),
]);

export const UserList = Type.Object({ data: Type.Array(AdminUserView), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const ListQuery = Type.Object(
  {
    email: Type.Optional(Type.String({ maxLength: 320 })),
    role: Type.Optional(Role),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const UserParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const AdminPatchBody = Type.Object({ role: Type.Optional(Role), disabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false, minProperties: 1 });

export const toAdminUserView = (u: User): Static<typeof AdminUserView> => ({
  ...toUserView(u),
  disabled: u.disabled_at !== null,
  disabled_at: apiTimestamp(u.disabled_at),
  email_verified_at: apiTimestamp(u.email_verified_at),
  metadata: u.metadata,
});
