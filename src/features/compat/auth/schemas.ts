import { Type, type TSchema } from '@sinclair/typebox';
import { JsonObject } from '../../../lib/json-depth.js';
import { WellFormedText } from '../../../lib/http-schemas.js';
import { Email, sessionViewOf } from '../../auth/schemas.js';

// Bodies auth-js sends and the replies it reads. Fields auth-js adds on its own
// (gotrue_meta_security, code_challenge...) are accepted and ignored; anything else is 400.

const strict = { additionalProperties: false } as const;
const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const Metadata = JsonObject({ maxProperties: 100 });
const Ignored = Type.Optional(Type.Unknown());
const clientExtras = {
  gotrue_meta_security: Ignored,
  code_challenge: Ignored,
  code_challenge_method: Ignored,
};

export const SignupBody = Type.Object({ email: Email, password: Password, data: Type.Optional(Metadata), ...clientExtras }, strict);

export const TokenQuery = Type.Object({
  grant_type: Type.String({ maxLength: 50 }),
  apikey: Type.Optional(Type.String()),
});
// One body schema for both grants; the route checks which fields the grant needs.
export const TokenBody = Type.Object(
  {
    email: Type.Optional(Email),
    password: Type.Optional(Password),
    refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    phone: Type.Optional(Type.String({ maxLength: 50 })),
    ...clientExtras,
  },
  strict,
);

export const LogoutQuery = Type.Object({
  scope: Type.Optional(Type.Union([Type.Literal('global'), Type.Literal('local'), Type.Literal('others')], { default: 'global' })),
  apikey: Type.Optional(Type.String()),
});

export const UpdateUserBody = Type.Object(
  {
    data: Type.Optional(Metadata),
    password: Type.Optional(Password),
    email: Type.Optional(Email),
    phone: Type.Optional(Type.String({ maxLength: 50 })),
    nonce: Type.Optional(Type.String({ maxLength: 100 })),
    ...clientExtras,
  },
  strict,
);

export const RecoverBody = Type.Object({ email: Email, ...clientExtras }, strict);

export const VerifyBody = Type.Object(
  {
    type: Type.Union(['signup', 'email', 'recovery', 'invite', 'magiclink', 'email_change'].map((t) => Type.Literal(t))),
    token_hash: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    email: Type.Optional(Email),
    redirect_to: Ignored,
    ...clientExtras,
  },
  strict,
);


export const FactorView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  friendly_name: Type.String(),
  factor_type: Type.String(),
  status: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const EnrollBody = Type.Object(
  { factor_type: Type.String({ maxLength: 20 }), friendly_name: Type.Optional(WellFormedText({ maxLength: 100 })), issuer: Type.Optional(WellFormedText({ maxLength: 100 })), phone: Type.Optional(Type.String({ maxLength: 50 })) },
  strict,
);
export const EnrollView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.Literal('totp'),
  friendly_name: Type.String(),
  totp: Type.Object({ qr_code: Type.String(), secret: Type.String(), uri: Type.String() }),
});
export const FactorParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
// auth-js sends its own params object ({ factorId, channel? }) as the challenge body: accepted, ignored.
export const ChallengeBody = Type.Union([Type.Record(Type.String({ maxLength: 50 }), Type.Unknown(), { maxProperties: 10 }), Type.Null()]);
export const ChallengeView = Type.Object({ id: Type.String({ format: 'uuid' }), type: Type.Literal('totp'), expires_at: Type.Integer() });
export const MfaVerifyBody = Type.Object({ challenge_id: Type.String({ format: 'uuid' }), code: Type.String({ minLength: 1, maxLength: 12 }) }, strict);
export const UnenrollView = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const UserView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  aud: Type.String(),
  role: Type.String(),
  email: Type.String(),
  email_confirmed_at: NullableTimestamp,
  confirmed_at: NullableTimestamp,
  phone: Type.String(),
  last_sign_in_at: NullableTimestamp,
  app_metadata: Type.Object({ provider: Type.String(), providers: Type.Array(Type.String()), role: Type.String() }),
  user_metadata: Type.Record(Type.String(), Type.Unknown()),
  identities: Type.Array(Type.Unknown()),
  created_at: Timestamp,
  updated_at: Timestamp,
  is_anonymous: Type.Boolean(),
  factors: Type.Optional(Type.Array(FactorView)),
});

export const SessionView = sessionViewOf(UserView);

export const SettingsView = Type.Object({
  external: Type.Record(Type.String(), Type.Boolean()),
  disable_signup: Type.Boolean(),
  mailer_autoconfirm: Type.Boolean(),
  phone_autoconfirm: Type.Boolean(),
  sms_provider: Type.String(),
  saml_enabled: Type.Boolean(),
  anonymous_users: Type.Boolean(),
});

export const HealthView = Type.Object({ version: Type.String(), name: Type.String(), description: Type.String() });

export const ErrorView = Type.Object({
  code: Type.Integer(),
  error_code: Type.String(),
  msg: Type.String(),
  weak_password: Type.Optional(Type.Object({ reasons: Type.Array(Type.String()) })),
});

/** Every error status an /auth/v1 route can answer with. */
export const goTrueErrorResponses: Record<number, TSchema> = Object.fromEntries(
  [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503].map((s) => [s, ErrorView]),
);
export const Empty = Type.Object({});
