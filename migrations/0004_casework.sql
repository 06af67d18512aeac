-- Staff casework: a duplicate case folded into the same worker's other case keeps its
-- reference (old emails still thread) and points at the case that holds everything now.
ALTER TABLE cases ADD COLUMN merged_into BIGINT REFERENCES cases (id);
CREATE INDEX cases_merged_into ON cases (merged_into) WHERE merged_into IS NOT NULL;
