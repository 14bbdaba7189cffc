-- Hand-written (drizzle-kit generate --custom): users.mfa_enabled, which the per-request session
-- check reads to require a second factor, is written only by offbase_refresh_mfa_enabled, from
-- the triggers on mfa_factors (0008). Since this migration the app role may update every column
-- of users but that one (src/db/roles.ts, granted after every migration run), so a bug or an
-- injected statement in the API cannot switch a user's MFA off. The triggers fire as whoever
-- changed the factor (the app role), so the function now runs with its owner's rights (the
-- migrate role, which owns users), with its search path pinned: it names users and mfa_factors
-- unqualified, and nothing another role puts first on a path may stand in for them. It only
-- ever recomputes the flag from the factors, so calling it directly grants nothing.
ALTER FUNCTION offbase_refresh_mfa_enabled(uuid) SECURITY DEFINER SET search_path = public, pg_temp;
