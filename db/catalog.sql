-- Named queries of the prompt and model catalogue (services/stages/catalog.py) and of a job's usage (jobs API).
-- Ids are content hashes: a conflict means the same row already exists, so nothing is ever rewritten.

-- name: insert_prompt_asset
INSERT INTO vlm_prompt_assets (prompt_asset_id, prompt_type, prompt_version, prompt) VALUES ($1, $2, $3, $4)
ON CONFLICT (prompt_asset_id) DO NOTHING;

-- name: insert_llm_model
INSERT INTO llm_models (llm_model_id, model_name, model_version, provider, default_temperature, default_max_tokens,
    prompt_token_cost_per_1m, completion_token_cost_per_1m, description)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (llm_model_id) DO NOTHING;

-- name: view_job_llm_usage
-- Tokens and cost of a job's LLM calls per model; a trace without a model row (written by an older version or another part) has
-- no price: cost NULL for it.
SELECT t.provider, m.model_name, m.prompt_token_cost_per_1m, m.completion_token_cost_per_1m,
       count(*) AS calls, count(m.llm_model_id) AS priced_calls,
       coalesce(sum(t.prompt_tokens), 0) AS prompt_tokens, coalesce(sum(t.completion_tokens), 0) AS completion_tokens,
       coalesce(sum(t.total_tokens), 0) AS total_tokens,
       sum(coalesce(t.prompt_tokens, 0) * m.prompt_token_cost_per_1m
           + coalesce(t.completion_tokens, 0) * m.completion_token_cost_per_1m) / 1e6 AS cost_usd
FROM llm_traces t LEFT JOIN llm_models m ON m.llm_model_id = t.llm_model_id
WHERE t.job_id = $1
GROUP BY t.provider, m.model_name, m.prompt_token_cost_per_1m, m.completion_token_cost_per_1m
ORDER BY t.provider, m.model_name;

-- name: view_job_vlm_usage
-- Tokens a served VLM reported for the job's calls (vlm_traces.response.usage); the measured default has none.
SELECT count(*) AS calls, count(response -> 'usage') AS calls_with_usage,
       coalesce(sum((response -> 'usage' ->> 'prompt_tokens')::bigint), 0)::bigint AS prompt_tokens,
       coalesce(sum((response -> 'usage' ->> 'completion_tokens')::bigint), 0)::bigint AS completion_tokens,
       coalesce(sum((response -> 'usage' ->> 'total_tokens')::bigint), 0)::bigint AS total_tokens
FROM vlm_traces WHERE job_id = $1;
