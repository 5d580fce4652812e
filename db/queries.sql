-- Named queries of the engine (and of the pool in database.py). `-- name: x` starts a query;
-- services/engine/queries.py loads every db/*.sql into Q (a name may be defined once across the files).

-- name: claim_variant
-- $1 variant, $2 stage, $3 previous step, $4 lease seconds, $5 start gate on, $6 worker, $7 job, $8 tenant or NULL,
-- $9 settle seconds: a row inserted already at (img_gen, done) and never updated since (updated_at =
-- created_at) waits this long, so seed 000's running -> done flip right after the insert is one start
WITH claimed AS (
    UPDATE jobs_variants v
    SET current_step = $2, status = 'running', run_token = uuid_generate_v4(),
        lease_until = clock_timestamp() + make_interval(secs => $4), last_error = NULL,
        retry_count = CASE WHEN v.current_step = $2 THEN v.retry_count ELSE 0 END,
        next_retry_at = NULL
    WHERE v.job_variants_id = $1
      AND ((v.current_step = $3 AND v.status = 'done')
           OR (v.current_step = $2 AND v.status = 'failed' AND v.next_retry_at <= clock_timestamp()))
      AND (NOT $5 OR EXISTS (SELECT 1 FROM txt_ad_copy_generations t WHERE t.job_id = v.job_id
                             AND t.generation_stage = 'ad_copy_eng' AND t.status = 'done'))
      AND NOT ($5 AND v.current_step = 'img_gen' AND v.updated_at = v.created_at
               AND v.created_at > clock_timestamp() - make_interval(secs => $9))
      AND v.job_id = $7
      AND v.cancelled_at IS NULL  -- cancelled (migration 0010): never claimed again, whatever its state
      AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = $7 AND j.tenant_id = $8))
    RETURNING v.job_variants_id, v.job_id, v.run_token, v.retry_count
), run AS (
    INSERT INTO stage_runs (run_token, job_id, job_variants_id, step, attempt, worker)
    SELECT run_token, job_id, job_variants_id, $2, retry_count + 1, $6 FROM claimed
    RETURNING run_token, job_id, job_variants_id, attempt
)
SELECT run.*, (SELECT tenant_id FROM jobs WHERE job_id = run.job_id) AS tenant_id FROM run;

-- name: claim_job
-- $1 job, $2 stage, $3 previous step, $4 lease seconds, $5 worker, $6 tenant or NULL
-- The first job stage also needs every variant finished (done at iou_eval, or failed for good): a job
-- moved to (iou_eval, done) by someone else (seed 002's legacy trigger does it at img_gen) waits.
WITH claimed AS (
    UPDATE jobs j
    SET current_step = $2, status = 'running', run_token = uuid_generate_v4(),
        lease_until = clock_timestamp() + make_interval(secs => $4), last_error = NULL,
        retry_count = CASE WHEN j.current_step = $2 THEN j.retry_count ELSE 0 END,
        next_retry_at = NULL
    WHERE j.job_id = $1
      AND ((j.current_step = $3 AND j.status = 'done')
           OR (j.current_step = $2 AND j.status = 'failed' AND j.next_retry_at <= clock_timestamp()))
      AND ($6::text IS NULL OR j.tenant_id = $6)
      AND j.cancelled_at IS NULL  -- cancelled (migration 0010): never claimed again
      AND ($3 <> 'iou_eval' OR NOT EXISTS (SELECT 1 FROM jobs_variants v WHERE v.job_id = j.job_id
           AND NOT ((v.current_step = 'iou_eval' AND v.status = 'done') OR (v.status = 'failed' AND v.next_retry_at IS NULL))))
    RETURNING j.job_id, j.run_token, j.retry_count, j.tenant_id
), run AS (
    INSERT INTO stage_runs (run_token, job_id, job_variants_id, step, attempt, worker)
    SELECT run_token, job_id, NULL, $2, retry_count + 1, $5 FROM claimed
    RETURNING run_token, job_id, job_variants_id, attempt
)
SELECT run.*, claimed.tenant_id FROM run JOIN claimed USING (run_token);

-- name: mark_job_started
-- Option C of seed 002: the job shows (vlm_analyze, running) once its first variant starts.
-- $2 the job steps at or after the variant phase (pipeline.JOB_ADVANCED_STEPS)
UPDATE jobs SET current_step = 'vlm_analyze', status = 'running'
WHERE job_id = $1 AND current_step IS DISTINCT FROM 'vlm_analyze'
  AND coalesce(current_step, '') <> ALL($2::text[]);

-- name: finish_variant
-- Marks the row done and closes its stage run, only if this attempt still holds the lease.
WITH finished AS (
    UPDATE jobs_variants SET status = 'done', lease_until = NULL, next_retry_at = NULL, last_error = NULL
    WHERE job_variants_id = $1 AND run_token = $2 AND status = 'running' AND current_step = $3
    RETURNING job_id, run_token
)
UPDATE stage_runs r SET status = 'done', finished_at = clock_timestamp()
FROM finished f WHERE r.run_token = f.run_token
RETURNING f.job_id;

-- name: finish_job
-- $3: the step; a writer that moved the row elsewhere (e.g. back to img_gen) voids this run
WITH finished AS (
    UPDATE jobs SET status = 'done', lease_until = NULL, next_retry_at = NULL, last_error = NULL
    WHERE job_id = $1 AND run_token = $2 AND status = 'running' AND current_step = $3
    RETURNING job_id, run_token
)
UPDATE stage_runs r SET status = 'done', finished_at = clock_timestamp()
FROM finished f WHERE r.run_token = f.run_token
RETURNING f.job_id;

-- name: fail_variant
-- $3 error, $4 retry delay in seconds (NULL: failed for good)
UPDATE jobs_variants SET status = 'failed', last_error = $3, lease_until = NULL,
    retry_count = retry_count + CASE WHEN $4::float8 IS NULL THEN 0 ELSE 1 END,
    next_retry_at = CASE WHEN $4::float8 IS NULL THEN NULL
                         ELSE clock_timestamp() + make_interval(secs => $4::float8) END
WHERE job_variants_id = $1 AND run_token = $2 AND status = 'running' AND current_step = $5
RETURNING job_id;

-- name: fail_job
UPDATE jobs SET status = 'failed', last_error = $3, lease_until = NULL,
    retry_count = retry_count + CASE WHEN $4::float8 IS NULL THEN 0 ELSE 1 END,
    next_retry_at = CASE WHEN $4::float8 IS NULL THEN NULL
                         ELSE clock_timestamp() + make_interval(secs => $4::float8) END
WHERE job_id = $1 AND run_token = $2 AND status = 'running' AND current_step = $5
RETURNING job_id;

-- name: close_run
UPDATE stage_runs SET status = $2, error = $3, finished_at = clock_timestamp() WHERE run_token = $1;

-- name: lock_job
-- NO KEY UPDATE, not UPDATE: stage results reference jobs, so every finishing transaction already holds
-- a KEY SHARE lock on the job row; FOR UPDATE would conflict with those and deadlock two finishers.
SELECT current_step, status, cancelled_at FROM jobs WHERE job_id = $1 FOR NO KEY UPDATE;

-- name: variant_tally
-- Finished means done at the last variant step, or failed with no retry coming.
SELECT count(*) AS total,
       count(*) FILTER (WHERE current_step = 'iou_eval' AND status = 'done') AS done,
       count(*) FILTER (WHERE status = 'failed' AND next_retry_at IS NULL) AS dead
FROM jobs_variants WHERE job_id = $1;

-- name: advance_job
UPDATE jobs SET current_step = 'iou_eval', status = $2, last_error = $3, lease_until = NULL, next_retry_at = NULL
WHERE job_id = $1;

-- name: variant_state
-- text_ready: the start gate (the text part's ad_copy_eng is done), so a 409 can say what the row waits for;
-- untouched + created_at: a row inserted already done and never updated since settles (claim_variant's $9)
SELECT v.job_id, v.current_step, v.status, v.next_retry_at, j.tenant_id, clock_timestamp() AS now,
       v.created_at, v.updated_at = v.created_at AS untouched,
       EXISTS (SELECT 1 FROM txt_ad_copy_generations t WHERE t.job_id = v.job_id
               AND t.generation_stage = 'ad_copy_eng' AND t.status = 'done') AS text_ready
FROM jobs_variants v JOIN jobs j USING (job_id)
WHERE v.job_variants_id = $1;

-- name: job_state
SELECT job_id, tenant_id, current_step, status, next_retry_at, clock_timestamp() AS now FROM jobs WHERE job_id = $1;

-- name: latest_overlay
SELECT overlay_id FROM overlay_layouts WHERE job_variants_id = $1 ORDER BY created_at DESC, pk DESC LIMIT 1;

-- name: expire_variant_leases
-- A running row past its lease: its process died (or stopped sending heartbeats). Fail it; the retry backs
-- off like any failure, and a row whose runs lost their worker $3 (MAX_CRASHES) times fails for good.
-- $1 max retries, $2 this service's steps (an upstream writer's running rows are not ours),
-- $3 max crashes, $4 retry base seconds, $5 retry max seconds
WITH dead AS (
    SELECT v.job_variants_id, v.run_token, v.retry_count, 1 + (
        SELECT count(*) FROM stage_runs r WHERE r.job_id = v.job_id AND r.job_variants_id = v.job_variants_id
        AND r.step = v.current_step AND r.status IN ('crashed', 'lost')) AS crashes
    FROM jobs_variants v
    WHERE v.status = 'running' AND v.lease_until < clock_timestamp() AND v.current_step = ANY($2::text[])
), expired AS (
    UPDATE jobs_variants v SET status = 'failed', lease_until = NULL,
        last_error = CASE WHEN d.crashes >= $3
            THEN format('failed for good: %s runs lost their worker (MAX_CRASHES %s); last: lease expired', d.crashes, $3)
            ELSE 'lease expired: the worker died or stopped sending heartbeats' END,
        retry_count = v.retry_count + CASE WHEN d.retry_count < $1 AND d.crashes < $3 THEN 1 ELSE 0 END,
        next_retry_at = CASE WHEN d.retry_count < $1 AND d.crashes < $3 THEN clock_timestamp() + make_interval(
            secs => least($4 * power(2, d.retry_count), $5) * (0.8 + 0.4 * random())) END
    FROM dead d
    WHERE v.job_variants_id = d.job_variants_id AND v.run_token = d.run_token
      AND v.status = 'running' AND v.lease_until < clock_timestamp()
    RETURNING v.job_id, v.run_token
)
UPDATE stage_runs r SET status = 'lost', error = 'lease expired', finished_at = clock_timestamp()
FROM expired e WHERE r.run_token = e.run_token
RETURNING e.job_id;

-- name: expire_job_leases
WITH dead AS (
    SELECT j.job_id, j.run_token, j.retry_count, 1 + (
        SELECT count(*) FROM stage_runs r WHERE r.job_id = j.job_id AND r.job_variants_id IS NULL
        AND r.step = j.current_step AND r.status IN ('crashed', 'lost')) AS crashes
    FROM jobs j
    WHERE j.status = 'running' AND j.lease_until < clock_timestamp() AND j.current_step = ANY($2::text[])
), expired AS (
    UPDATE jobs j SET status = 'failed', lease_until = NULL,
        last_error = CASE WHEN d.crashes >= $3
            THEN format('failed for good: %s runs lost their worker (MAX_CRASHES %s); last: lease expired', d.crashes, $3)
            ELSE 'lease expired: the worker died or stopped sending heartbeats' END,
        retry_count = j.retry_count + CASE WHEN d.retry_count < $1 AND d.crashes < $3 THEN 1 ELSE 0 END,
        next_retry_at = CASE WHEN d.retry_count < $1 AND d.crashes < $3 THEN clock_timestamp() + make_interval(
            secs => least($4 * power(2, d.retry_count), $5) * (0.8 + 0.4 * random())) END
    FROM dead d
    WHERE j.job_id = d.job_id AND j.run_token = d.run_token AND j.status = 'running' AND j.lease_until < clock_timestamp()
    RETURNING j.job_id, j.run_token
)
UPDATE stage_runs r SET status = 'lost', error = 'lease expired', finished_at = clock_timestamp()
FROM expired e WHERE r.run_token = e.run_token
RETURNING e.job_id;

-- name: count_crashes
-- Runs of this row and step that lost their worker (a crash in it, or the whole process gone).
-- $1 job, $2 variant or NULL (job stage), $3 step
SELECT count(*) FROM stage_runs
WHERE job_id = $1 AND job_variants_id IS NOT DISTINCT FROM $2 AND step = $3 AND status IN ('crashed', 'lost');

-- name: extend_leases
-- Heartbeat: one statement extends every run this process still has. $1 run tokens, $2 lease seconds
WITH v AS (
    UPDATE jobs_variants SET lease_until = clock_timestamp() + make_interval(secs => $2)
    WHERE status = 'running' AND run_token = ANY($1::uuid[]) RETURNING run_token
), j AS (
    UPDATE jobs SET lease_until = clock_timestamp() + make_interval(secs => $2)
    WHERE status = 'running' AND run_token = ANY($1::uuid[]) RETURNING run_token
)
-- Returns the tokens extended: a run missing from them no longer holds its row (cancelled, rewound or taken
-- over), so the runner stops its work at once instead of computing what it could not commit.
SELECT run_token FROM v UNION ALL SELECT run_token FROM j;

-- name: release_variant
-- Shutdown: back to the state before the claim, no attempt used: (previous, done), or (step, failed) due
-- now when this run was a retry. Its run is marked 'released'. $1 variant, $2 run token, $3 step, $4 previous
-- run_token is cleared: a step change that keeps the token is another writer's rewind to the
-- supersede trigger of migration 0004, which would close the run as 'superseded'.
WITH released AS (
    UPDATE jobs_variants SET lease_until = NULL, run_token = NULL,
        current_step = CASE WHEN retry_count > 0 THEN current_step ELSE $4 END,
        status = CASE WHEN retry_count > 0 THEN 'failed' ELSE 'done' END,
        next_retry_at = CASE WHEN retry_count > 0 THEN clock_timestamp() END,
        last_error = CASE WHEN retry_count > 0 THEN 'released on shutdown' END
    WHERE job_variants_id = $1 AND run_token = $2 AND status = 'running' AND current_step = $3
    RETURNING $2::uuid AS run_token
)
UPDATE stage_runs r SET status = 'released', error = 'released on shutdown', finished_at = clock_timestamp()
FROM released x WHERE r.run_token = x.run_token
RETURNING r.run_token;

-- name: release_job
WITH released AS (
    UPDATE jobs SET lease_until = NULL,
        current_step = CASE WHEN retry_count > 0 THEN current_step ELSE $4 END,
        status = CASE WHEN retry_count > 0 THEN 'failed' ELSE 'done' END,
        next_retry_at = CASE WHEN retry_count > 0 THEN clock_timestamp() END,
        last_error = CASE WHEN retry_count > 0 THEN 'released on shutdown' END
    WHERE job_id = $1 AND run_token = $2 AND status = 'running' AND current_step = $3
    RETURNING run_token
)
UPDATE stage_runs r SET status = 'released', error = 'released on shutdown', finished_at = clock_timestamp()
FROM released x WHERE r.run_token = x.run_token
RETURNING r.run_token;

-- name: stalled_variants
-- (step, done) rows whose next stage never started, and failed rows whose retry is due.
-- $1 grace seconds, $2 steps that have a next variant stage, $3 our variant stages
-- The literal `current_step <> 'iou_eval'` lets the planner use the partial index of unfinished rows.
SELECT v.job_variants_id, v.job_id, j.tenant_id, v.current_step, v.status
FROM jobs_variants v JOIN jobs j USING (job_id)
WHERE ((v.status = 'done' AND v.current_step <> 'iou_eval' AND v.current_step = ANY($2::text[])
        AND v.updated_at < clock_timestamp() - make_interval(secs => $1)
        AND (v.current_step <> 'img_gen' OR EXISTS (
            SELECT 1 FROM txt_ad_copy_generations t WHERE t.job_id = v.job_id
            AND t.generation_stage = 'ad_copy_eng' AND t.status = 'done')))
    OR (v.status = 'failed' AND v.current_step = ANY($3::text[]) AND v.next_retry_at <= clock_timestamp()))
  AND v.cancelled_at IS NULL  -- cancelled (migration 0010): an upstream write cannot revive it
-- Fair order (issue 26): due retries first, then each tenant's n-th row of a step before anyone's (n+1)-th,
-- urgent jobs first within a tenant; so the LIMIT never leaves one tenant's job behind another's backlog.
ORDER BY (v.status = 'failed') DESC,
         row_number() OVER (PARTITION BY j.tenant_id, v.current_step ORDER BY EXISTS (
             SELECT 1 FROM job_priorities p WHERE p.job_id = v.job_id AND p.priority = 'urgent') DESC, v.updated_at),
         v.updated_at
LIMIT 500;

-- name: stalled_jobs
SELECT job_id, tenant_id, current_step, status FROM jobs
WHERE ((status = 'done' AND current_step <> 'instagram_feed_gen' AND current_step = ANY($2::text[])
        AND updated_at < clock_timestamp() - make_interval(secs => $1))
    OR (status = 'failed' AND current_step = ANY($3::text[]) AND next_retry_at <= clock_timestamp()))
  AND cancelled_at IS NULL  -- cancelled (migration 0010)
-- Fair order between tenants, as stalled_variants (issue 26)
ORDER BY (status = 'failed') DESC,
         row_number() OVER (PARTITION BY tenant_id, current_step ORDER BY EXISTS (
             SELECT 1 FROM job_priorities p WHERE p.job_id = jobs.job_id AND p.priority = 'urgent') DESC, updated_at),
         updated_at
LIMIT 500;

-- name: unadvanced_jobs
-- Jobs whose variants have all finished but which were not advanced (e.g. a crash in between).
-- $1 JOB_ADVANCED_STEPS (repeated literally for the partial index), $2 this service's variant stages
SELECT j.job_id FROM jobs j
WHERE (j.current_step IS NULL OR j.current_step NOT IN ('iou_eval', 'ad_copy_gen_kor', 'instagram_feed_gen'))
  AND coalesce(j.current_step, '') <> ALL($1::text[])
  AND j.cancelled_at IS NULL  -- a cancelled job stays where it was cancelled (migration 0010)
  AND EXISTS (SELECT 1 FROM jobs_variants v WHERE v.job_id = j.job_id AND v.current_step = ANY($2::text[]))
  AND NOT EXISTS (SELECT 1 FROM jobs_variants v WHERE v.job_id = j.job_id
                  AND NOT ((v.current_step = 'iou_eval' AND v.status = 'done')
                           OR (v.status = 'failed' AND v.next_retry_at IS NULL)))
LIMIT 200;

-- name: waiting_counts
-- Unfinished variants per (step, status) for /metrics (finished ones would only grow).
SELECT current_step, status, count(*) AS n FROM jobs_variants
WHERE NOT (current_step = 'iou_eval' AND status = 'done') AND current_step = ANY($1::text[])
GROUP BY 1, 2;

-- name: oldest_pending
-- /healthz lag: the oldest running or (step, done)-not-finished variant of this service's steps.
SELECT EXTRACT(EPOCH FROM clock_timestamp() - least(
    (SELECT min(updated_at) FROM jobs_variants WHERE status = 'running' AND current_step = ANY($1::text[])),
    (SELECT min(updated_at) FROM jobs_variants WHERE status = 'done' AND current_step <> 'iou_eval'
         AND current_step = ANY($1::text[]))));

-- name: waiting_report
-- Waiting that never ends by itself: variants at (img_gen, done) whose job has had no English copy for $1 s
-- (the start gate), and jobs held by a variant stuck upstream for $1 s while a sibling already reached
-- this service's stages ($2). Both read only unfinished rows (partial indexes of 05_engine.sql).
SELECT (SELECT count(*) FROM jobs_variants v
        WHERE v.status = 'done' AND v.current_step <> 'iou_eval' AND v.current_step = 'img_gen'
          AND v.updated_at < clock_timestamp() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM txt_ad_copy_generations t WHERE t.job_id = v.job_id
                          AND t.generation_stage = 'ad_copy_eng' AND t.status = 'done')) AS start_gate,
       (SELECT count(*) FROM jobs j
        WHERE (j.current_step IS NULL OR j.current_step NOT IN ('iou_eval', 'ad_copy_gen_kor', 'instagram_feed_gen'))
          AND EXISTS (SELECT 1 FROM jobs_variants v WHERE v.job_id = j.job_id AND v.current_step = ANY($2::text[]))
          AND EXISTS (SELECT 1 FROM jobs_variants v WHERE v.job_id = j.job_id
                      AND coalesce(v.current_step, '') <> ALL($2::text[])
                      AND (v.current_step IS DISTINCT FROM 'img_gen' OR v.status IS DISTINCT FROM 'done')
                      AND v.updated_at < clock_timestamp() - make_interval(secs => $1))) AS held_upstream;

-- name: overlay_of_variant
-- Before claiming: a caller's overlay_id that is not the variant's latest is a 409 if the variant owns it, else a 404.
SELECT 1 FROM overlay_layouts WHERE overlay_id = $1 AND job_variants_id = $2;

-- name: try_sweep_lock
-- One replica runs a sweep's scans at a time; the others skip that round (the lock ends with the
-- transaction, so a replica that dies mid-sweep holds nothing). $1 the sweeper's lock id
SELECT pg_try_advisory_xact_lock($1);

-- name: finished_variants_evaluations
-- The job's finished variants, each with the evaluations of its latest overlay (one row per evaluation).
SELECT v.job_variants_id, v.creation_order, e.evaluation_type, e.metrics
FROM jobs_variants v
LEFT JOIN LATERAL (SELECT overlay_id FROM overlay_layouts o WHERE o.job_variants_id = v.job_variants_id
                   ORDER BY o.created_at DESC, o.pk DESC LIMIT 1) o ON TRUE
LEFT JOIN evaluations e ON e.overlay_id = o.overlay_id
WHERE v.job_id = $1 AND v.current_step = 'iou_eval' AND v.status = 'done';

-- name: mark_selected_variant
-- Exactly one variant of the job is `selected`: $2, the best.
UPDATE jobs_variants SET selected = (job_variants_id = $2) WHERE job_id = $1;

-- name: ping
-- The listener's liveness probe on a quiet connection (and scripts/check_listener.py's reachability check).
SELECT 1;

-- name: rollback
-- The pool's reset on release (database.py): only roll back a transaction left open.
ROLLBACK;
