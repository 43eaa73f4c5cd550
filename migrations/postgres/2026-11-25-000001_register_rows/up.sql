-- The register as one row per school, academic year (its starting calendar year) and pupil,
-- replacing `marks` and `attendance_tallies` (both stay, empty: the server converts their rows
-- on start-up, so no migration moves data). A nightly push rewrites one row per pupil, and a
-- school's rows are contiguous in the key, so a push reads them with one range scan.
--   sessions      one character per session slot counted from 1 September (slot = 2 x days
--                 since 1 September, +1 for PM; src/domain/codes.rs `register_char`), '-' for
--                 no mark, trailing empties left off
--   minutes_late  a JSON object slot -> minutes, null when none
--   latest_slot   the latest marked slot; `tally` the maintained YearTally (src/store/attendance.rs)
-- Every row is updated nightly and no indexed column changes, so leave room on each page for
-- the new version: the updates stay HOT (no index writes) and the table does not grow a page
-- per row per night.
CREATE TABLE registers (
    school_urn    INTEGER NOT NULL,
    academic_year INTEGER NOT NULL,
    upn           TEXT NOT NULL,
    sessions      TEXT NOT NULL,
    minutes_late  TEXT,
    latest_slot   INTEGER NOT NULL,
    tally         TEXT NOT NULL,
    PRIMARY KEY (school_urn, academic_year, upn)
) WITH (fillfactor = 50);
-- A pupil's rows at every school (their marks and attendance reads).
CREATE INDEX registers_pupil ON registers (upn, academic_year);
