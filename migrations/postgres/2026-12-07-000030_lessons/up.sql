-- ESMA lessons (issue 23 item 3; RULES.md R14.3): pushed nightly by ESMA's timetabling system,
-- one row per (case, date, start time, subject). Read per case (R14.4 measures, R14.5 alert), so
-- the key's index, led by the case, serves every read.
CREATE TABLE lessons (
    id              BIGSERIAL PRIMARY KEY NOT NULL,
    case_id         BIGINT NOT NULL REFERENCES cases (id),
    lesson_date     DATE NOT NULL,
    start_time      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    mode            TEXT NOT NULL,
    planned_minutes INTEGER NOT NULL,
    attendance      TEXT NOT NULL,
    minutes_late    INTEGER,
    engagement      INTEGER,
    teacher         TEXT,
    note            TEXT,
    import_id       BIGINT NOT NULL,
    recorded_at     TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX lessons_key ON lessons (case_id, lesson_date, start_time, subject);

-- A lesson push is the LA's, across schools: its import has no one school.
ALTER TABLE imports DROP CONSTRAINT imports_kind_check;
ALTER TABLE imports ADD CONSTRAINT imports_kind_check CHECK (kind IN ('roll', 'register', 'lessons'));
ALTER TABLE imports ALTER COLUMN school_urn DROP NOT NULL;
