-- Attendance measures and alerts (RULES.md R2, R4, R5; API.md "Attendance"; issue 4).

-- Maintained on every register push (src/domain/tally.rs): one row per school, academic year
-- (its starting calendar year) and pupil. `latest_slot` is the pupil's latest session (2 x days
-- since 1 September, +1 for PM): a push reads only that to tell whether it holds nothing but new
-- sessions. `state` holds the code counts, illness runs, marked days and sickness-return point
-- as a compact JSON array. Every pupil's row is rewritten every night, so it is kept small. Keyed by school
-- and year first, so a push loads its school's current rows with one range scan; a pupil's rows
-- are reached through enrolments, like marks, so no second index slows the ingest.
CREATE TABLE attendance_tallies (
    school_urn        INTEGER NOT NULL,
    academic_year     INTEGER NOT NULL,
    upn               TEXT NOT NULL,
    latest_slot       INTEGER NOT NULL,
    state             TEXT NOT NULL,
    PRIMARY KEY (school_urn, academic_year, upn)
);

-- Statutory alerts as raised and resolved. `subject` says what the alert is about within its
-- kind (the academic year, or the session of an N mark), so the same alert is never open twice.
CREATE TABLE alerts (
    id            BIGSERIAL PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    school_urn    INTEGER NOT NULL,
    upn           TEXT NOT NULL,
    academic_year INTEGER NOT NULL,
    subject       TEXT NOT NULL,
    since         DATE NOT NULL,
    raised_on     DATE NOT NULL,
    resolved_on   DATE,
    resolution    TEXT
);
CREATE UNIQUE INDEX alerts_open_subject ON alerts (kind, school_urn, upn, subject) WHERE resolved_on IS NULL;
CREATE INDEX alerts_kind ON alerts (kind, id);
CREATE INDEX alerts_school ON alerts (school_urn, id);
CREATE INDEX alerts_pupil ON alerts (upn, id);
