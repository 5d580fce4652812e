-- Queries of scripts/bench_fairness.py (fair share between tenants; issue 26). Kept out of scripts.sql
-- so parallel branches do not edit the same file.

-- name: bench_db_now
SELECT clock_timestamp();

-- name: bench_feed_created_at
-- When the job's post was written (the end of "time to its post"), on the database clock.
SELECT min(created_at) FROM instagram_feeds WHERE job_id = :j;

-- name: bench_tenant_finished
-- Jobs of a tenant finished, and the first claim / last post of that tenant (its backlog's wall time).
SELECT count(DISTINCT f.job_id) AS done,
       EXTRACT(EPOCH FROM max(f.created_at) - (SELECT min(r.started_at) FROM stage_runs r JOIN jobs j USING (job_id)
                                               WHERE j.tenant_id = :t)) AS wall
FROM instagram_feeds f JOIN jobs j USING (job_id) WHERE j.tenant_id = :t;

-- name: bench_failed_rows
-- Rows in a failed state (the rate-limit benchmark: nothing may fail).
SELECT (SELECT count(*) FROM jobs WHERE status = 'failed') + (SELECT count(*) FROM jobs_variants WHERE status = 'failed');
