-- Named queries of the scripts (scripts/) and of what scripts and tests share (services/ops/testing.py,
-- services/ops/noop_app.py): seeding, monitoring, benchmarks, the chaos run. The scripts run most of them
-- through SQLAlchemy's text(), so their parameters are :name, not $1. services/engine/queries.py loads them.

-- ===== seeding the way the upstream parts write (scripts/seedlib.py) =====

-- name: img_gen_running
-- The image part (seed 003) flips each variant to img_gen running, generates, then marks it done.
UPDATE jobs_variants
SET status = 'running',
    current_step = 'img_gen',
    updated_at = CURRENT_TIMESTAMP
WHERE job_variants_id = :job_variants_id;

-- name: img_gen_done
UPDATE jobs_variants
SET status = 'done',
    current_step = 'img_gen',
    updated_at = CURRENT_TIMESTAMP
WHERE job_variants_id = :job_variants_id;

-- name: seed_image_asset
INSERT INTO image_assets (image_type, image_url, width, height, tenant_id, job_id)
VALUES ('generated', :url, :w, :h, :tenant, :job) RETURNING image_asset_id;

-- name: seed_tenant
INSERT INTO tenants (tenant_id, display_name) VALUES (:t, :t) ON CONFLICT DO NOTHING;

-- name: seed_store
INSERT INTO stores (title, body, store_category)
VALUES ('해오름 커피', '서울 마포구 연남동 카페. 인스타 @haeoreum_coffee', '카페/디저트')
RETURNING store_id;

-- name: seed_tone_style
INSERT INTO tone_styles (code, kor_name, eng_name, description)
VALUES ('friendly', '친근한', 'Friendly', 'Warm and casual') RETURNING tone_style_id;

-- name: seed_job
INSERT INTO jobs (tenant_id, store_id, status, current_step)
VALUES (:t, :s, 'done', 'user_img_input') RETURNING job_id;

-- name: seed_job_inputs
INSERT INTO job_inputs (job_id, img_asset_id, tone_style_id, desc_kor)
VALUES (:j, :a, :tone, :d);

-- name: seed_variant
INSERT INTO jobs_variants (job_id, img_asset_id, creation_order, status, current_step)
VALUES (:j, :a, :o, 'done', 'user_img_input') RETURNING job_variants_id;

-- name: seed_text_part
-- The text part's rows: kor_to_eng and ad_copy_eng, both done.
INSERT INTO txt_ad_copy_generations (job_id, generation_stage, ad_copy_eng, status)
VALUES (:j, :stage, :copy, 'done');

-- name: job_variant_ids
SELECT job_variants_id FROM jobs_variants WHERE job_id = :j ORDER BY creation_order;

-- ===== the image part's stand-in (scripts/simulate_image_part.py) =====

-- name: pending_image_part
-- Seed 003, step 1: the variants the image part has to process.
SELECT jv.job_variants_id, jv.job_id
FROM jobs_variants jv JOIN jobs j USING (job_id)
WHERE jv.current_step = 'user_img_input' AND jv.status = 'done'
  AND (CAST(:job_id AS uuid) IS NULL OR jv.job_id = CAST(:job_id AS uuid))
  AND (CAST(:tenant AS text) IS NULL OR j.tenant_id = CAST(:tenant AS text))
ORDER BY jv.created_at ASC, jv.creation_order ASC;

-- name: job_exists
SELECT 1 FROM jobs WHERE job_id = :j;

-- name: count_job_variants
SELECT count(*) FROM jobs_variants WHERE job_id = :j;

-- ===== following a job (scripts/background_ye_pipeline_test.py, scripts/monitor_job.py) =====

-- name: job_step_state
SELECT current_step, status, next_retry_at FROM jobs WHERE job_id = :j;

-- name: monitor_job
SELECT job_id, tenant_id, current_step, status, retry_count, last_error, next_retry_at, created_at
FROM jobs WHERE job_id = :j;

-- name: monitor_variants
SELECT v.job_variants_id, v.creation_order, v.current_step, v.status, v.retry_count, v.last_error,
       v.next_retry_at, v.selected, ov.image_url AS overlaid_image_url
FROM jobs_variants v LEFT JOIN image_assets ov ON ov.image_asset_id = v.overlaid_img_asset_id
WHERE v.job_id = :j ORDER BY v.creation_order, v.created_at;

-- name: monitor_texts
SELECT DISTINCT ON (generation_stage) generation_stage, ad_copy_eng, refined_ad_copy_eng, ad_copy_kor
FROM txt_ad_copy_generations WHERE job_id = :j AND status = 'done'
ORDER BY generation_stage, created_at DESC, pk DESC;

-- name: monitor_feed
SELECT instagram_ad_copy, hashtags FROM instagram_feeds WHERE job_id = :j;

-- ===== scripts/check_listener.py (and the shared ping of db/queries.sql) =====

-- name: trigger_state
SELECT tgname, tgenabled FROM pg_trigger WHERE tgname = :name;

-- name: variant_step
SELECT current_step, status FROM jobs_variants WHERE job_variants_id = :v;

-- ===== benchmarks (scripts/bench_*.py) and the chaos run (scripts/chaos_run.py) =====

-- name: count_finished_jobs
SELECT count(*) FROM jobs WHERE current_step = 'instagram_feed_gen' AND status = 'done';

-- name: count_settled_jobs
-- Finished, or failed for good at the job level (every variant failed).
SELECT count(*) FROM jobs WHERE current_step = 'instagram_feed_gen' AND status = 'done'
    OR status = 'failed' AND current_step = 'iou_eval';

-- name: count_failed_jobs
SELECT count(*) FROM jobs WHERE status = 'failed';

-- name: transition_latencies
-- Latency of a transition: the next stage's claim (stage_runs.started_at) minus the commit of the
-- previous one (its close_run, the last statement before COMMIT), both on the database clock.
SELECT EXTRACT(EPOCH FROM r.started_at - p.finished_at) * 1000 AS ms
FROM stage_runs r JOIN LATERAL (
    SELECT finished_at FROM stage_runs p WHERE p.job_id = r.job_id
      AND p.job_variants_id IS NOT DISTINCT FROM r.job_variants_id AND p.run_id < r.run_id
    ORDER BY p.run_id DESC LIMIT 1) p ON TRUE
WHERE r.status = 'done';

-- name: truncate_stage_runs
TRUNCATE stage_runs;

-- name: stage_runs_wall_seconds
-- Wall time on the database clock: first claim to last commit.
SELECT EXTRACT(EPOCH FROM max(finished_at) - min(started_at)) FROM stage_runs;

-- name: vlm_judged_seconds
-- The VLM side alone: until the last judgement (the CPU-bound evaluations and text stages follow it).
SELECT EXTRACT(EPOCH FROM max(finished_at) FILTER (WHERE step = 'vlm_judge') - min(started_at)) FROM stage_runs;

-- name: done_run_times
SELECT step, EXTRACT(EPOCH FROM started_at), EXTRACT(EPOCH FROM finished_at) FROM stage_runs
WHERE status = 'done' ORDER BY 2;

-- name: count_stage_runs
SELECT count(*) FROM stage_runs;

-- name: count_done_runs
SELECT count(*) FROM stage_runs WHERE status = 'done';

-- name: count_lost_runs
SELECT count(*) FROM stage_runs WHERE status = 'lost';

-- name: count_failed_runs
SELECT count(*) FROM stage_runs WHERE status = 'failed';

-- name: count_retried_runs
SELECT count(*) FROM stage_runs WHERE attempt > 1;

-- name: chaos_duplicate_successful_runs
-- Every state change ran its stage once: exactly one successful run per (row, step).
SELECT count(*) FROM (SELECT job_id, job_variants_id, step FROM stage_runs
WHERE status = 'done' GROUP BY 1, 2, 3 HAVING count(*) > 1) d;

-- name: chaos_variants_not_finished
SELECT count(*) FROM jobs_variants WHERE NOT (current_step = 'iou_eval' AND status = 'done');

-- name: chaos_rows_running
SELECT (SELECT count(*) FROM jobs_variants WHERE status = 'running')
+ (SELECT count(*) FROM jobs WHERE status = 'running');

-- name: chaos_feeds_missing
SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM instagram_feeds f WHERE f.job_id = j.job_id);

-- name: chaos_evaluations_missing
SELECT 4 * count(*) - (SELECT count(*) FROM evaluations) FROM jobs_variants;

-- name: report_statement_timeout
-- A report on a database in trouble answers within seconds or says why.
SET statement_timeout = '5s';

-- name: chaos_states
-- Where every job and variant stands, for the error when a fault found nothing to hit.
SELECT 'job' AS kind, current_step, status, count(*) FROM jobs GROUP BY 2, 3
UNION ALL SELECT 'variant', current_step, status, count(*) FROM jobs_variants GROUP BY 2, 3 ORDER BY 1, 2, 3;

-- name: terminate_listeners
-- Kills every app process's LISTEN connection on this database (services/engine/listener.py names it).
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = 'adpipe-listener' AND datname = current_database();

-- name: running_variant_runs
-- The slowest stage first: the kill must land before the stage commits.
SELECT run_token, job_variants_id, step, worker FROM stage_runs WHERE status = 'running'
AND job_variants_id IS NOT NULL ORDER BY (step = 'ocr_eval') DESC, started_at;

-- name: run_is_running
SELECT status = 'running' FROM stage_runs WHERE run_token = :t;

-- name: seconds_since_stage_done
SELECT EXTRACT(EPOCH FROM clock_timestamp() - finished_at) FROM stage_runs
WHERE job_variants_id = :v AND step = :s AND status = 'done';

-- ===== finished-job history in bulk (scripts/history.py; asyncpg, so $1 parameters) =====

-- name: history_tenant
INSERT INTO tenants (tenant_id) VALUES ('history') ON CONFLICT DO NOTHING;

-- name: triggers_off
-- Triggers off while seeding history: no NOTIFY storm. triggers_on turns them back on.
SET session_replication_role = replica;

-- name: triggers_on
SET session_replication_role = origin;

-- name: seed_finished_history
-- $1 jobs, $2 variants per job: finished 30 days ago.
WITH j AS (
    INSERT INTO jobs (tenant_id, status, current_step, created_at, updated_at)
    SELECT 'history', 'done', 'instagram_feed_gen', now() - interval '30 days', now() - interval '30 days'
    FROM generate_series(1, $1) RETURNING job_id)
INSERT INTO jobs_variants (job_id, creation_order, status, current_step, created_at, updated_at)
SELECT j.job_id, k, 'done', 'iou_eval', now() - interval '30 days', now() - interval '30 days'
FROM j CROSS JOIN generate_series(1, $2) AS k;

-- name: analyze_jobs
VACUUM ANALYZE jobs;

-- name: analyze_variants
VACUUM ANALYZE jobs_variants;

-- name: explain_prefix
-- A prefix, not a statement: history.py puts it before a named query to read that query's plan.
EXPLAIN

-- ===== benchmark and test databases (services/ops/testing.py, scripts/bench_sweeper.py) =====

-- name: drop_database
-- Templates (str.format): the code fills in the database name. A name is an identifier, which cannot
-- be a parameter, and CREATE/DROP DATABASE cannot run inside a function or a DO block.
DROP DATABASE IF EXISTS {name} WITH (FORCE);

-- name: create_database
CREATE DATABASE {name};

-- ===== the no-op app's record of executions (services/ops/noop_app.py: tests, engine benchmark, chaos run) =====

-- name: create_test_executions
-- Every execution of a stage is recorded here, so tests can prove "ran exactly once".
CREATE TABLE IF NOT EXISTS test_executions (
    id BIGSERIAL PRIMARY KEY, stage TEXT NOT NULL, row_id UUID NOT NULL, run_token UUID NOT NULL,
    pid INTEGER NOT NULL, at TIMESTAMPTZ DEFAULT clock_timestamp());

-- name: record_test_execution
INSERT INTO test_executions (stage, row_id, run_token, pid) VALUES ($1, $2, $3, $4);
