-- A pupil's personal details are held per school, as that school's MIS sends them (API.md
-- "Pupils", issue 20): one school's roll push must never change what another school's MIS said.
-- The details move from `pupils` (now only the UPN every table refers to) to the school's
-- enrolment row.
ALTER TABLE enrolments
    ADD COLUMN legal_forename TEXT,
    ADD COLUMN legal_surname  TEXT,
    ADD COLUMN date_of_birth  DATE,
    ADD COLUMN postcode       TEXT,
    ADD COLUMN home_la_code   INTEGER,
    ADD COLUMN ehcp           BOOLEAN,
    ADD COLUMN sen_support    BOOLEAN,
    ADD COLUMN pupil_premium  BOOLEAN;
UPDATE enrolments e
SET legal_forename = p.legal_forename, legal_surname = p.legal_surname,
    date_of_birth = p.date_of_birth, postcode = p.postcode, home_la_code = p.home_la_code,
    ehcp = p.ehcp, sen_support = p.sen_support, pupil_premium = p.pupil_premium
FROM pupils p WHERE p.upn = e.upn;
ALTER TABLE enrolments
    ALTER COLUMN legal_forename SET NOT NULL,
    ALTER COLUMN legal_surname SET NOT NULL,
    ALTER COLUMN date_of_birth SET NOT NULL,
    ALTER COLUMN ehcp SET NOT NULL,
    ALTER COLUMN sen_support SET NOT NULL,
    ALTER COLUMN pupil_premium SET NOT NULL;
ALTER TABLE pupils
    DROP COLUMN legal_forename,
    DROP COLUMN legal_surname,
    DROP COLUMN date_of_birth,
    DROP COLUMN postcode,
    DROP COLUMN home_la_code,
    DROP COLUMN ehcp,
    DROP COLUMN sen_support,
    DROP COLUMN pupil_premium;
