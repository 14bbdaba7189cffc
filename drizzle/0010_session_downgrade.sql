-- Hand-written (drizzle-kit generate --custom): a session's aal2 rests on what raised it, as in
-- GoTrue (Factor.DowngradeSessionsToAAL1). When the factor that raised a session (its
-- factor_id, 0009) is removed, or stops counting for its user (unverified again, moved), the
-- session goes back to aal1; when the user has no verified factor left (MFA off), every aal2
-- session of the user does, including those a recovery code raised. Without this, a session
-- raised by a factor the user has since removed kept aal2, and stayed aal2 through a new
-- factor's enrolment (which ends only the aal1 sessions), so it never had to pass the new one.
-- Triggers, so every writer of mfa_factors (unenrol, admin removal, account deletion, the
-- importer, psql) keeps sessions right; the per-request session check reads sessions.aal, so a
-- downgrade counts on the very next request in every task.

-- A session's amr without its second-factor entries, in order. A value that is not an array
-- (never written by offbase) is left as it is rather than failing the factor's removal.
CREATE OR REPLACE FUNCTION offbase_amr_without_mfa(amr jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(amr) IS DISTINCT FROM 'array' THEN amr ELSE (
    SELECT coalesce(jsonb_agg(x.e ORDER BY x.n), '[]'::jsonb)
      FROM jsonb_array_elements(amr) WITH ORDINALITY AS x(e, n)
     WHERE x.e->>'method' IS DISTINCT FROM 'totp' AND x.e->>'method' IS DISTINCT FROM 'recovery_code') END
$$;
--> statement-breakpoint
-- BEFORE the row changes: the foreign key's ON DELETE SET NULL (an AFTER trigger) would
-- otherwise clear factor_id first and hide which sessions the factor raised.
CREATE OR REPLACE FUNCTION offbase_mfa_factor_sessions_downgrade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sessions SET aal = 'aal1', factor_id = NULL, amr = offbase_amr_without_mfa(amr)
   WHERE factor_id = OLD.id;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER mfa_factors_sessions_downgrade_delete BEFORE DELETE ON mfa_factors
  FOR EACH ROW WHEN (OLD.status = 'verified')
  EXECUTE FUNCTION offbase_mfa_factor_sessions_downgrade();
--> statement-breakpoint
CREATE TRIGGER mfa_factors_sessions_downgrade_update BEFORE UPDATE OF status, user_id ON mfa_factors
  FOR EACH ROW WHEN (OLD.status = 'verified' AND (NEW.status IS DISTINCT FROM 'verified' OR NEW.user_id IS DISTINCT FROM OLD.user_id))
  EXECUTE FUNCTION offbase_mfa_factor_sessions_downgrade();
--> statement-breakpoint
-- 0008's flag refresh, unchanged in its two steps (see there for why), plus the MFA-off rule:
-- once no verified factor is left, no session of the user stays aal2. The users row is
-- already locked here, so this runs after every factor change of the user that committed
-- before. A users row this transaction deleted is not found: enabled stays NULL, nothing to do
-- (its sessions go with it).
CREATE OR REPLACE FUNCTION offbase_refresh_mfa_enabled(uid uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  enabled boolean;
BEGIN
  PERFORM 1 FROM users WHERE id = uid FOR NO KEY UPDATE;
  UPDATE users SET mfa_enabled = EXISTS (SELECT 1 FROM mfa_factors WHERE user_id = uid AND status = 'verified')
   WHERE id = uid
   RETURNING mfa_enabled INTO enabled;
  IF enabled = false THEN
    UPDATE sessions SET aal = 'aal1', factor_id = NULL, amr = offbase_amr_without_mfa(amr)
     WHERE user_id = uid AND aal = 'aal2';
  END IF;
END;
$$;
--> statement-breakpoint
-- Sessions raised before this migration name no factor. Those of a user without MFA any more
-- go back to aal1 now; those of a user with exactly one verified factor were raised by it (or
-- by a recovery code, which goes with the last factor anyway) and are tied to it. A user with
-- several factors keeps such sessions at aal2 until MFA goes off. After the triggers, so no
-- factor change falls between (CREATE TRIGGER holds mfa_factors until this commits).
UPDATE sessions s SET aal = 'aal1', amr = offbase_amr_without_mfa(s.amr)
 WHERE s.aal = 'aal2' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.mfa_enabled);
--> statement-breakpoint
UPDATE sessions s SET factor_id = f.id
  FROM (SELECT user_id, (array_agg(id))[1] AS id FROM mfa_factors WHERE status = 'verified' GROUP BY user_id HAVING count(*) = 1) f
 WHERE s.user_id = f.user_id AND s.aal = 'aal2' AND s.factor_id IS NULL;
