-- migrate: no-transaction
-- Indexes on the shared tables the other parts write all the time. CONCURRENTLY: building them
-- never blocks those writes (psql runs each statement on its own, as does the migration runner,
-- which also drops an INVALID index left by an interrupted build before trying again).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_variants_status ON jobs_variants(status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_variants_current_step ON jobs_variants(current_step);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_variants_job_id_status ON jobs_variants(job_id, status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_step_status ON jobs(current_step, status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_created ON jobs(created_at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_txt_gen_job_stage ON txt_ad_copy_generations(job_id, generation_stage, status);
