-- Hand-written (drizzle-kit generate --custom): behaviour the schema DSL cannot express.

-- updated_at follows every UPDATE, whichever tool issues it.
CREATE OR REPLACE FUNCTION offbase_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW IS DISTINCT FROM OLD THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION offbase_set_updated_at();
--> statement-breakpoint
CREATE TRIGGER documents_set_updated_at BEFORE UPDATE ON documents
  FOR EACH ROW EXECUTE FUNCTION offbase_set_updated_at();
--> statement-breakpoint
CREATE TRIGGER analyses_set_updated_at BEFORE UPDATE ON analyses
  FOR EACH ROW EXECUTE FUNCTION offbase_set_updated_at();
--> statement-breakpoint

-- documents.analysis_count counts the document's analyses, including moves between documents.
CREATE OR REPLACE FUNCTION offbase_count_analyses() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE documents SET analysis_count = analysis_count + 1 WHERE id = NEW.document_id;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE documents SET analysis_count = analysis_count - 1 WHERE id = OLD.document_id;
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER analyses_count_insert_delete AFTER INSERT OR DELETE ON analyses
  FOR EACH ROW EXECUTE FUNCTION offbase_count_analyses();
--> statement-breakpoint
CREATE TRIGGER analyses_count_move AFTER UPDATE OF document_id ON analyses
  FOR EACH ROW WHEN (OLD.document_id IS DISTINCT FROM NEW.document_id)
  EXECUTE FUNCTION offbase_count_analyses();
--> statement-breakpoint

-- The audit trail is append-only for every role that does not own the trigger machinery.
CREATE OR REPLACE FUNCTION offbase_audit_logs_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER audit_logs_no_update_delete BEFORE UPDATE OR DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION offbase_audit_logs_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
  FOR EACH STATEMENT EXECUTE FUNCTION offbase_audit_logs_append_only();
