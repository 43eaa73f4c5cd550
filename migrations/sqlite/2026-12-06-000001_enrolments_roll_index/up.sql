-- A school's roll as every register push reads it (store/pupils.rs `roll_periods_of`), from the
-- index alone: through the primary key each of a school's ~400 rows was a second look-up in the
-- table (about 7% of the server's CPU in a night's pushes, perf).
CREATE INDEX enrolments_roll ON enrolments (school_urn, upn, on_roll_from, on_roll_until);
