-- State-change notifications and updated_at upkeep. Payloads carry ids, step, status and a
-- `type` only (NOTIFY payloads are limited to 8000 bytes). NOTIFY is delivered at commit.

CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;  -- kept current even when a writer forgets it
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER jobs_touch_updated_at BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE OR REPLACE TRIGGER jobs_variants_touch_updated_at BEFORE UPDATE ON jobs_variants
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE OR REPLACE TRIGGER txt_gen_touch_updated_at BEFORE UPDATE ON txt_ad_copy_generations
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE OR REPLACE FUNCTION notify_job_variant_state_change() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.current_step IS DISTINCT FROM NEW.current_step
       OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('job_variant_state_changed', json_build_object(
            'type', 'variant_state',
            'job_variants_id', NEW.job_variants_id,
            'job_id', NEW.job_id,
            'tenant_id', (SELECT tenant_id FROM jobs WHERE job_id = NEW.job_id),
            'current_step', NEW.current_step,
            'status', NEW.status)::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER job_variant_state_change_trigger
    AFTER INSERT OR UPDATE ON jobs_variants
    FOR EACH ROW EXECUTE FUNCTION notify_job_variant_state_change();

CREATE OR REPLACE FUNCTION notify_job_state_change() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.current_step IS DISTINCT FROM NEW.current_step
       OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('job_state_changed', json_build_object(
            'type', 'job_state',
            'job_id', NEW.job_id,
            'tenant_id', NEW.tenant_id,
            'current_step', NEW.current_step,
            'status', NEW.status)::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER job_state_change_trigger
    AFTER INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION notify_job_state_change();

-- Start gate: variants at (img_gen, done) wait for the English ad copy. When it becomes done,
-- wake each waiting variant with the same payload shape as a variant state change.
CREATE OR REPLACE FUNCTION notify_ad_copy_ready() RETURNS TRIGGER AS $$
DECLARE v RECORD;
BEGIN
    IF NEW.generation_stage = 'ad_copy_eng' AND NEW.status = 'done'
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        FOR v IN SELECT jv.job_variants_id, j.tenant_id FROM jobs_variants jv JOIN jobs j USING (job_id)
                 WHERE jv.job_id = NEW.job_id AND jv.current_step = 'img_gen' AND jv.status = 'done' LOOP
            PERFORM pg_notify('job_variant_state_changed', json_build_object(
                'type', 'text_ready',
                'job_variants_id', v.job_variants_id,
                'job_id', NEW.job_id,
                'tenant_id', v.tenant_id,
                'current_step', 'img_gen',
                'status', 'done')::text);
        END LOOP;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER ad_copy_ready_trigger
    AFTER INSERT OR UPDATE ON txt_ad_copy_generations
    FOR EACH ROW EXECUTE FUNCTION notify_ad_copy_ready();
