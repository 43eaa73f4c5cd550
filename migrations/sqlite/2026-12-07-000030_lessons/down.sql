CREATE TABLE imports_old (
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
INSERT INTO imports_old SELECT * FROM imports WHERE kind <> 'lessons';
DROP TABLE imports;
ALTER TABLE imports_old RENAME TO imports;
CREATE UNIQUE INDEX imports_idempotency ON imports (client_id, idempotency_key);
CREATE INDEX imports_school ON imports (school_urn, id);
DROP TABLE lessons;
