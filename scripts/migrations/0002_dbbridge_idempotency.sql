-- Idempotent requests (issue 8 §2): the adapter records each write's idempotency key, a digest of the
-- request and its reply in the write's own transaction, so a redelivered or retried request gets the
-- recorded reply instead of running again. Rows older than DBBRIDGE_IDEMPOTENCY_RETENTION_MS are
-- pruned by the adapter in the background. scripts/migrate.ts runs the file in one transaction.

CREATE TABLE IF NOT EXISTS dbbridge_idempotency (
  key text PRIMARY KEY,
  -- sha256 (hex) of the request's canonical content: a key reused with other content is refused.
  digest text NOT NULL,
  -- The completed reply's payload; NULL only inside the transaction that is recording it.
  reply jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS dbbridge_idempotency_created_at ON dbbridge_idempotency (created_at);

-- The adapter's login role (scripts/stack/roles.ts) reads, records and prunes; other deployments
-- grant the same to their adapter role.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dbbridge_adapter') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON dbbridge_idempotency TO dbbridge_adapter;
  END IF;
END
$$;
