-- Stage roles (SERVE_STAGES): every replica of this service says which stages it serves and that it is
-- alive, so /healthz, the jobs API and the dashboard can say when a stage has no live replica at all
-- (its rows then wait, and nothing else would tell). One row per app process, refreshed every
-- HEARTBEAT_SECONDS; a row older than LEASE_SECONDS is a dead replica. Only this service writes it.
CREATE TABLE IF NOT EXISTS service_replicas (
    instance_id  text PRIMARY KEY,          -- the process's instance id (/healthz `instance`)
    worker       text NOT NULL,             -- hostname:pid, as stage_runs.worker names it
    stages       text[] NOT NULL,           -- SERVE_STAGES of that process
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
