-- Named queries of the read models and the HTTP routers: the jobs view (API and dashboard,
-- services/engine/jobs_view.py) and the manual retry (services/ops/actions.py). services/engine/queries.py loads them.

-- ===== one job (services/engine/jobs_view.py) =====

-- name: view_job
SELECT job_id, tenant_id, current_step, status, retry_count, last_error, next_retry_at, created_at, updated_at,
       cancelled_at, cancel_reason, job_outcome(current_step, status, next_retry_at, cancelled_at) AS outcome
FROM jobs WHERE job_id = $1;

-- name: view_variants
SELECT v.job_variants_id, v.creation_order, v.current_step, v.status, v.retry_count, v.last_error, v.next_retry_at,
       v.selected, v.cancelled_at, v.cancel_reason, v.img_asset_id, src.image_url, v.overlaid_img_asset_id, ov.image_url AS overlaid_image_url,
       o.overlay_id, v.created_at, v.updated_at
FROM jobs_variants v
LEFT JOIN image_assets src ON src.image_asset_id = v.img_asset_id
LEFT JOIN image_assets ov ON ov.image_asset_id = v.overlaid_img_asset_id
LEFT JOIN LATERAL (SELECT overlay_id FROM overlay_layouts WHERE job_variants_id = v.job_variants_id
                   ORDER BY created_at DESC, pk DESC LIMIT 1) o ON TRUE
WHERE v.job_id = $1 ORDER BY v.creation_order, v.created_at;

-- name: view_renders
-- Every render of the variants' latest overlays with its format (migration 0015; NULL = the original), and for a
-- format the overlay stage's checks of it (its record in the overlay layout's formats).
SELECT r.overlay_id, r.render_id, COALESCE(r.format, 'original') AS format, a.image_url, a.width, a.height,
       (SELECT jsonb_build_object('contrast_after', f->'contrast_after', 'text_over_face', f->'frame'->'text_over_face',
                                  'whole', f->'whole', 'ocr', f->'ocr')
        FROM overlay_layouts ol, jsonb_array_elements(ol.layout->'formats') f
        WHERE ol.overlay_id = r.overlay_id AND f->>'render_id' = r.render_id::text) AS checks
FROM renders r JOIN image_assets a ON a.image_asset_id = r.image_asset_id
WHERE r.overlay_id = ANY($1::uuid[]) ORDER BY r.overlay_id, a.width * 1.0 / NULLIF(a.height, 0) DESC, r.pk;

-- name: view_evaluations
SELECT overlay_id, evaluation_type, metrics FROM evaluations WHERE overlay_id = ANY($1::uuid[]);

-- name: view_stage_runs
SELECT job_variants_id, step, attempt, status, error, worker, started_at, finished_at,
       EXTRACT(EPOCH FROM finished_at - started_at) * 1000 AS duration_ms
FROM stage_runs WHERE job_id = $1 ORDER BY started_at, run_id;

-- name: view_texts
SELECT DISTINCT ON (generation_stage) generation_stage, ad_copy_eng, refined_ad_copy_eng, ad_copy_kor
FROM txt_ad_copy_generations WHERE job_id = $1 AND status = 'done'
ORDER BY generation_stage, created_at DESC, pk DESC;

-- name: view_feed
SELECT instagram_feed_id, instagram_ad_copy, hashtags, ad_copy_kor, refined_ad_copy_eng, tone_style,
       product_description, used_temperature, used_max_tokens, latency_ms, overlay_id, created_at,
       (SELECT provider FROM llm_traces t WHERE t.llm_trace_id = f.llm_trace_id) AS provider
FROM instagram_feeds f WHERE job_id = $1;

-- ===== recent jobs (services/engine/jobs_view.py) =====

-- name: view_recent_jobs
-- $1 tenant or NULL, $2 status or NULL, $3 limit, $4 finished (true/false) or NULL, $5 outcome or NULL
WITH recent AS (  -- the LIMIT applies to jobs first, so the aggregate touches only their variants
    SELECT job_id, tenant_id, current_step, status, created_at, updated_at,
           job_outcome(current_step, status, next_retry_at, cancelled_at) AS outcome FROM jobs
    WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)
      AND ($4::bool IS NULL OR (job_outcome(current_step, status, next_retry_at, cancelled_at) IS NOT NULL) = $4)
      AND ($5::text IS NULL OR job_outcome(current_step, status, next_retry_at, cancelled_at) = $5)
    ORDER BY created_at DESC LIMIT $3)
SELECT j.job_id, j.tenant_id, j.current_step, j.status, j.created_at, j.updated_at, j.outcome,
       count(v.*) AS variants,
       count(v.*) FILTER (WHERE v.current_step = 'iou_eval' AND v.status = 'done'
                          OR v.status = 'failed' AND v.next_retry_at IS NULL) AS variants_finished,
       coalesce(json_agg(json_build_array(v.current_step, v.status)) FILTER (WHERE v.job_variants_id IS NOT NULL),
                '[]') AS states
FROM recent j LEFT JOIN jobs_variants v USING (job_id)
GROUP BY j.job_id, j.tenant_id, j.current_step, j.status, j.created_at, j.updated_at, j.outcome
ORDER BY j.created_at DESC;

-- ===== manual retry (routers/jobs.py, POST /api/yh/jobs/{id}/retry) =====

-- name: requeue_variants
-- $2 this service's variant steps: a row that failed upstream (user_img_input, img_gen) is not ours to re-run.
-- A cancelled row (cancelled_at, migration 0010) is never re-run.
UPDATE jobs_variants SET next_retry_at = clock_timestamp(), retry_count = 0
WHERE job_id = $1 AND status = 'failed' AND current_step = ANY($2::text[]) AND cancelled_at IS NULL
RETURNING job_variants_id;

-- name: requeue_job
-- A job that failed because every variant failed goes back to the variant phase.
-- $2 the job steps (and the last variant step), $3 whether a variant was requeued
UPDATE jobs SET next_retry_at = clock_timestamp(), retry_count = 0,
    current_step = CASE WHEN current_step = 'iou_eval' THEN 'vlm_analyze' ELSE current_step END,
    status = CASE WHEN current_step = 'iou_eval' THEN 'running' ELSE status END
WHERE job_id = $1 AND status = 'failed' AND current_step = ANY($2::text[]) AND cancelled_at IS NULL
  AND (current_step <> 'iou_eval' OR $3)  -- back to the variant phase only if a variant will run again
RETURNING job_id;
