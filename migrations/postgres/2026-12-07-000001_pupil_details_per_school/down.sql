-- Back to one record per pupil: the most recently pushed school's details win.
ALTER TABLE pupils
    ADD COLUMN legal_forename TEXT NOT NULL DEFAULT '',
    ADD COLUMN legal_surname  TEXT NOT NULL DEFAULT '',
    ADD COLUMN date_of_birth  DATE NOT NULL DEFAULT '1970-01-01',
    ADD COLUMN postcode       TEXT,
    ADD COLUMN home_la_code   INTEGER,
    ADD COLUMN ehcp           BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN sen_support    BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN pupil_premium  BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE pupils p
SET legal_forename = e.legal_forename, legal_surname = e.legal_surname,
    date_of_birth = e.date_of_birth, postcode = e.postcode, home_la_code = e.home_la_code,
    ehcp = e.ehcp, sen_support = e.sen_support, pupil_premium = e.pupil_premium
FROM (SELECT DISTINCT ON (upn) * FROM enrolments ORDER BY upn, updated_at DESC) e
WHERE e.upn = p.upn;
ALTER TABLE enrolments
    DROP COLUMN legal_forename,
    DROP COLUMN legal_surname,
    DROP COLUMN date_of_birth,
    DROP COLUMN postcode,
    DROP COLUMN home_la_code,
    DROP COLUMN ehcp,
    DROP COLUMN sen_support,
    DROP COLUMN pupil_premium;
