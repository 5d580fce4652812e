-- migrate: no-transaction
-- Engine: indexes that keep the sweeper, the heartbeat and /healthz as cheap with 1M finished jobs
-- as with 100. Partial indexes hold only unfinished rows; the queries in db/queries.sql repeat each index's
-- predicate literally so the planner can prove it. Built CONCURRENTLY: the
-- other parts write these tables all the time (see 0005).

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jv_running_lease ON jobs_variants (lease_until) WHERE status = 'running';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jv_running_token ON jobs_variants (run_token) WHERE status = 'running';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jv_running_updated ON jobs_variants (updated_at) WHERE status = 'running';
-- (step, done) short of the last step: waiting for the next stage (or for the text part at img_gen)
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jv_done_unfinished ON jobs_variants (updated_at)
    WHERE status = 'done' AND current_step <> 'iou_eval';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jv_retry_due ON jobs_variants (next_retry_at)
    WHERE status = 'failed' AND next_retry_at IS NOT NULL;
-- every variant not finished: the per-(step, status) counts of /metrics
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jv_unfinished_step ON jobs_variants (current_step, status)
    WHERE NOT (current_step = 'iou_eval' AND status = 'done');

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_running_lease ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_running_token ON jobs (run_token) WHERE status = 'running';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_done_unfinished ON jobs (updated_at)
    WHERE status = 'done' AND current_step <> 'instagram_feed_gen';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_retry_due ON jobs (next_retry_at)
    WHERE status = 'failed' AND next_retry_at IS NOT NULL;
-- jobs not yet advanced past their variants (the sweeper's unadvanced_jobs)
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_not_advanced ON jobs (job_id)
    WHERE current_step IS NULL OR current_step NOT IN ('iou_eval', 'ad_copy_gen_kor', 'instagram_feed_gen');

-- each evaluation stage loads its overlay through renders
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_renders_overlay ON renders (overlay_id);
-- crash counts per (row, step)
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_stage_runs_variant_step ON stage_runs (job_variants_id, step) WHERE job_variants_id IS NOT NULL;
