-- Named queries of dashboard access and review (services/ops/access.py, routers/dashboard*.py, routers/downloads.py).
-- services/engine/queries.py loads them. Tables and indexes: db/migrations/0016_dashboard_access.sql.

-- ===== sessions (services/ops/access.py) =====

-- name: session_create
INSERT INTO dashboard_sessions (session_hash, tenant_id, login_via, csrf_token, expires_at)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5));

-- name: session_get
SELECT tenant_id, login_via, csrf_token FROM dashboard_sessions
WHERE session_hash = $1 AND revoked_at IS NULL AND expires_at > now();

-- name: session_revoke
UPDATE dashboard_sessions SET revoked_at = now() WHERE session_hash = $1 AND revoked_at IS NULL;

-- name: session_purge
-- The service's own table: sessions that ended a day ago are of no use to anyone.
DELETE FROM dashboard_sessions WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day';

-- ===== tenant checks (services/ops/access.py) =====

-- name: access_job_tenant
SELECT tenant_id FROM jobs WHERE job_id = $1;

-- name: asset_tenants
-- Every tenant an /assets file belongs to (the asset's own tenant, else its job's); index idx_image_assets_url_hash.
SELECT DISTINCT coalesce(a.tenant_id, j.tenant_id) AS tenant_id
FROM image_assets a LEFT JOIN jobs j ON j.job_id = a.job_id WHERE a.image_url = $1;

-- ===== the jobs list (routers/dashboard.py) =====

-- name: dash_custom_plans
-- Inside the list's transaction: the generic plan of dash_jobs_page's optional filters scans every job,
-- a plan per call reads the index (0.7 ms of planning).
SET LOCAL plan_cache_mode = force_custom_plan;

-- name: dash_jobs_page
-- One keyset page, newest first (outcome: job_outcome() of migration 0010, else in_progress): $1 tenant, $2 status, $3 outcome, $4 search text, $5 the same LIKE-escaped,
-- $6/$7 the last row of the previous page (created_at, job_id), $8 limit. Without a search it reads
-- idx_jobs_created_job / idx_jobs_tenant_created_job and stops after $8 rows.
WITH page AS (
    SELECT j.job_id, j.tenant_id, j.store_id, j.current_step, j.status, j.next_retry_at, j.created_at, j.updated_at,
           s.title AS store_name,
           coalesce(job_outcome(j.current_step, j.status, j.next_retry_at, j.cancelled_at), 'in_progress') AS outcome
    FROM jobs j LEFT JOIN stores s ON s.store_id = j.store_id
    WHERE ($1::text IS NULL OR j.tenant_id = $1) AND ($2::text IS NULL OR j.status = $2)
      AND ($4::text IS NULL OR j.tenant_id = $4 OR j.job_id::text LIKE lower($5) || '%'
           OR s.title ILIKE '%' || $5 || '%')
      AND ($6::timestamptz IS NULL OR (j.created_at, j.job_id) < ($6::timestamptz, $7::uuid))
      AND ($3::text IS NULL
           OR $3 = coalesce(job_outcome(j.current_step, j.status, j.next_retry_at, j.cancelled_at), 'in_progress'))
    ORDER BY j.created_at DESC, j.job_id DESC LIMIT $8)
SELECT p.*, c.variants, c.variants_finished, c.states, sel.thumbnail_url
FROM page p
LEFT JOIN LATERAL (
    SELECT count(*) AS variants,
           count(*) FILTER (WHERE v.current_step = 'iou_eval' AND v.status = 'done'
                            OR v.status = 'failed' AND v.next_retry_at IS NULL) AS variants_finished,
           coalesce(json_agg(json_build_array(v.current_step, v.status)), '[]') AS states
    FROM jobs_variants v WHERE v.job_id = p.job_id) c ON TRUE
LEFT JOIN LATERAL (
    SELECT a.image_url AS thumbnail_url FROM jobs_variants v JOIN image_assets a ON a.image_asset_id = v.overlaid_img_asset_id
    WHERE v.job_id = p.job_id AND v.selected LIMIT 1) sel ON TRUE
ORDER BY p.created_at DESC, p.job_id DESC;

-- ===== downloads (routers/downloads.py) =====

-- name: job_store_name
SELECT s.title FROM jobs j LEFT JOIN stores s ON s.store_id = j.store_id WHERE j.job_id = $1;
