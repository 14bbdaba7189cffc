-- Hand-written (drizzle-kit generate --custom): the schema DSL has no storage parameters.
-- Ranking reads the tsvector of every match (ts_rank), a few KB per document. Stored out of
-- line in the TOAST table, each match cost a TOAST index lookup and chunk fetches: most of a
-- search for a common word. Kept in the row (storage MAIN) with a row target of about half a
-- page, the vector is read with the row; content_text, the larger value, is still the first
-- moved out of line. Both are catalog changes (no rewrite, no long lock): rows take the new
-- layout when they are next written. docs/operations.md says how to rewrite existing rows.
ALTER TABLE "documents" SET (toast_tuple_target = 4080);
--> statement-breakpoint
ALTER TABLE "documents" ALTER COLUMN "search" SET STORAGE MAIN;
