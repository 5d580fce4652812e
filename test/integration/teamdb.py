"""A "team database": the contract schema as the other parts created it, seed 002's SQL, and history."""
import asyncpg

# The tables of data-contract.md as the upstream parts created them: not this service's files, none of
# its additions (no run_token, no stage_runs, yolo_runs.job_id still UNIQUE, duplicates allowed).
CONTRACT_DDL = """
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE TABLE users (pk SERIAL, user_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), uid VARCHAR(255) UNIQUE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE tenants (pk SERIAL, tenant_id VARCHAR(255) PRIMARY KEY, display_name VARCHAR(255), uid VARCHAR(255) UNIQUE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE stores (pk SERIAL, store_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), user_id UUID REFERENCES users,
    image_id UUID, title VARCHAR(500), body TEXT, store_category TEXT, auto_scoring_flag BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE tone_styles (pk SERIAL, tone_style_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), code TEXT,
    kor_name TEXT, eng_name TEXT, description TEXT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE jobs (pk SERIAL, job_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), tenant_id VARCHAR(255) REFERENCES tenants,
    store_id UUID REFERENCES stores, status TEXT DEFAULT 'queued', current_step TEXT, version TEXT,
    retry_count INTEGER DEFAULT 0,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE image_assets (pk SERIAL, image_asset_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), image_type VARCHAR(50),
    image_url TEXT NOT NULL, mask_url TEXT, width INTEGER, height INTEGER, creator_id UUID REFERENCES users,
    tenant_id VARCHAR(255) REFERENCES tenants, job_id UUID REFERENCES jobs,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
ALTER TABLE stores ADD FOREIGN KEY (image_id) REFERENCES image_assets;
CREATE TABLE job_inputs (pk SERIAL, job_id UUID PRIMARY KEY REFERENCES jobs, img_asset_id UUID REFERENCES image_assets,
    tone_style_id UUID REFERENCES tone_styles, desc_kor TEXT, desc_eng TEXT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE jobs_variants (pk SERIAL, job_variants_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    job_id UUID REFERENCES jobs, img_asset_id UUID REFERENCES image_assets, creation_order INTEGER NOT NULL,
    selected BOOLEAN DEFAULT FALSE, retry_count INTEGER DEFAULT 0, overlaid_img_asset_id UUID REFERENCES image_assets,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE llm_models (pk SERIAL, llm_model_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), model_name VARCHAR(255) NOT NULL,
    model_version VARCHAR(255), provider VARCHAR(255) NOT NULL, default_temperature FLOAT, default_max_tokens INTEGER,
    prompt_token_cost_per_1m FLOAT, completion_token_cost_per_1m FLOAT, description TEXT, is_active VARCHAR(10) DEFAULT 'true',
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE llm_traces (pk SERIAL, llm_trace_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs,
    provider TEXT, llm_model_id UUID REFERENCES llm_models ON DELETE SET NULL, tone_style_id UUID REFERENCES tone_styles,
    enhanced_img_id UUID REFERENCES image_assets, prompt_id UUID, operation_type TEXT, request JSONB, response JSONB,
    latency_ms FLOAT, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, token_usage JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE txt_ad_copy_generations (pk SERIAL, ad_copy_gen_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    job_id UUID NOT NULL REFERENCES jobs ON DELETE CASCADE, llm_trace_id UUID REFERENCES llm_traces ON DELETE SET NULL,
    generation_stage TEXT NOT NULL, ad_copy_kor TEXT, ad_copy_eng TEXT, refined_ad_copy_eng TEXT,
    status TEXT DEFAULT 'queued',
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE vlm_prompt_assets (pk SERIAL, prompt_asset_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), prompt_type TEXT,
    prompt_version TEXT, prompt JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE vlm_traces (pk SERIAL, vlm_trace_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs,
    job_variants_id UUID REFERENCES jobs_variants ON DELETE SET NULL, provider TEXT,
    prompt_id UUID REFERENCES vlm_prompt_assets ON DELETE SET NULL, operation_type TEXT, request JSONB, response JSONB,
    latency_ms FLOAT, created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE detections (pk SERIAL, detection_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    image_asset_id UUID REFERENCES image_assets, model_id UUID, job_id UUID REFERENCES jobs, box JSONB,
    label VARCHAR(255), score DECIMAL(5,4),
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE yolo_runs (pk SERIAL, yolo_run_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID UNIQUE REFERENCES jobs,
    image_asset_id UUID REFERENCES image_assets, forbidden_mask_url TEXT, model_name VARCHAR(255),
    detection_count INTEGER DEFAULT 0, latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE planner_proposals (pk SERIAL, proposal_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    image_asset_id UUID REFERENCES image_assets, prompt TEXT, layout JSONB, latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE overlay_layouts (pk SERIAL, overlay_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    proposal_id UUID REFERENCES planner_proposals, job_variants_id UUID REFERENCES jobs_variants, layout JSONB,
    x_ratio DECIMAL(5,4), y_ratio DECIMAL(5,4), width_ratio DECIMAL(5,4), height_ratio DECIMAL(5,4),
    text_margin VARCHAR(50), latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE renders (pk SERIAL, render_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    overlay_id UUID REFERENCES overlay_layouts, image_asset_id UUID REFERENCES image_assets,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE evaluations (pk SERIAL, evaluation_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs,
    overlay_id UUID REFERENCES overlay_layouts, evaluation_type VARCHAR(50) NOT NULL, metrics JSONB NOT NULL,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE instagram_feeds (pk SERIAL, instagram_feed_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    job_id UUID REFERENCES jobs, llm_trace_id UUID REFERENCES llm_traces ON DELETE SET NULL,
    overlay_id UUID REFERENCES overlay_layouts, tenant_id VARCHAR(255) NOT NULL, refined_ad_copy_eng TEXT NOT NULL,
    ad_copy_kor TEXT, tone_style TEXT NOT NULL, product_description TEXT NOT NULL, gpt_prompt TEXT NOT NULL,
    instagram_ad_copy TEXT NOT NULL, hashtags TEXT NOT NULL, used_temperature FLOAT, used_max_tokens INTEGER,
    latency_ms FLOAT, created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
"""

# Seed 002's SQL as written there (1단계 schema change, option A notify trigger, option C job trigger).
SEED_002_SQL = """
ALTER TABLE jobs_variants
ADD COLUMN IF NOT EXISTS status TEXT DEFAULT 'queued',
ADD COLUMN IF NOT EXISTS current_step TEXT,
ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP;
CREATE INDEX IF NOT EXISTS idx_jobs_variants_status ON jobs_variants(status);
CREATE INDEX IF NOT EXISTS idx_jobs_variants_current_step ON jobs_variants(current_step);
CREATE INDEX IF NOT EXISTS idx_jobs_variants_job_id_status ON jobs_variants(job_id, status);

CREATE OR REPLACE FUNCTION notify_job_variant_state_change()
RETURNS TRIGGER AS $$
BEGIN
    IF (OLD.current_step IS DISTINCT FROM NEW.current_step
       OR OLD.status IS DISTINCT FROM NEW.status) THEN
        PERFORM pg_notify('job_variant_state_changed',
            json_build_object(
                'job_variants_id', NEW.job_variants_id,
                'job_id', NEW.job_id,
                'current_step', NEW.current_step,
                'status', NEW.status,
                'img_asset_id', NEW.img_asset_id
            )::text
        );
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER job_variant_state_change_trigger
    AFTER UPDATE ON jobs_variants
    FOR EACH ROW
    WHEN (OLD.current_step IS DISTINCT FROM NEW.current_step
       OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_job_variant_state_change();

CREATE OR REPLACE FUNCTION check_all_variants_done()
RETURNS TRIGGER AS $$
DECLARE
    total_count INTEGER;
    done_count INTEGER;
BEGIN
    SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'done')
    INTO total_count, done_count
    FROM jobs_variants
    WHERE job_id = NEW.job_id;

    IF total_count > 0 AND done_count = total_count THEN
        UPDATE jobs
        SET status = 'done',
            current_step = 'iou_eval',
            updated_at = CURRENT_TIMESTAMP
        WHERE job_id = NEW.job_id;
    END IF;

    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER check_all_variants_done_trigger
    AFTER UPDATE ON jobs_variants
    FOR EACH ROW
    WHEN (NEW.status = 'done')
    EXECUTE FUNCTION check_all_variants_done();
"""

# Months of finished jobs, bulk-inserted: 3 variants each at (iou_eval, done) with an overlay and four
# evaluations, one feed per job; every DUP_EVERY-th job has a second feed and a repeated evaluation.
HISTORY_SQL = """
INSERT INTO tenants (tenant_id, display_name) VALUES ('team_history', 'History');
INSERT INTO stores (title, body, store_category) VALUES ('해오름 커피', '연남동', '카페');
INSERT INTO jobs (tenant_id, store_id, status, current_step, created_at, updated_at)
SELECT 'team_history', (SELECT store_id FROM stores LIMIT 1), 'done', 'instagram_feed_gen',
       now() - make_interval(days => 90) + make_interval(mins => g), now() - make_interval(days => 90) + make_interval(mins => g)
FROM generate_series(1, {jobs}) g;
INSERT INTO image_assets (image_type, image_url, width, height, tenant_id, job_id)
SELECT 'generated', '/assets/history/' || j.pk || '_' || v || '.png', 1080, 1080, 'team_history', j.job_id
FROM jobs j, generate_series(1, 3) v;
INSERT INTO jobs_variants (job_id, img_asset_id, creation_order, selected, status, current_step, created_at, updated_at)
SELECT a.job_id, a.image_asset_id, row_number() OVER (PARTITION BY a.job_id ORDER BY a.pk), false, 'done', 'iou_eval',
       a.created_at, a.created_at
FROM image_assets a;
INSERT INTO overlay_layouts (job_variants_id, layout, x_ratio, y_ratio, width_ratio, height_ratio)
SELECT job_variants_id, '{{"font_size": 48}}', 0.1, 0.7, 0.8, 0.2 FROM jobs_variants;
INSERT INTO evaluations (job_id, overlay_id, evaluation_type, metrics)
SELECT v.job_id, o.overlay_id, t, jsonb_build_object('score', (o.pk % 97) / 100.0)
FROM overlay_layouts o JOIN jobs_variants v USING (job_variants_id), unnest(ARRAY['llava_judge', 'ocr', 'readability', 'iou']) t;
INSERT INTO evaluations (job_id, overlay_id, evaluation_type, metrics)
SELECT v.job_id, o.overlay_id, 'ocr', '{{"score": 0.5, "rerun": true}}'
FROM overlay_layouts o JOIN jobs_variants v USING (job_variants_id) JOIN jobs j USING (job_id)
WHERE j.pk % {dup_every} = 0 AND v.creation_order = 1;
INSERT INTO instagram_feeds (job_id, tenant_id, refined_ad_copy_eng, tone_style, product_description, gpt_prompt,
                             instagram_ad_copy, hashtags)
SELECT j.job_id, 'team_history', 'Fresh coffee', 'friendly', 'coffee', 'prompt', '오늘의 커피 ' || j.pk || '-' || n, '#카페'
FROM jobs j, generate_series(1, 2) n WHERE n = 1 OR j.pk % {dup_every} = 0;
"""
HASHED_TABLES = ("jobs", "jobs_variants", "image_assets", "overlay_layouts", "evaluations", "instagram_feeds")


async def build(url: str, jobs: int = 3000, dup_every: int = 100, legacy_trigger: bool = True) -> dict[str, int]:
    """Create the team schema, seed 002's SQL and the history in `url` (empty); returns {table: last history pk}."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"ALTER DATABASE {conn._params.database} SET timezone = 'Asia/Seoul'")
        await conn.execute(CONTRACT_DDL)
        await conn.execute(SEED_002_SQL if legacy_trigger else SEED_002_SQL.split("CREATE OR REPLACE FUNCTION check_all")[0])
        await conn.execute(HISTORY_SQL.format(jobs=int(jobs), dup_every=int(dup_every)))
        return {t: await conn.fetchval(f"SELECT max(pk) FROM {t}") for t in HASHED_TABLES}
    finally:
        await conn.close()


async def columns_of(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """The columns each hashed table has now (before the service adds its own)."""
    return {t: [r["column_name"] for r in await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position", t)]
        for t in HASHED_TABLES}


async def fingerprint(conn: asyncpg.Connection, columns: dict[str, list[str]], last_pk: dict[str, int]) -> dict[str, str]:
    """Row count and md5 over every historical row (the given columns, in pk order) of each hashed table."""
    result = {}
    for table, cols in columns.items():
        row = ", ".join(f'"{c}"' for c in cols)
        result[table] = await conn.fetchval(
            f"SELECT count(*) || ':' || md5(string_agg(md5(ROW({row})::text), ',' ORDER BY pk)) FROM {table} "
            "WHERE pk <= $1", last_pk[table])
    return result
