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
