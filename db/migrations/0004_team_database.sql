-- Running on the team's shared database: history with duplicates, seed 002's legacy trigger,
-- rewinds by other parts, and the NOTIFY payload of seed 001. Safe to run again.

-- One feed per job, one evaluation of each type per overlay, for every row written from now on.
-- History may hold duplicates (the data contract says so) and those rows are never deleted or
-- rewritten, so a plain unique index cannot be built. A partial index whose predicate excludes the
-- old rows cannot serve the service's `ON CONFLICT ... DO UPDATE` (a partial index is only inferred
-- when the statement repeats its predicate, and an exclusion constraint allows DO NOTHING only).
-- Instead a small nullable column: ADD COLUMN without a default touches no row (old rows read
-- NULL), then the default 1 applies to every new row. NULLs are distinct in a unique index, so the
-- old rows never conflict, while (job_id, 1) can exist once: ON CONFLICT (job_id, dedup_slot).
ALTER TABLE instagram_feeds ADD COLUMN IF NOT EXISTS dedup_slot SMALLINT;
ALTER TABLE instagram_feeds ALTER COLUMN dedup_slot SET DEFAULT 1;
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS dedup_slot SMALLINT;
ALTER TABLE evaluations ALTER COLUMN dedup_slot SET DEFAULT 1;
COMMENT ON COLUMN instagram_feeds.dedup_slot IS 'NULL: written before migration 0004 (may be a duplicate); 1: unique per job';
COMMENT ON COLUMN evaluations.dedup_slot IS 'NULL: written before migration 0004 (may be a duplicate); 1: unique per (overlay, type)';

-- A database set up by the old loader had plain unique indexes under these names (so no duplicates):
-- replace them with the (…, dedup_slot) form that the service's upserts name.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'uq_instagram_feeds_job' AND indexdef NOT LIKE '%dedup_slot%') THEN
        DROP INDEX uq_instagram_feeds_job;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'uq_evaluations_overlay_type' AND indexdef NOT LIKE '%dedup_slot%') THEN
        DROP INDEX uq_evaluations_overlay_type;
    END IF;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS uq_instagram_feeds_job ON instagram_feeds(job_id, dedup_slot);
CREATE UNIQUE INDEX IF NOT EXISTS uq_evaluations_overlay_type ON evaluations(overlay_id, evaluation_type, dedup_slot);

DO $$
DECLARE feeds INTEGER; evals INTEGER;
BEGIN
    SELECT count(*) INTO feeds FROM (SELECT job_id FROM instagram_feeds GROUP BY job_id HAVING count(*) > 1) d;
    SELECT count(*) INTO evals FROM (SELECT 1 FROM evaluations GROUP BY overlay_id, evaluation_type HAVING count(*) > 1) d;
    IF feeds > 0 THEN
        RAISE NOTICE 'kept % job(s) with more than one instagram_feeds row from before (rows unchanged)', feeds;
    END IF;
    IF evals > 0 THEN
        RAISE NOTICE 'kept % (overlay, type) pair(s) with more than one evaluation from before (rows unchanged)', evals;
    END IF;
END $$;

-- Seed 002's legacy trigger moves a job to (iou_eval, done) once every variant's status is done, at
-- any step: the job stages would start while variants are still at img_gen. The service's own rule
-- (services/jobstate.py: every variant done at iou_eval or failed for good) replaces it.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'check_all_variants_done_trigger'
               AND tgrelid = 'jobs_variants'::regclass) THEN
        DROP TRIGGER check_all_variants_done_trigger ON jobs_variants;
        RAISE NOTICE 'dropped seed 002''s legacy trigger check_all_variants_done_trigger (replaced by services/jobstate.py)';
    END IF;
    -- The function goes too, unless some other trigger still uses it.
    IF to_regprocedure('check_all_variants_done()') IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM pg_trigger WHERE tgfoid = to_regprocedure('check_all_variants_done()')) THEN
        DROP FUNCTION check_all_variants_done();
        RAISE NOTICE 'dropped function check_all_variants_done()';
    END IF;
END $$;

-- Rewinds from upstream: another part moving a variant to another step (the image part
-- regenerating: back to img_gen) without this service's claim (the run token stays the same)
-- voids the in-flight stage run at once. The run is closed as superseded, the bookkeeping of the
-- claim is cleared, and the variant runs again from where it now is when that step is done.
CREATE OR REPLACE FUNCTION supersede_rewound_run() RETURNS TRIGGER AS $$
BEGIN
    IF OLD.run_token IS NOT NULL AND NEW.run_token IS NOT DISTINCT FROM OLD.run_token
       AND NEW.current_step IS DISTINCT FROM OLD.current_step THEN
        UPDATE stage_runs SET status = 'superseded', finished_at = clock_timestamp(),
            error = format('rewound to (%s, %s) by another writer', NEW.current_step, NEW.status)
        WHERE run_token = OLD.run_token AND status = 'running';
        NEW.run_token := NULL;
        NEW.lease_until := NULL;
        NEW.next_retry_at := NULL;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER jobs_variants_supersede_rewound_run BEFORE UPDATE ON jobs_variants
    FOR EACH ROW EXECUTE FUNCTION supersede_rewound_run();

-- Seed 001's payload: also img_asset_id and updated_at (still far below NOTIFY's 8000 bytes).
CREATE OR REPLACE FUNCTION notify_job_variant_state_change() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.current_step IS DISTINCT FROM NEW.current_step
       OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('job_variant_state_changed', json_build_object(
            'type', 'variant_state',
            'job_variants_id', NEW.job_variants_id,
            'job_id', NEW.job_id,
            'tenant_id', (SELECT tenant_id FROM jobs WHERE job_id = NEW.job_id),
            'current_step', NEW.current_step,
            'status', NEW.status,
            'img_asset_id', NEW.img_asset_id,
            'updated_at', NEW.updated_at)::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION notify_ad_copy_ready() RETURNS TRIGGER AS $$
DECLARE v RECORD;
BEGIN
    IF NEW.generation_stage = 'ad_copy_eng' AND NEW.status = 'done'
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        FOR v IN SELECT jv.job_variants_id, jv.img_asset_id, jv.updated_at, j.tenant_id
                 FROM jobs_variants jv JOIN jobs j USING (job_id)
                 WHERE jv.job_id = NEW.job_id AND jv.current_step = 'img_gen' AND jv.status = 'done' LOOP
            PERFORM pg_notify('job_variant_state_changed', json_build_object(
                'type', 'text_ready',
                'job_variants_id', v.job_variants_id,
                'job_id', NEW.job_id,
                'tenant_id', v.tenant_id,
                'current_step', 'img_gen',
                'status', 'done',
                'img_asset_id', v.img_asset_id,
                'updated_at', v.updated_at)::text);
        END LOOP;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
