-- Additive changes this service needs: nullable columns, indexes, and the fixes listed in the
-- data contract. Every upstream statement keeps working. Safe to run again.
ALTER TABLE jobs_variants
    ADD COLUMN IF NOT EXISTS status TEXT DEFAULT 'queued',
    ADD COLUMN IF NOT EXISTS current_step TEXT,
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP;

-- Engine bookkeeping: the claim token of the running attempt, its lease, the error, the retry time.
ALTER TABLE jobs_variants
    ADD COLUMN IF NOT EXISTS run_token UUID,
    ADD COLUMN IF NOT EXISTS lease_until TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS next_retry_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS last_error TEXT;
ALTER TABLE jobs
    ADD COLUMN IF NOT EXISTS run_token UUID,
    ADD COLUMN IF NOT EXISTS lease_until TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS next_retry_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS last_error TEXT;

-- Indexes on the shared, busy tables (jobs, jobs_variants, txt_ad_copy_generations) are built
-- CONCURRENTLY in 0005_shared_indexes.sql, so building them never blocks the other parts' writes.

-- yolo_runs.job_id was UNIQUE, but the pipeline runs per variant: one run per variant.
ALTER TABLE yolo_runs DROP CONSTRAINT IF EXISTS yolo_runs_job_id_key;
ALTER TABLE yolo_runs ADD COLUMN IF NOT EXISTS job_variants_id UUID REFERENCES jobs_variants(job_variants_id) ON DELETE CASCADE;
CREATE UNIQUE INDEX IF NOT EXISTS uq_yolo_runs_variant ON yolo_runs(job_variants_id);

-- detections and planner proposals must say which variant they belong to.
ALTER TABLE detections ADD COLUMN IF NOT EXISTS job_variants_id UUID REFERENCES jobs_variants(job_variants_id) ON DELETE CASCADE;
ALTER TABLE planner_proposals ADD COLUMN IF NOT EXISTS job_variants_id UUID REFERENCES jobs_variants(job_variants_id) ON DELETE CASCADE;
CREATE INDEX IF NOT EXISTS idx_detections_variant ON detections(job_variants_id);
CREATE INDEX IF NOT EXISTS idx_proposals_variant ON planner_proposals(job_variants_id);
CREATE INDEX IF NOT EXISTS idx_overlays_variant ON overlay_layouts(job_variants_id);
CREATE INDEX IF NOT EXISTS idx_vlm_traces_variant ON vlm_traces(job_variants_id);

-- One feed per job and one evaluation of each type per overlay: 0004_team_database.sql (history
-- may already hold duplicates, so a plain unique index would fail there).

-- Every stage execution: the timeline on the dashboard and the "ran exactly once" proof.
CREATE TABLE IF NOT EXISTS stage_runs (
    run_id BIGSERIAL PRIMARY KEY,
    run_token UUID NOT NULL UNIQUE,
    job_id UUID NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    job_variants_id UUID REFERENCES jobs_variants(job_variants_id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    error TEXT,
    worker TEXT,
    started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    finished_at TIMESTAMPTZ);
CREATE INDEX IF NOT EXISTS idx_stage_runs_job ON stage_runs(job_id, started_at);
