-- Completion signal (issue 24): the transaction that makes a job final (post written, failed for good,
-- cancelled; job_outcome of 0010) also writes one outbox row and sends NOTIFY job_finished. A webhook, when
-- configured, is delivered from the outbox at least once (services/ops/outbox.py): a process killed between
-- the commit and the delivery loses nothing. Safe to run again.
CREATE TABLE IF NOT EXISTS job_outbox (
    delivery_id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),  -- the receiver drops a repeat by this id
    pk BIGSERIAL,
    job_id UUID NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    tenant_id TEXT,
    outcome TEXT NOT NULL,
    payload JSONB NOT NULL,
    txid BIGINT NOT NULL,  -- one row per job and transaction however often the row was updated in it
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    lease_until TIMESTAMPTZ,
    delivered_at TIMESTAMPTZ,
    gave_up_at TIMESTAMPTZ,
    last_status INTEGER,
    last_error TEXT,
    UNIQUE (job_id, txid));
CREATE INDEX IF NOT EXISTS idx_job_outbox_job ON job_outbox (job_id, created_at);
-- only undelivered rows: the deliverer's scan costs the same with a million delivered ones
CREATE INDEX IF NOT EXISTS idx_job_outbox_pending ON job_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Runs at COMMIT (a deferred constraint trigger), so it sees what the same transaction wrote after the state
-- change (the stage's results, e.g. the feed row that instagram_feed_gen saves after its finish_job).
CREATE OR REPLACE FUNCTION record_job_finished() RETURNS TRIGGER AS $$
DECLARE
    j RECORD;
    chosen RECORD;
    feed UUID;
    outcome TEXT;
    body JSONB;
    inserted UUID;
BEGIN
    SELECT job_id, tenant_id, current_step, status, next_retry_at, cancelled_at, cancel_reason, last_error
    INTO j FROM jobs WHERE job_id = NEW.job_id;
    outcome := job_outcome(j.current_step, j.status, j.next_retry_at, j.cancelled_at);
    IF outcome IS NULL THEN  -- changed again later in the same transaction: not final at commit
        RETURN NULL;
    END IF;
    SELECT v.job_variants_id, a.image_url INTO chosen FROM jobs_variants v
    LEFT JOIN image_assets a ON a.image_asset_id = v.overlaid_img_asset_id
    WHERE v.job_id = j.job_id AND v.selected ORDER BY v.creation_order LIMIT 1;
    SELECT instagram_feed_id INTO feed FROM instagram_feeds WHERE job_id = j.job_id
    ORDER BY created_at DESC, pk DESC LIMIT 1;
    inserted := uuid_generate_v4();
    body := jsonb_build_object(
        'type', 'job_finished', 'delivery_id', inserted, 'job_id', j.job_id, 'tenant_id', j.tenant_id,
        'outcome', outcome, 'current_step', j.current_step, 'status', j.status,
        'selected_variant_id', chosen.job_variants_id, 'overlaid_image_url', chosen.image_url,
        'instagram_feed_id', feed,
        'reason', CASE WHEN outcome = 'done' THEN NULL ELSE left(coalesce(j.cancel_reason, j.last_error), 500) END,
        'finished_at', clock_timestamp());
    INSERT INTO job_outbox (delivery_id, job_id, tenant_id, outcome, payload, txid)
    VALUES (inserted, j.job_id, j.tenant_id, outcome, body, txid_current())
    ON CONFLICT (job_id, txid) DO NOTHING RETURNING delivery_id INTO inserted;
    IF inserted IS NOT NULL THEN  -- NOTIFY is sent at commit too: a listener never sees a rolled-back one
        PERFORM pg_notify('job_finished', body::text);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Fires on the update that makes the row final (its WHEN is checked at once; the function at commit).
-- Constraint triggers cannot be CREATE OR REPLACEd: dropped and created, in one transaction.
DROP TRIGGER IF EXISTS jobs_finished_outbox ON jobs;
CREATE CONSTRAINT TRIGGER jobs_finished_outbox AFTER UPDATE ON jobs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (job_outcome(NEW.current_step, NEW.status, NEW.next_retry_at, NEW.cancelled_at) IS NOT NULL
          AND job_outcome(OLD.current_step, OLD.status, OLD.next_retry_at, OLD.cancelled_at) IS NULL)
    EXECUTE FUNCTION record_job_finished();
