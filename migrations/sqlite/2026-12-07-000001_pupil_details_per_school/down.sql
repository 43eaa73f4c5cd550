-- Back to one record per pupil: the most recently pushed school's details win.
ALTER TABLE pupils ADD COLUMN legal_forename TEXT NOT NULL DEFAULT '';
ALTER TABLE pupils ADD COLUMN legal_surname TEXT NOT NULL DEFAULT '';
ALTER TABLE pupils ADD COLUMN date_of_birth DATE NOT NULL DEFAULT '1970-01-01';
ALTER TABLE pupils ADD COLUMN postcode TEXT;
ALTER TABLE pupils ADD COLUMN home_la_code INTEGER;
ALTER TABLE pupils ADD COLUMN ehcp BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE pupils ADD COLUMN sen_support BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE pupils ADD COLUMN pupil_premium BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE pupils SET (legal_forename, legal_surname, date_of_birth, postcode, home_la_code, ehcp,
                   sen_support, pupil_premium) =
    (SELECT e.legal_forename, e.legal_surname, e.date_of_birth, e.postcode, e.home_la_code,
            e.ehcp, e.sen_support, e.pupil_premium
     FROM enrolments e WHERE e.upn = pupils.upn ORDER BY e.updated_at DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM enrolments e WHERE e.upn = pupils.upn);
ALTER TABLE enrolments DROP COLUMN legal_forename;
ALTER TABLE enrolments DROP COLUMN legal_surname;
ALTER TABLE enrolments DROP COLUMN date_of_birth;
ALTER TABLE enrolments DROP COLUMN postcode;
ALTER TABLE enrolments DROP COLUMN home_la_code;
ALTER TABLE enrolments DROP COLUMN ehcp;
ALTER TABLE enrolments DROP COLUMN sen_support;
ALTER TABLE enrolments DROP COLUMN pupil_premium;
