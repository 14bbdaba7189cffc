-- Hand-written (drizzle-kit generate --custom): the schema DSL cannot create extensions.
-- btree_gin gives GIN an operator class for uuid, so the next migration's search index can
-- lead with owner_id and an owner's search reads only that owner's postings. It is a
-- trusted extension (PostgreSQL 13+): the migration role needs CREATE on the database,
-- which src/db/roles.ts grants; it ships with RDS for PostgreSQL and the embedded binaries.
CREATE EXTENSION IF NOT EXISTS btree_gin;
