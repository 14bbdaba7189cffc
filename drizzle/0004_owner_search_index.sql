DROP INDEX "documents_search_idx";--> statement-breakpoint
CREATE INDEX "documents_owner_search_idx" ON "documents" USING gin ("owner_id","search");