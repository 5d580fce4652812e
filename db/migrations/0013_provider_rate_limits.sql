-- Rate limits of the model providers (issue 26), shared by every replica through this database.
-- provider_calls: a sliding log of the requests sent in the current window (rows older than the window
-- are deleted by the next acquire), with the tokens each was charged (an estimate, corrected from the
-- reply's usage). provider_limits: one row per provider; a 429 from the provider halves its budget
-- (`factor`) until `shrunk_until`, and `blocked_until` honours the provider's Retry-After.
CREATE TABLE IF NOT EXISTS provider_limits (
    provider TEXT PRIMARY KEY,
    factor DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    shrunk_until TIMESTAMPTZ,
    blocked_until TIMESTAMPTZ,
    throttled_total BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS provider_calls (
    call_id BIGSERIAL PRIMARY KEY,
    provider TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    tokens INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_provider_calls_at ON provider_calls (provider, at);

-- One call's admission, atomically for every replica (one round trip; the advisory lock serialises the
-- callers of one provider). A call is admitted when fewer than rpm calls (and at most tpm tokens) were
-- sent in the last window + margin; the margin covers the time between admission here and the request's
-- arrival at the provider, so the provider never sees more than rpm in any window of its own clock.
-- Otherwise no row is written and wait_seconds says when the budget frees up (the oldest call that must
-- leave the window). A call larger than the whole token budget goes alone into an empty window.
CREATE OR REPLACE FUNCTION provider_acquire(p_provider TEXT, p_rpm INTEGER, p_tpm INTEGER, p_tokens INTEGER,
                                            p_window DOUBLE PRECISION, p_margin DOUBLE PRECISION,
                                            OUT call_id BIGINT, OUT wait_seconds DOUBLE PRECISION)
LANGUAGE plpgsql AS $$
DECLARE
    now_ TIMESTAMPTZ := clock_timestamp();
    lim provider_limits%ROWTYPE;
    span INTERVAL := make_interval(secs => p_window + p_margin);
    f DOUBLE PRECISION;
    n INTEGER;
    used BIGINT;
    eff_rpm INTEGER;
    eff_tpm BIGINT;
    free_at TIMESTAMPTZ;
BEGIN
    PERFORM pg_advisory_xact_lock(7300026, hashtext(p_provider));
    INSERT INTO provider_limits (provider) VALUES (p_provider) ON CONFLICT (provider) DO NOTHING;
    SELECT * INTO lim FROM provider_limits l WHERE l.provider = p_provider;
    IF lim.blocked_until IS NOT NULL AND lim.blocked_until > now_ THEN
        wait_seconds := EXTRACT(EPOCH FROM lim.blocked_until - now_);
        RETURN;
    END IF;
    f := CASE WHEN lim.shrunk_until > now_ THEN lim.factor ELSE 1.0 END;
    DELETE FROM provider_calls c WHERE c.provider = p_provider AND c.at <= now_ - span;
    SELECT count(*), coalesce(sum(c.tokens), 0) INTO n, used FROM provider_calls c WHERE c.provider = p_provider;
    eff_rpm := CASE WHEN p_rpm > 0 THEN greatest(1, floor(p_rpm * f)::INTEGER) END;
    eff_tpm := CASE WHEN p_tpm > 0 THEN greatest(1, floor(p_tpm * f)::BIGINT) END;
    IF (eff_rpm IS NULL OR n < eff_rpm) AND (eff_tpm IS NULL OR n = 0 OR used + p_tokens <= eff_tpm) THEN
        INSERT INTO provider_calls (provider, at, tokens) VALUES (p_provider, now_, p_tokens)
        RETURNING provider_calls.call_id INTO call_id;
        wait_seconds := 0;
        RETURN;
    END IF;
    -- The first call whose leaving frees enough: the (n - eff_rpm + 1)-th oldest for requests, and the one
    -- after which the tokens left fit for tokens.
    SELECT x.at INTO free_at FROM (
        SELECT c.at, row_number() OVER w AS rn, sum(c.tokens) OVER w AS freed
        FROM provider_calls c WHERE c.provider = p_provider
        WINDOW w AS (ORDER BY c.at, c.call_id)) x
    WHERE (eff_rpm IS NULL OR x.rn >= n - eff_rpm + 1)
      AND (eff_tpm IS NULL OR used - x.freed + p_tokens <= eff_tpm OR x.rn = n)
    ORDER BY x.at LIMIT 1;
    wait_seconds := greatest(0.01, EXTRACT(EPOCH FROM coalesce(free_at, now_) + span - now_));
END $$;
