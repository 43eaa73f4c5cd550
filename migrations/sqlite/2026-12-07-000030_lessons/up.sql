-- ESMA lessons (issue 23 item 3; RULES.md R14.3): pushed nightly by ESMA's timetabling system,
-- one row per (case, date, start time, subject). Read per case (R14.4 measures, R14.5 alert), so
-- the key's index, led by the case, serves every read.
CREATE TABLE lessons (
    id              INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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

-- A lesson push is the LA's, across schools: its import has no one school. SQLite changes a
-- CHECK or a NOT NULL only by rebuilding the table (nothing refers to imports).
CREATE TABLE imports_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('roll', 'register', 'lessons')),
    school_urn      INTEGER,
    client_id       TEXT NOT NULL,
    received_at     TIMESTAMP NOT NULL,
    outcome         TEXT NOT NULL,
    received        INTEGER NOT NULL,
    inserted        INTEGER NOT NULL,
    updated         INTEGER NOT NULL,
    unchanged       INTEGER NOT NULL,
    rejected        INTEGER NOT NULL,
    report          TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT
);
INSERT INTO imports_new SELECT * FROM imports;
DROP TABLE imports;
ALTER TABLE imports_new RENAME TO imports;
CREATE UNIQUE INDEX imports_idempotency ON imports (client_id, idempotency_key);
CREATE INDEX imports_school ON imports (school_urn, id);
