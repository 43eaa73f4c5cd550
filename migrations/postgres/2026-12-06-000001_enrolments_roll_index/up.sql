-- A school's roll as every register push reads it (store/pupils.rs `roll_periods_of`), by an
-- index-only scan where the table's pages are all-visible, as they are between roll pushes.
CREATE INDEX enrolments_roll ON enrolments (school_urn) INCLUDE (upn, on_roll_from, on_roll_until);
