DELETE FROM imports WHERE kind = 'lessons';
ALTER TABLE imports ALTER COLUMN school_urn SET NOT NULL;
ALTER TABLE imports DROP CONSTRAINT imports_kind_check;
ALTER TABLE imports ADD CONSTRAINT imports_kind_check CHECK (kind IN ('roll', 'register'));
DROP TABLE lessons;
