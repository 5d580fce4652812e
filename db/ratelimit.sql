-- Provider rate limits shared by the replicas (issue 26; services/ops/ratelimit.py, migration 0013).
-- Sync callers (psycopg2, %(name)s parameters): the limiter runs in stage threads and worker processes.

-- name: rate_acquire
SELECT call_id, wait_seconds FROM provider_acquire(%(provider)s, %(rpm)s, %(tpm)s, %(tokens)s, %(window)s, %(margin)s);

-- name: rate_settle
-- The reply's real token count replaces the estimate the call was admitted with.
UPDATE provider_calls SET tokens = %(tokens)s WHERE call_id = %(call_id)s;

-- name: rate_throttled
-- A 429: halve the budget for the cooldown (once per second, however many calls saw the same 429 at once,
-- down to the minimum share) and hold every call until the provider's Retry-After has passed.
INSERT INTO provider_limits AS l (provider, factor, shrunk_until, blocked_until, throttled_total, updated_at)
VALUES (%(provider)s, 0.5, clock_timestamp() + make_interval(secs => %(cooldown)s),
        clock_timestamp() + make_interval(secs => %(retry_after)s), 1, clock_timestamp())
ON CONFLICT (provider) DO UPDATE SET
    factor = CASE WHEN l.shrunk_until > clock_timestamp() AND l.updated_at > clock_timestamp() - interval '1 second'
                  THEN l.factor
                  ELSE greatest(%(min_factor)s, CASE WHEN l.shrunk_until > clock_timestamp() THEN l.factor ELSE 1.0 END * 0.5)
             END,
    shrunk_until = clock_timestamp() + make_interval(secs => %(cooldown)s),
    blocked_until = greatest(l.blocked_until, clock_timestamp() + make_interval(secs => %(retry_after)s)),
    throttled_total = l.throttled_total + 1, updated_at = clock_timestamp();

-- name: rate_status
-- /healthz and /metrics (asyncpg): each provider's current share of its budget and what the window holds.
-- $1 window + margin seconds
SELECT l.provider,
       CASE WHEN l.shrunk_until > clock_timestamp() THEN l.factor ELSE 1.0 END AS factor,
       l.shrunk_until, l.blocked_until, l.throttled_total,
       (SELECT count(*) FROM provider_calls c WHERE c.provider = l.provider
            AND c.at > clock_timestamp() - make_interval(secs => $1)) AS requests,
       (SELECT coalesce(sum(tokens), 0) FROM provider_calls c WHERE c.provider = l.provider
            AND c.at > clock_timestamp() - make_interval(secs => $1)) AS tokens
FROM provider_limits l;
