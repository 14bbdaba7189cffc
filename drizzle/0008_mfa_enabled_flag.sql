-- Hand-written (drizzle-kit generate --custom): users.mfa_enabled (0007) is true exactly when
-- the user has a verified factor. Triggers on mfa_factors keep it so for every writer (verify,
-- unenroll, admin removal, account deletion, the Supabase importer, pruning, psql), so the
-- per-request session check reads the flag on the users row it already reads.

-- Recomputes one user's flag. Two statements on purpose:
--   1. lock the users row (FOR NO KEY UPDATE: it does not conflict with the FOR KEY SHARE the
--      mfa_factors foreign key takes, so two inserts for one user do not deadlock), held until
--      the transaction ends: every transaction that changed the user's verified factors takes it
--      after its change, so the last one to take it is the last to write the flag;
--   2. recompute from mfa_factors. In READ COMMITTED each statement of a plpgsql function runs
--      on a fresh snapshot, taken after the lock was granted, so it sees every factor change of
--      the transactions that held the lock before (they have committed). A single
--      `update ... set mfa_enabled = exists (...)` would evaluate the EXISTS on the snapshot
--      taken before it waited for the row and could write a stale value.
-- The row is written even when the value does not change: under REPEATABLE READ or SERIALIZABLE
-- the transaction keeps its first snapshot, and a concurrent transaction that changed the
-- user's verified factors and committed then makes step 1 fail with a serialization error
-- (40001) instead of recomputing from the old snapshot. (users_set_updated_at leaves
-- updated_at alone when nothing changed.) A users row the transaction deleted is not found
-- (a cascade from deleting the user): nothing to keep.
-- Lock order: a factor row, then its user. A transaction that locks the user first and then
-- deletes factors (account deletion, lockUser) can deadlock with an unenrol or a verify of the
-- same account in flight; PostgreSQL aborts one of the two (40P01), the other completes.
CREATE OR REPLACE FUNCTION offbase_refresh_mfa_enabled(uid uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM users WHERE id = uid FOR NO KEY UPDATE;
  UPDATE users SET mfa_enabled = EXISTS (SELECT 1 FROM mfa_factors WHERE user_id = uid AND status = 'verified')
   WHERE id = uid;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION offbase_mfa_factors_flag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM offbase_refresh_mfa_enabled(NEW.user_id);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM offbase_refresh_mfa_enabled(OLD.user_id);
  ELSIF OLD.user_id = NEW.user_id THEN
    PERFORM offbase_refresh_mfa_enabled(NEW.user_id);
  ELSE
    -- A factor moved between users: both, in one order, so two such moves cannot deadlock.
    PERFORM offbase_refresh_mfa_enabled(least(OLD.user_id, NEW.user_id));
    PERFORM offbase_refresh_mfa_enabled(greatest(OLD.user_id, NEW.user_id));
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
-- Only changes that can change the answer fire: a verified factor added or removed, a status
-- change into or out of 'verified', a verified factor changing owner. Enrolling an unverified
-- factor and recording a code's time step (last_used_step) touch no users row.
CREATE TRIGGER mfa_factors_mfa_enabled_insert AFTER INSERT ON mfa_factors
  FOR EACH ROW WHEN (NEW.status = 'verified')
  EXECUTE FUNCTION offbase_mfa_factors_flag();
--> statement-breakpoint
CREATE TRIGGER mfa_factors_mfa_enabled_delete AFTER DELETE ON mfa_factors
  FOR EACH ROW WHEN (OLD.status = 'verified')
  EXECUTE FUNCTION offbase_mfa_factors_flag();
--> statement-breakpoint
CREATE TRIGGER mfa_factors_mfa_enabled_update AFTER UPDATE OF status, user_id ON mfa_factors
  FOR EACH ROW WHEN (
    (OLD.status = 'verified') IS DISTINCT FROM (NEW.status = 'verified')
    OR (OLD.user_id IS DISTINCT FROM NEW.user_id AND (OLD.status = 'verified' OR NEW.status = 'verified'))
  )
  EXECUTE FUNCTION offbase_mfa_factors_flag();
--> statement-breakpoint
-- The backfill, after the triggers: CREATE TRIGGER holds a lock on mfa_factors that no writer
-- passes until this migration commits, so no factor change can fall between the two.
UPDATE users u SET mfa_enabled = true
 WHERE EXISTS (SELECT 1 FROM mfa_factors f WHERE f.user_id = u.id AND f.status = 'verified');
