-- Named queries of the stage handlers (services/stages/): what a stage reads before its work and what it
-- writes in its commit. `-- name: x` starts a query; services/engine/queries.py loads every db/*.sql.

-- ===== inputs (services/stages/inputs.py) =====

-- name: image_asset
SELECT image_asset_id, image_url FROM image_assets WHERE image_asset_id = $1;

-- name: variant_image_asset_id
SELECT img_asset_id FROM jobs_variants WHERE job_variants_id = $1;

-- name: latest_refined_copy
SELECT refined_ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = $1 AND generation_stage = 'refined_ad_copy'
  AND status = 'done' AND refined_ad_copy_eng <> '' ORDER BY created_at DESC, pk DESC LIMIT 1;

-- name: latest_english_copy
SELECT ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = $1 AND generation_stage = 'ad_copy_eng'
  AND status = 'done' ORDER BY created_at DESC, pk DESC LIMIT 1;

-- name: variant_detections
SELECT detection_id, box, label, score FROM detections WHERE job_variants_id = $1 ORDER BY pk;

-- name: latest_proposal
SELECT proposal_id, layout FROM planner_proposals WHERE job_variants_id = $1 ORDER BY created_at DESC, pk DESC LIMIT 1;

-- name: variant_proposal
-- A caller's proposal_id: (planner row, candidate index); candidate 0 carries the row's own id.
SELECT p.proposal_id, p.layout, c.ord - 1 AS idx FROM planner_proposals p
CROSS JOIN LATERAL jsonb_array_elements(p.layout -> 'candidates') WITH ORDINALITY AS c(cand, ord)
WHERE p.job_variants_id = $1
  AND (c.cand ->> 'proposal_id' = $2::uuid::text OR (c.ord = 1 AND p.proposal_id = $2::uuid))
ORDER BY p.created_at DESC, p.pk DESC LIMIT 1;

-- name: variant_overlay
-- The overlay to evaluate: $2 the requested one (it must belong to the variant), or NULL for the latest.
SELECT o.overlay_id, o.layout, a.image_url FROM overlay_layouts o
JOIN renders r ON r.overlay_id = o.overlay_id JOIN image_assets a ON a.image_asset_id = r.image_asset_id
WHERE o.job_variants_id = $1 AND ($2::uuid IS NULL OR o.overlay_id = $2)
  AND COALESCE(r.format, 'original') = 'original' -- the other formats' renders are checked in the overlay stage
ORDER BY o.created_at DESC, o.pk DESC LIMIT 1;

-- name: upsert_evaluation
-- One evaluation per (overlay, type): a re-run replaces it.
INSERT INTO evaluations (job_id, overlay_id, evaluation_type, metrics) VALUES ($1, $2, $3, $4)
ON CONFLICT (overlay_id, evaluation_type, dedup_slot) DO UPDATE SET metrics = EXCLUDED.metrics,
    updated_at = CURRENT_TIMESTAMP RETURNING evaluation_id;

-- ===== image stages (services/stages/image.py) =====

-- name: has_refined_copy
-- A sibling variant may already have refined the copy: then this one needs no LLM call (vlm_analyze's load),
-- and a later refinement keeps the first (its save).
SELECT 1 FROM txt_ad_copy_generations WHERE job_id = $1 AND generation_stage = 'refined_ad_copy' AND status = 'done';

-- name: insert_vlm_trace_analyze
INSERT INTO vlm_traces (job_id, job_variants_id, provider, operation_type, request, response, latency_ms,
    prompt_id) VALUES ($1, $2, $3, 'analyze', $4, $5, $6, $7) RETURNING vlm_trace_id;

-- name: lock_job_refinement
-- Variants do not wait for each other: the first that needs a refined copy writes it (under this per-job
-- lock, until the commit), later ones keep it, so the job has one refined copy. $1 the job id as text
SELECT pg_advisory_xact_lock(hashtext($1::text));

-- name: insert_refined_copy
INSERT INTO txt_ad_copy_generations (job_id, llm_trace_id, generation_stage, ad_copy_eng,
    refined_ad_copy_eng, status) VALUES ($1, $2, 'refined_ad_copy', $3, $4, 'done');

-- name: delete_detections
DELETE FROM detections WHERE job_variants_id = $1;

-- name: insert_detection
INSERT INTO detections (image_asset_id, job_id, job_variants_id, box, label, score)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING detection_id;

-- name: insert_mask_asset
INSERT INTO image_assets (image_type, image_url, width, height, tenant_id, job_id)
VALUES ('forbidden_mask', $1, $2, $3, $4, $5) RETURNING image_asset_id;

-- name: upsert_yolo_run
INSERT INTO yolo_runs (job_id, job_variants_id, image_asset_id, forbidden_mask_url, model_name,
    detection_count, latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (job_variants_id) DO UPDATE SET image_asset_id = EXCLUDED.image_asset_id,
    forbidden_mask_url = EXCLUDED.forbidden_mask_url, model_name = EXCLUDED.model_name,
    detection_count = EXCLUDED.detection_count, latency_ms = EXCLUDED.latency_ms,
    updated_at = CURRENT_TIMESTAMP;

-- name: insert_planner_proposal
INSERT INTO planner_proposals (proposal_id, image_asset_id, job_variants_id, prompt, layout, latency_ms)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: insert_overlaid_asset
INSERT INTO image_assets (image_type, image_url, width, height, tenant_id, job_id)
VALUES ('overlaid', $1, $2, $3, $4, $5) RETURNING image_asset_id;

-- name: insert_overlay_layout
INSERT INTO overlay_layouts (proposal_id, job_variants_id, layout, x_ratio, y_ratio, width_ratio,
    height_ratio, text_margin, latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING overlay_id;

-- name: insert_render
INSERT INTO renders (overlay_id, image_asset_id, format) VALUES ($1, $2, 'original') RETURNING render_id;

-- name: insert_format_render
-- One Instagram format of an overlay (migration 0015): planned and rendered for its own frame.
INSERT INTO renders (overlay_id, image_asset_id, format) VALUES ($1, $2, $3) RETURNING render_id;

-- name: set_overlay_formats
UPDATE overlay_layouts SET layout = jsonb_set(layout, '{formats}', $2::jsonb) WHERE overlay_id = $1;

-- name: set_overlaid_asset
UPDATE jobs_variants SET overlaid_img_asset_id = $2 WHERE job_variants_id = $1;

-- ===== evaluation stages (services/stages/evaluate.py) =====

-- name: insert_vlm_trace_judge
INSERT INTO vlm_traces (job_id, job_variants_id, provider, operation_type, request, response, latency_ms,
    prompt_id) VALUES ($1, $2, $3, 'judge', $4, $5, $6, $7) RETURNING vlm_trace_id;

-- ===== text stages (services/stages/text.py, services/stages/registry.py) =====

-- name: insert_llm_trace
-- One llm_traces row per call, with the provider that really ran.
INSERT INTO llm_traces (job_id, provider, tone_style_id, prompt_id, operation_type, request, response,
    latency_ms, prompt_tokens, completion_tokens, total_tokens, token_usage, llm_model_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING llm_trace_id;

-- name: job_context
-- Owner's description, tone and store of the job, as the prompts and the offline writer need.
SELECT ji.desc_kor, ji.desc_eng, ji.tone_style_id, t.kor_name, t.eng_name, t.code,
       s.title, s.body, s.store_category
FROM jobs j LEFT JOIN job_inputs ji USING (job_id) LEFT JOIN tone_styles t USING (tone_style_id)
LEFT JOIN stores s ON s.store_id = j.store_id WHERE j.job_id = $1;

-- name: delete_korean_copy
-- A re-run replaces the job's Korean copy instead of adding a second one.
DELETE FROM txt_ad_copy_generations WHERE job_id = $1 AND generation_stage = 'eng_to_kor';

-- name: insert_korean_copy
INSERT INTO txt_ad_copy_generations (job_id, llm_trace_id, generation_stage, ad_copy_eng, ad_copy_kor, status)
VALUES ($1, $2, 'eng_to_kor', $3, $4, 'done') RETURNING ad_copy_gen_id;

-- name: latest_korean_copy
SELECT ad_copy_kor FROM txt_ad_copy_generations WHERE job_id = $1 AND generation_stage = 'eng_to_kor' AND status = 'done'
ORDER BY created_at DESC, pk DESC LIMIT 1;

-- name: selected_overlay
SELECT o.overlay_id FROM jobs_variants v JOIN overlay_layouts o USING (job_variants_id)
WHERE v.job_id = $1 AND v.selected ORDER BY o.created_at DESC, o.pk DESC LIMIT 1;

-- name: job_tenant
SELECT tenant_id FROM jobs WHERE job_id = $1;

-- name: upsert_instagram_feed
-- The job's one post (a unique index on (job_id, dedup_slot)): a re-run replaces it.
INSERT INTO instagram_feeds (job_id, llm_trace_id, overlay_id, tenant_id, refined_ad_copy_eng, ad_copy_kor,
    tone_style, product_description, gpt_prompt, instagram_ad_copy, hashtags, used_temperature,
    used_max_tokens, latency_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (job_id, dedup_slot) DO UPDATE SET llm_trace_id = EXCLUDED.llm_trace_id, overlay_id = EXCLUDED.overlay_id,
    refined_ad_copy_eng = EXCLUDED.refined_ad_copy_eng, ad_copy_kor = EXCLUDED.ad_copy_kor,
    tone_style = EXCLUDED.tone_style, product_description = EXCLUDED.product_description,
    gpt_prompt = EXCLUDED.gpt_prompt, instagram_ad_copy = EXCLUDED.instagram_ad_copy,
    hashtags = EXCLUDED.hashtags, used_temperature = EXCLUDED.used_temperature,
    used_max_tokens = EXCLUDED.used_max_tokens, latency_ms = EXCLUDED.latency_ms,
    updated_at = CURRENT_TIMESTAMP
RETURNING instagram_feed_id;
