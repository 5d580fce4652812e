-- Fair share (issue 26): a job's priority, a table of this service's own (no upstream statement needs it).
-- No row, or 'normal': normal. 'urgent': dispatched ahead of the normal jobs of the same tenant at every
-- stage; the order between tenants stays round robin, so an urgent backlog never starves another tenant.
CREATE TABLE IF NOT EXISTS job_priorities (
    job_id UUID PRIMARY KEY REFERENCES jobs(job_id) ON DELETE CASCADE,
    priority TEXT NOT NULL CHECK (priority IN ('urgent', 'normal')),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
-- The dispatcher asks only for the urgent ones among the jobs it queues.
CREATE INDEX IF NOT EXISTS idx_job_priorities_urgent ON job_priorities (job_id) WHERE priority = 'urgent';
