-- One refined English copy per job, enforced by the schema as well as by the per-job advisory lock in
-- VlmAnalyze.save (services/stages_image.py). Safe to run again.
-- History may already hold duplicates (written before the lock existed): a plain unique index would fail
-- on them. Then the index covers only rows newer than the last duplicate, so old rows stay as they are
-- and every new row is still checked; a warning names the count for an operator to clean up.
DO $$
DECLARE
    last_dup INTEGER;
    dup_jobs INTEGER;
BEGIN
    IF to_regclass('uq_refined_ad_copy_per_job') IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT max(max_pk), count(*) INTO last_dup, dup_jobs FROM (
        SELECT max(pk) AS max_pk FROM txt_ad_copy_generations
        WHERE generation_stage = 'refined_ad_copy' AND status = 'done'
        GROUP BY job_id HAVING count(*) > 1) d;
    -- concurrently
    IF last_dup IS NULL THEN
        CREATE UNIQUE INDEX uq_refined_ad_copy_per_job ON txt_ad_copy_generations (job_id)
            WHERE generation_stage = 'refined_ad_copy' AND status = 'done';
    ELSE
        RAISE WARNING '% job(s) already have more than one refined_ad_copy row; uq_refined_ad_copy_per_job '
                      'covers rows with pk > % only', dup_jobs, last_dup;
        EXECUTE format('CREATE UNIQUE INDEX uq_refined_ad_copy_per_job ON txt_ad_copy_generations (job_id) '
                       'WHERE generation_stage = %L AND status = %L AND pk > %s',
                       'refined_ad_copy', 'done', last_dup);
    END IF;
END $$;

-- Start gate, the race.
-- ad_copy_ready_trigger looks for waiting variants when the copy is written, not when it commits: a variant
-- committed at (img_gen, done) in between is missed by it, and its own claim, sent at its commit, is refused
-- while the copy is not committed yet; only the sweeper would start it. Fix: both commits take one
-- transaction lock just before they commit (deferred triggers), and the copy's side looks again after
-- taking it. Whichever commits second then sees the other: the variant's claim finds the copy, or the
-- copy's wake-up finds the variant. One lock for all jobs: a per-job lock could deadlock two transactions
-- that touch several jobs in different orders; this one is held only from pre-commit to commit.
CREATE OR REPLACE FUNCTION start_gate_at_commit() RETURNS TRIGGER AS $$
DECLARE v RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(7300016);
    IF TG_TABLE_NAME = 'txt_ad_copy_generations' THEN
        -- A fresh snapshot (after the lock): it sees a variant that committed while we waited.
        FOR v IN SELECT jv.job_variants_id, jv.img_asset_id, jv.updated_at, j.tenant_id
                 FROM jobs_variants jv JOIN jobs j USING (job_id)
                 WHERE jv.job_id = NEW.job_id AND jv.current_step = 'img_gen' AND jv.status = 'done' LOOP
            -- The same payload as ad_copy_ready_trigger's (0004): PostgreSQL sends identical ones once.
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
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DO $$
BEGIN
    -- Constraint triggers have no CREATE OR REPLACE.
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'start_gate_variant_at_commit') THEN
        CREATE CONSTRAINT TRIGGER start_gate_variant_at_commit AFTER INSERT OR UPDATE ON jobs_variants
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            WHEN (NEW.current_step = 'img_gen' AND NEW.status = 'done')
            EXECUTE FUNCTION start_gate_at_commit();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'start_gate_copy_at_commit') THEN
        CREATE CONSTRAINT TRIGGER start_gate_copy_at_commit AFTER INSERT OR UPDATE ON txt_ad_copy_generations
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            WHEN (NEW.generation_stage = 'ad_copy_eng' AND NEW.status = 'done')
            EXECUTE FUNCTION start_gate_at_commit();
    END IF;
END $$;
