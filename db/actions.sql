-- Named queries of the operator actions (services/ops/actions.py: cancel, re-run, select, retry, replay)
-- and of the completion outbox (services/ops/outbox.py). services/engine/queries.py loads them.

-- ===== operator actions =====

-- name: action_lock_job
-- Every action on a job takes this row lock first: two replicas (or the CLI and the API) acting on the same
-- job at once run one after the other, and the second sees what the first did.
SELECT job_id, tenant_id, current_step, status, next_retry_at, cancelled_at,
       job_outcome(current_step, status, next_retry_at, cancelled_at) AS outcome
FROM jobs WHERE job_id = $1 FOR NO KEY UPDATE;

-- name: action_variants
SELECT job_variants_id, creation_order, current_step, status, next_retry_at, cancelled_at, selected
FROM jobs_variants WHERE job_id = $1 ORDER BY creation_order, created_at;

-- name: cancel_variants
-- $1 job, $2 one variant or NULL (every unfinished one), $3 reason. The run token is cleared, so a stage
-- still running for the row can no longer commit (finish_variant needs its token); its run is closed.
-- Returns the revoked tokens: the runner that holds one stops its work (and kills its worker process).
WITH target AS (
    SELECT job_variants_id, run_token, status FROM jobs_variants
    WHERE job_id = $1 AND ($2::uuid IS NULL OR job_variants_id = $2) AND cancelled_at IS NULL
      AND NOT (current_step = 'iou_eval' AND status = 'done') AND NOT (status = 'failed' AND next_retry_at IS NULL)
    FOR NO KEY UPDATE
), cancelled AS (
    UPDATE jobs_variants v SET status = 'failed', next_retry_at = NULL, lease_until = NULL, run_token = NULL,
        cancelled_at = clock_timestamp(), cancel_reason = $3, last_error = 'cancelled: ' || $3
    FROM target t WHERE v.job_variants_id = t.job_variants_id
    RETURNING v.job_variants_id, t.run_token, t.status AS was
), closed AS (
    UPDATE stage_runs r SET status = 'cancelled', error = 'cancelled: ' || $3, finished_at = clock_timestamp()
    FROM cancelled c WHERE r.run_token = c.run_token AND r.status = 'running'
    RETURNING r.run_token
)
SELECT job_variants_id, run_token, was, run_token IN (SELECT run_token FROM closed) AS stopped FROM cancelled;

-- name: cancel_job
-- $1 job, $2 reason: final for the upstream parts (status 'failed', no retry), the reason in our columns.
WITH target AS (SELECT job_id, run_token, status FROM jobs WHERE job_id = $1 FOR NO KEY UPDATE
), cancelled AS (
    UPDATE jobs j SET status = 'failed', next_retry_at = NULL, lease_until = NULL, run_token = NULL,
        cancelled_at = clock_timestamp(), cancel_reason = $2, last_error = 'cancelled: ' || $2
    FROM target t WHERE j.job_id = t.job_id
    RETURNING t.run_token, t.status AS was
), closed AS (
    UPDATE stage_runs r SET status = 'cancelled', error = 'cancelled: ' || $2, finished_at = clock_timestamp()
    FROM cancelled c WHERE r.run_token = c.run_token AND r.status = 'running'
    RETURNING r.run_token
)
SELECT run_token, was, run_token IN (SELECT run_token FROM closed) AS stopped FROM cancelled;

-- name: rewind_variants
-- Re-run from a step: back to (the step before it, done); the trigger's NOTIFY starts the step. Earlier
-- results stay; the step's own and later results are replaced as it and the rest run again.
-- $1 variant ids, $2 the step before the re-run step
UPDATE jobs_variants SET current_step = $2, status = 'done', retry_count = 0, next_retry_at = NULL,
    lease_until = NULL, run_token = NULL, last_error = NULL
WHERE job_variants_id = ANY($1::uuid[]) AND status <> 'running' AND cancelled_at IS NULL
RETURNING job_variants_id;

-- name: reopen_job
-- The job goes back to its variant phase; when the variants finish it is advanced, selects and posts again.
UPDATE jobs SET current_step = 'vlm_analyze', status = 'running', retry_count = 0, next_retry_at = NULL,
    lease_until = NULL, run_token = NULL, last_error = NULL
WHERE job_id = $1 AND cancelled_at IS NULL;

-- name: rewind_job
-- A job step again: back to (the step before it, done). $2 that step
UPDATE jobs SET current_step = $2, status = 'done', retry_count = 0, next_retry_at = NULL,
    lease_until = NULL, run_token = NULL, last_error = NULL
WHERE job_id = $1 AND status <> 'running' AND cancelled_at IS NULL
RETURNING job_id;

-- name: record_action
INSERT INTO operator_actions (job_id, job_variants_id, action, params, actor, via, result)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING action_id, created_at;

-- name: job_actions
SELECT action_id, job_variants_id, action, params, actor, via, result, created_at
FROM operator_actions WHERE job_id = $1 ORDER BY created_at, pk;

-- name: replay_count
-- Bulk replay: jobs failed for good (job_outcome 'failed'; never cancelled ones) that match the filter.
-- $1 tenant, $2 step (the job's or a variant's failed step), $3 from, $4 until (jobs.updated_at: when it failed)
SELECT count(*) FROM jobs j
WHERE j.status = 'failed' AND j.next_retry_at IS NULL AND j.cancelled_at IS NULL
  AND job_outcome(j.current_step, j.status, j.next_retry_at, j.cancelled_at) = 'failed'
  AND ($1::text IS NULL OR j.tenant_id = $1)
  AND ($2::text IS NULL OR j.current_step = $2 OR EXISTS (
      SELECT 1 FROM jobs_variants v WHERE v.job_id = j.job_id AND v.current_step = $2 AND v.status = 'failed'
      AND v.next_retry_at IS NULL AND v.cancelled_at IS NULL))
  AND ($3::timestamptz IS NULL OR j.updated_at >= $3) AND ($4::timestamptz IS NULL OR j.updated_at < $4);

-- name: replay_candidates
-- The same filter, oldest failure first, at most $5.
SELECT j.job_id, j.tenant_id, j.current_step, j.updated_at, j.last_error FROM jobs j
WHERE j.status = 'failed' AND j.next_retry_at IS NULL AND j.cancelled_at IS NULL
  AND job_outcome(j.current_step, j.status, j.next_retry_at, j.cancelled_at) = 'failed'
  AND ($1::text IS NULL OR j.tenant_id = $1)
  AND ($2::text IS NULL OR j.current_step = $2 OR EXISTS (
      SELECT 1 FROM jobs_variants v WHERE v.job_id = j.job_id AND v.current_step = $2 AND v.status = 'failed'
      AND v.next_retry_at IS NULL AND v.cancelled_at IS NULL))
  AND ($3::timestamptz IS NULL OR j.updated_at >= $3) AND ($4::timestamptz IS NULL OR j.updated_at < $4)
ORDER BY j.updated_at, j.job_id LIMIT $5;

-- ===== the completion outbox (services/ops/outbox.py) =====

-- name: outbox_claim
-- Up to $1 due deliveries, leased for $2 seconds (a replica killed mid-delivery leaves the lease to expire,
-- then another delivers: at least once). SKIP LOCKED: replicas never take the same row at the same time.
-- $3: rows older than this many seconds are not sent (a webhook configured later does not replay history).
UPDATE job_outbox o SET lease_until = clock_timestamp() + make_interval(secs => $2), attempts = o.attempts + 1
WHERE o.delivery_id IN (
    SELECT delivery_id FROM job_outbox
    WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= clock_timestamp()
      AND (lease_until IS NULL OR lease_until < clock_timestamp())
      AND created_at > clock_timestamp() - make_interval(secs => $3)
    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING o.delivery_id, o.job_id, o.payload, o.attempts;

-- name: outbox_delivered
UPDATE job_outbox SET delivered_at = clock_timestamp(), lease_until = NULL, last_status = $2, last_error = NULL
WHERE delivery_id = $1;

-- name: outbox_failed
-- $2 HTTP status or NULL, $3 error, $4 seconds until the next attempt, or NULL: give up
UPDATE job_outbox SET lease_until = NULL, last_status = $2, last_error = $3,
    next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at
                           ELSE clock_timestamp() + make_interval(secs => $4::float8) END,
    gave_up_at = CASE WHEN $4::float8 IS NULL THEN clock_timestamp() END
WHERE delivery_id = $1;

-- name: outbox_list
-- The CLI's `webhook deliveries`: newest first, optionally one job's or only the undelivered.
SELECT delivery_id, job_id, tenant_id, outcome, created_at, attempts, next_attempt_at, delivered_at, gave_up_at,
       last_status, last_error
FROM job_outbox WHERE ($1::uuid IS NULL OR job_id = $1) AND (NOT $2 OR (delivered_at IS NULL AND gave_up_at IS NULL))
ORDER BY created_at DESC, pk DESC LIMIT $3;
