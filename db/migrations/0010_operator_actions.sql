-- Operator actions (cancel, re-run from a step, replay, select; issue 24): nullable columns of this
-- service on the shared tables, the action log, and the one rule for "finished". Safe to run again.

-- A cancelled row keeps the contract's status 'failed' (the upstream parts read it as final) and says why
-- here. It has no next_retry_at, so no claim, retry or sweep condition ever matches it again.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS cancelled_at TIMESTAMPTZ, ADD COLUMN IF NOT EXISTS cancel_reason TEXT;
ALTER TABLE jobs_variants ADD COLUMN IF NOT EXISTS cancelled_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS cancel_reason TEXT;

-- Every operator action: who (which key or CLI user), when, what, and what it changed. The job's timeline
-- (GET /api/yh/jobs/{id}, the dashboard) shows them.
CREATE TABLE IF NOT EXISTS operator_actions (
    action_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    pk BIGSERIAL,
    job_id UUID NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    job_variants_id UUID REFERENCES jobs_variants(job_variants_id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    params JSONB NOT NULL DEFAULT '{}',
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    result JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IF NOT EXISTS idx_operator_actions_job ON operator_actions (job_id, created_at);

-- Finished, for the upstream parts and the jobs API: the post is written, the job failed for good at one
-- of this service's steps, or it was cancelled. NULL: not finished. The step names are the stage table's
-- job steps (services/engine/pipeline.py, JOB_ADVANCED_STEPS).
CREATE OR REPLACE FUNCTION job_outcome(step TEXT, status TEXT, next_retry_at TIMESTAMPTZ, cancelled_at TIMESTAMPTZ)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cancelled_at IS NOT NULL THEN 'cancelled'
                WHEN step = 'instagram_feed_gen' AND status = 'done' THEN 'done'
                WHEN status = 'failed' AND next_retry_at IS NULL
                     AND step IN ('iou_eval', 'ad_copy_gen_kor', 'instagram_feed_gen') THEN 'failed' END
$$;
