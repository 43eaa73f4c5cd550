-- A pupil's personal details are held per school, as that school's MIS sends them (API.md
-- "Pupils", issue 20): one school's roll push must never change what another school's MIS said.
-- The details move from `pupils` (now only the UPN every table refers to) to the school's
-- enrolment row. SQLite cannot add NOT NULL columns without a default, so the table is rebuilt.
CREATE TABLE enrolments_per_school (
    school_urn     INTEGER NOT NULL REFERENCES schools (urn),
    upn            TEXT NOT NULL REFERENCES pupils (upn),
    on_roll_from   DATE NOT NULL,
    on_roll_until  DATE,
    updated_at     TIMESTAMP NOT NULL,
    legal_forename TEXT NOT NULL,
    legal_surname  TEXT NOT NULL,
    date_of_birth  DATE NOT NULL,
    postcode       TEXT,
    home_la_code   INTEGER,
    ehcp           BOOLEAN NOT NULL,
    sen_support    BOOLEAN NOT NULL,
    pupil_premium  BOOLEAN NOT NULL,
    PRIMARY KEY (school_urn, upn)
);
INSERT INTO enrolments_per_school
SELECT e.school_urn, e.upn, e.on_roll_from, e.on_roll_until, e.updated_at,
       p.legal_forename, p.legal_surname, p.date_of_birth, p.postcode, p.home_la_code,
       p.ehcp, p.sen_support, p.pupil_premium
FROM enrolments e JOIN pupils p ON p.upn = e.upn;
DROP TABLE enrolments;
ALTER TABLE enrolments_per_school RENAME TO enrolments;
CREATE INDEX enrolments_upn ON enrolments (upn);
-- As in 2026-12-06-000001: the roll every register push reads, from the index alone.
CREATE INDEX enrolments_roll ON enrolments (school_urn, upn, on_roll_from, on_roll_until);

ALTER TABLE pupils DROP COLUMN legal_forename;
ALTER TABLE pupils DROP COLUMN legal_surname;
ALTER TABLE pupils DROP COLUMN date_of_birth;
ALTER TABLE pupils DROP COLUMN postcode;
ALTER TABLE pupils DROP COLUMN home_la_code;
ALTER TABLE pupils DROP COLUMN ehcp;
ALTER TABLE pupils DROP COLUMN sen_support;
ALTER TABLE pupils DROP COLUMN pupil_premium;
