-- Pupil roll and registers (RULES.md R1, R6; API.md "Pupils" and "Registers").

-- A pupil as the schools' MIS know them; the latest roll push wins on personal fields.
CREATE TABLE pupils (
    upn            TEXT PRIMARY KEY NOT NULL,
    legal_forename TEXT NOT NULL,
    legal_surname  TEXT NOT NULL,
    date_of_birth  DATE NOT NULL,
    postcode       TEXT,
    home_la_code   INTEGER,
    ehcp           BOOLEAN NOT NULL,
    sen_support    BOOLEAN NOT NULL,
    pupil_premium  BOOLEAN NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

-- Which school's roll a pupil is on, from when until when (dual registration: several rows).
CREATE TABLE enrolments (
    school_urn    INTEGER NOT NULL REFERENCES schools (urn),
    upn           TEXT NOT NULL REFERENCES pupils (upn),
    on_roll_from  DATE NOT NULL,
    on_roll_until DATE,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (school_urn, upn)
);
CREATE INDEX enrolments_upn ON enrolments (upn);

-- One mark per school, pupil, date and session. Each school keeps its own register, so a
-- dual-registered pupil's marks at two schools never overwrite each other. Reads by pupil go
-- through enrolments to this key, so no second index slows the nightly ingest.
CREATE TABLE marks (
    school_urn   INTEGER NOT NULL,
    upn          TEXT NOT NULL,
    mark_date    DATE NOT NULL,
    session      TEXT NOT NULL,
    code         TEXT NOT NULL,
    minutes_late INTEGER,
    PRIMARY KEY (school_urn, upn, mark_date, session)
) WITHOUT ROWID;

-- R1.4: a register change is never lost.
CREATE TABLE mark_history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    school_urn       INTEGER NOT NULL,
    upn              TEXT NOT NULL,
    mark_date        DATE NOT NULL,
    session          TEXT NOT NULL,
    old_code         TEXT NOT NULL,
    new_code         TEXT NOT NULL,
    old_minutes_late INTEGER,
    new_minutes_late INTEGER,
    import_id        BIGINT NOT NULL,
    changed_at       TIMESTAMP NOT NULL
);
CREATE INDEX mark_history_pupil ON mark_history (upn, mark_date);

-- Every roll or register push, with its report (served at /api/v1/imports/{id}).
CREATE TABLE imports (
    id              INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('roll', 'register')),
    school_urn      INTEGER NOT NULL,
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
CREATE UNIQUE INDEX imports_idempotency ON imports (client_id, idempotency_key);
CREATE INDEX imports_school ON imports (school_urn, id);
