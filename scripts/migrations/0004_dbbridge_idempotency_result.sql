-- Recorded writes in one round trip (issue 8, cost): an INSERT, UPDATE or DELETE with an idempotency
-- key records its result in the same statement that writes, as a data-modifying WITH, so the key, the
-- write and what the reply is built from commit together in one round trip shared with other quick
-- statements. `result` holds that: the command, the row count, the RETURNING rows as PostgreSQL's
-- text of each row (record_out, at most max_rows + 1 of them) and their column names and type OIDs.
-- A replay builds its reply from it exactly as the first run built its own from the wire. `reply`
-- (the reply itself) stays for the writes recorded in two round trips (BATCH, a transaction's COMMIT,
-- and statements that cannot be wrapped). Adding a nullable column rewrites nothing.
ALTER TABLE dbbridge_idempotency ADD COLUMN result jsonb;
