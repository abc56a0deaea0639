-- Token buckets, one row per (user, kind): kind 'enqueue' or 'email'. Kept in
-- Postgres so every server process draws on the same budget. A missing row is
-- a full bucket. server/limits/buckets.ts owns the SQL that writes it. No
-- foreign key to users: a deleted user's rows are a few bytes.
CREATE TABLE "rate_buckets" (
    "owner_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "tokens" DOUBLE PRECISION NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "rate_buckets_pkey" PRIMARY KEY ("owner_id", "kind")
);

-- Takes counts[i] tokens from each bucket kinds[i] of one owner, all or none.
-- Each bucket first refills by the time since its last write, at rates[i]
-- tokens a millisecond, up to bursts[i], by the database's clock (so processes
-- agree). Returns 0 when taken; else how many milliseconds until every count
-- fits, and the kind that waits longest (the refill is kept, nothing is taken).
-- Callers pass kinds in one order, so two calls lock rows in the same order.
-- Its own transaction commits without waiting for the WAL flush: the row lock
-- is held until commit, and a take lost in a crash only leaves a fuller bucket.
CREATE FUNCTION "take_rate_tokens"(
    p_owner UUID, p_kinds TEXT[], p_counts FLOAT8[], p_rates FLOAT8[], p_bursts FLOAT8[],
    OUT retry_after_ms FLOAT8, OUT limited_kind TEXT
) LANGUAGE plpgsql AS $$
DECLARE
    level FLOAT8;
    wait FLOAT8;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    retry_after_ms := 0;
    FOR i IN 1 .. cardinality(p_kinds) LOOP
        -- The SET runs once the row is locked: clock_timestamp() there is after any wait for the lock.
        INSERT INTO rate_buckets AS b (owner_id, kind, tokens, updated_at)
        VALUES (p_owner, p_kinds[i], p_bursts[i], clock_timestamp())
        ON CONFLICT (owner_id, kind) DO UPDATE
           SET tokens = least(p_bursts[i], b.tokens
                 + greatest(0, extract(epoch FROM clock_timestamp() - b.updated_at) * 1000) * p_rates[i]),
               updated_at = greatest(b.updated_at, clock_timestamp())
        RETURNING b.tokens INTO level;
        IF level < p_counts[i] THEN
            wait := (p_counts[i] - level) / p_rates[i];
            IF wait > retry_after_ms THEN
                retry_after_ms := wait;
                limited_kind := p_kinds[i];
            END IF;
        END IF;
    END LOOP;
    IF retry_after_ms > 0 THEN
        retry_after_ms := greatest(1, ceil(retry_after_ms));
        RETURN;
    END IF;
    UPDATE rate_buckets AS b SET tokens = b.tokens - t.n
      FROM unnest(p_kinds, p_counts) AS t(kind, n)
     WHERE b.owner_id = p_owner AND b.kind = t.kind;
END;
$$;
