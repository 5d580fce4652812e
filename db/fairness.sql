-- Fair share between tenants and job priority (issue 26): the dispatcher's and the jobs API's queries.

-- name: urgent_jobs
-- Which of these jobs are urgent (the dispatcher asks once per batch of queued records). $1 job ids
SELECT job_id FROM job_priorities WHERE job_id = ANY($1::uuid[]) AND priority = 'urgent';

-- name: set_job_priority
-- $1 job, $2 'urgent' | 'normal'; NULL when the job does not exist
INSERT INTO job_priorities (job_id, priority)
SELECT job_id, $2 FROM jobs WHERE job_id = $1
ON CONFLICT (job_id) DO UPDATE SET priority = EXCLUDED.priority, updated_at = clock_timestamp()
RETURNING job_id, priority;

-- name: queue_depths
-- Rows waiting for each stage, per tenant, and how long the oldest has waited (/metrics): (after, done)
-- rows of this service's steps plus failed rows whose retry is due, read through the partial indexes of
-- unfinished rows. $1 variant steps that have a next stage, $2 variant stages, $3/$4 the same for jobs.
-- `stage` is the step the row waits at; the caller maps it to the stage that runs next.
SELECT 'variant' AS level, v.current_step AS step, v.status, j.tenant_id, count(*) AS n,
       EXTRACT(EPOCH FROM clock_timestamp() - min(coalesce(v.next_retry_at, v.updated_at))) AS oldest
FROM jobs_variants v JOIN jobs j USING (job_id)
WHERE ((v.status = 'done' AND v.current_step <> 'iou_eval' AND v.current_step = ANY($1::text[]))
       OR (v.status = 'failed' AND v.current_step = ANY($2::text[]) AND v.next_retry_at <= clock_timestamp()))
  AND v.cancelled_at IS NULL  -- cancelled rows (migration 0010) wait for nothing
GROUP BY 1, 2, 3, 4
UNION ALL
SELECT 'job', current_step, status, tenant_id, count(*),
       EXTRACT(EPOCH FROM clock_timestamp() - min(coalesce(next_retry_at, updated_at)))
FROM jobs
WHERE ((status = 'done' AND current_step <> 'instagram_feed_gen' AND current_step = ANY($3::text[]))
       OR (status = 'failed' AND current_step = ANY($4::text[]) AND next_retry_at <= clock_timestamp()))
  AND cancelled_at IS NULL
GROUP BY 1, 2, 3, 4;
