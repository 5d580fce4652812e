-- Each render names its Instagram format (services/imaging/formats.py): '1:1', '4:5', '9:16', or 'original'
-- for the render at the generated size, the one the evaluations read. NULL (rows written before this, or by
-- other parts) means 'original'. Additive and nullable: the other parts' statements keep working. Safe to run again.
ALTER TABLE renders ADD COLUMN IF NOT EXISTS format TEXT;
