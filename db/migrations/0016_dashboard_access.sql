-- migrate: no-transaction
-- Dashboard access (docs/dashboard.md): login sessions, shared by every replica through the database,
-- and the indexes that keep the jobs list a keyset page read with 10,000+ jobs (newest first, per tenant).
-- The indexes are built CONCURRENTLY: the other parts write `jobs` all the time (see 0005).

CREATE TABLE IF NOT EXISTS dashboard_sessions (
    -- sha256 of the cookie's token: a leaked table row cannot be replayed as a cookie
    session_hash TEXT PRIMARY KEY,
    tenant_id TEXT,            -- NULL: every tenant (API_KEY or DASHBOARD_PASSWORD); else a tenant read key's tenant
    login_via TEXT NOT NULL,   -- api_key | dashboard_password | tenant_read_key
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_created_job ON jobs (created_at DESC, job_id DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_tenant_created_job ON jobs (tenant_id, created_at DESC, job_id DESC);
-- A tenant read key may fetch /assets/<path> only when that file belongs to its tenant: looked up by URL.
-- Hash, not btree: a URL longer than a btree entry (~2.7 kB) must never make another part's INSERT fail.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_image_assets_url_hash ON image_assets USING hash (image_url);
