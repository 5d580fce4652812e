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

-- name: bench_bulk_jobs
-- scripts/bench_deep_queue.py: :n jobs of tenant :t with :per variants each and their English copy, at
-- (user_img_input, done) like create_job's; the variants' image asset is :a (no-op stages never read it).
WITH j AS (
    INSERT INTO jobs (tenant_id, store_id, status, current_step)
    SELECT :t, :s, 'done', 'user_img_input' FROM generate_series(1, :n) RETURNING job_id
), t AS (
    INSERT INTO txt_ad_copy_generations (job_id, generation_stage, ad_copy_eng, status)
    SELECT job_id, 'ad_copy_eng', 'Deep queue copy', 'done' FROM j
), v AS (
    INSERT INTO jobs_variants (job_id, img_asset_id, creation_order, status, current_step)
    SELECT job_id, :a, k, 'done', 'user_img_input' FROM j, generate_series(1, :per) k RETURNING 1
)
SELECT count(*) FROM v;

-- name: bench_bulk_img_gen
-- The image part's two statements for every waiting variant at once (one commit each: :status running, then done).
UPDATE jobs_variants SET status = :status, current_step = 'img_gen', updated_at = CURRENT_TIMESTAMP
WHERE current_step IN ('user_img_input', 'img_gen') AND status <> 'failed';

-- name: bench_transitions_since
-- Transition latencies (ms; the next claim minus the previous stage's commit) of claims after :t.
SELECT EXTRACT(EPOCH FROM r.started_at - p.finished_at) * 1000 AS ms
FROM stage_runs r JOIN LATERAL (
    SELECT finished_at FROM stage_runs p WHERE p.job_id = r.job_id
      AND p.job_variants_id IS NOT DISTINCT FROM r.job_variants_id AND p.run_id < r.run_id
    ORDER BY p.run_id DESC LIMIT 1) p ON TRUE
WHERE r.started_at > :t;

-- name: bench_first_claim
-- When a job's first stage run started (the deep-queue benchmark's other tenant).
SELECT min(started_at) FROM stage_runs WHERE job_id = :j;

-- name: bench_job_store_and_asset
SELECT j.store_id, v.img_asset_id FROM jobs j JOIN jobs_variants v USING (job_id) WHERE j.job_id = :j LIMIT 1;
