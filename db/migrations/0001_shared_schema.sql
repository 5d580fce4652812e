-- Shared tables of the data contract (../shared/data-contract.md). Safe to run again.
-- uuid-ossp where it is installed; otherwise (the embedded server) the same function over the
-- built-in gen_random_uuid(), so every DEFAULT uuid_generate_v4() of the contract works.
DO $$ BEGIN
    CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
EXCEPTION WHEN OTHERS THEN
    CREATE OR REPLACE FUNCTION uuid_generate_v4() RETURNS uuid LANGUAGE sql AS 'SELECT gen_random_uuid()';
END $$;

CREATE TABLE IF NOT EXISTS users (
    pk SERIAL, user_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), uid VARCHAR(255) UNIQUE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS tenants (
    pk SERIAL, tenant_id VARCHAR(255) PRIMARY KEY, display_name VARCHAR(255), uid VARCHAR(255) UNIQUE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS image_assets (
    pk SERIAL, image_asset_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), image_type VARCHAR(50),
    image_url TEXT NOT NULL, mask_url TEXT, width INTEGER, height INTEGER,
    creator_id UUID REFERENCES users(user_id), tenant_id VARCHAR(255) REFERENCES tenants(tenant_id),
    job_id UUID,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS stores (
    pk SERIAL, store_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), user_id UUID REFERENCES users(user_id),
    image_id UUID REFERENCES image_assets(image_asset_id), title VARCHAR(500), body TEXT,
    store_category TEXT, auto_scoring_flag BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS tone_styles (
    pk SERIAL, tone_style_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), code TEXT, kor_name TEXT,
    eng_name TEXT, description TEXT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS jobs (
    pk SERIAL, job_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    tenant_id VARCHAR(255) REFERENCES tenants(tenant_id), store_id UUID REFERENCES stores(store_id),
    status TEXT DEFAULT 'queued', current_step TEXT, version TEXT, retry_count INTEGER DEFAULT 0,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

DO $$ BEGIN
    ALTER TABLE image_assets ADD CONSTRAINT image_assets_job_id_fkey FOREIGN KEY (job_id) REFERENCES jobs(job_id);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE TABLE IF NOT EXISTS job_inputs (
    pk SERIAL, job_id UUID PRIMARY KEY REFERENCES jobs(job_id), img_asset_id UUID REFERENCES image_assets(image_asset_id),
    tone_style_id UUID REFERENCES tone_styles(tone_style_id), desc_kor TEXT, desc_eng TEXT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS jobs_variants (
    pk SERIAL, job_variants_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs(job_id),
    img_asset_id UUID REFERENCES image_assets(image_asset_id), creation_order INTEGER NOT NULL,
    selected BOOLEAN DEFAULT FALSE, status TEXT DEFAULT 'queued', current_step TEXT,
    retry_count INTEGER DEFAULT 0, overlaid_img_asset_id UUID REFERENCES image_assets(image_asset_id),
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS llm_models (
    pk SERIAL, llm_model_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), model_name VARCHAR(255) NOT NULL,
    model_version VARCHAR(255), provider VARCHAR(255) NOT NULL, default_temperature FLOAT,
    default_max_tokens INTEGER, prompt_token_cost_per_1m FLOAT, completion_token_cost_per_1m FLOAT,
    description TEXT, is_active VARCHAR(10) DEFAULT 'true',
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS llm_traces (
    pk SERIAL, llm_trace_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs(job_id),
    provider TEXT, llm_model_id UUID REFERENCES llm_models(llm_model_id) ON DELETE SET NULL,
    tone_style_id UUID REFERENCES tone_styles(tone_style_id), enhanced_img_id UUID REFERENCES image_assets(image_asset_id),
    prompt_id UUID, operation_type TEXT, request JSONB, response JSONB, latency_ms FLOAT,
    prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, token_usage JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS txt_ad_copy_generations (
    pk SERIAL, ad_copy_gen_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    job_id UUID NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    llm_trace_id UUID REFERENCES llm_traces(llm_trace_id) ON DELETE SET NULL,
    generation_stage TEXT NOT NULL, ad_copy_kor TEXT, ad_copy_eng TEXT, refined_ad_copy_eng TEXT,
    status TEXT DEFAULT 'queued',
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS vlm_prompt_assets (
    pk SERIAL, prompt_asset_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), prompt_type TEXT,
    prompt_version TEXT, prompt JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS vlm_traces (
    pk SERIAL, vlm_trace_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs(job_id),
    job_variants_id UUID REFERENCES jobs_variants(job_variants_id) ON DELETE SET NULL, provider TEXT,
    prompt_id UUID REFERENCES vlm_prompt_assets(prompt_asset_id) ON DELETE SET NULL, operation_type TEXT,
    request JSONB, response JSONB, latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS detections (
    pk SERIAL, detection_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    image_asset_id UUID REFERENCES image_assets(image_asset_id), model_id UUID, job_id UUID REFERENCES jobs(job_id),
    box JSONB, label VARCHAR(255), score DECIMAL(5,4),
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS yolo_runs (
    pk SERIAL, yolo_run_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID UNIQUE REFERENCES jobs(job_id),
    image_asset_id UUID REFERENCES image_assets(image_asset_id), forbidden_mask_url TEXT,
    model_name VARCHAR(255), detection_count INTEGER DEFAULT 0, latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS planner_proposals (
    pk SERIAL, proposal_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    image_asset_id UUID REFERENCES image_assets(image_asset_id), prompt TEXT, layout JSONB, latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS overlay_layouts (
    pk SERIAL, overlay_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    proposal_id UUID REFERENCES planner_proposals(proposal_id),
    job_variants_id UUID REFERENCES jobs_variants(job_variants_id), layout JSONB,
    x_ratio DECIMAL(5,4), y_ratio DECIMAL(5,4), width_ratio DECIMAL(5,4), height_ratio DECIMAL(5,4),
    text_margin VARCHAR(50), latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS renders (
    pk SERIAL, render_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    overlay_id UUID REFERENCES overlay_layouts(overlay_id), image_asset_id UUID REFERENCES image_assets(image_asset_id),
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS evaluations (
    pk SERIAL, evaluation_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs(job_id),
    overlay_id UUID REFERENCES overlay_layouts(overlay_id), evaluation_type VARCHAR(50) NOT NULL,
    metrics JSONB NOT NULL,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);

CREATE TABLE IF NOT EXISTS instagram_feeds (
    pk SERIAL, instagram_feed_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), job_id UUID REFERENCES jobs(job_id),
    llm_trace_id UUID REFERENCES llm_traces(llm_trace_id) ON DELETE SET NULL,
    overlay_id UUID REFERENCES overlay_layouts(overlay_id), tenant_id VARCHAR(255) NOT NULL,
    refined_ad_copy_eng TEXT NOT NULL, ad_copy_kor TEXT, tone_style TEXT NOT NULL,
    product_description TEXT NOT NULL, gpt_prompt TEXT NOT NULL, instagram_ad_copy TEXT NOT NULL,
    hashtags TEXT NOT NULL, used_temperature FLOAT, used_max_tokens INTEGER, latency_ms FLOAT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);
