-- Stage roles: the registry of live replicas (db/migrations/0014_service_replicas.sql).

-- name: replica_heartbeat
-- This process is alive and serves $3; replicas dead for an hour are forgotten on the way.
WITH gone AS (DELETE FROM service_replicas WHERE heartbeat_at < now() - interval '1 hour')
INSERT INTO service_replicas (instance_id, worker, stages) VALUES ($1, $2, $3::text[])
ON CONFLICT (instance_id) DO UPDATE SET worker = EXCLUDED.worker, stages = EXCLUDED.stages, heartbeat_at = now();

-- name: replica_forget
DELETE FROM service_replicas WHERE instance_id = $1;

-- name: unserved_stages
-- The stages of $1 that no replica with a heartbeat in the last $2 s serves.
SELECT s AS stage FROM unnest($1::text[]) AS s
WHERE NOT EXISTS (SELECT 1 FROM service_replicas r
                  WHERE r.heartbeat_at > now() - make_interval(secs => $2) AND s = ANY(r.stages))
ORDER BY array_position($1::text[], s);
