-- updated_at: filled by the BEFORE UPDATE triggers of 0003 (jobs, jobs_variants, txt_ad_copy_generations)
-- only when the writer left it unchanged. A writer that sets it on purpose (a backfill that keeps the
-- original timestamps, a replay) keeps its value; one that forgets it still gets the current time.
-- (A writer cannot tell "keep the old value" apart from "forgot it": SET updated_at = updated_at is filled.)
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS TRIGGER AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := CURRENT_TIMESTAMP;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
