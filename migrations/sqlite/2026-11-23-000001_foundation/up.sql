-- Foundation: API clients, schools, the LA calendar and the append-only audit trail.
CREATE TABLE api_clients (
    client_id   TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('school', 'la', 'admin')),
    secret_hash TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);

CREATE TABLE api_client_schools (
    client_id  TEXT NOT NULL REFERENCES api_clients (client_id) ON DELETE CASCADE,
    school_urn INTEGER NOT NULL,
    PRIMARY KEY (client_id, school_urn)
);

CREATE TABLE schools (
    urn        INTEGER PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    laestab    TEXT NOT NULL,
    phase      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE calendars (
    academic_year TEXT PRIMARY KEY NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE calendar_terms (
    academic_year    TEXT NOT NULL REFERENCES calendars (academic_year) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    name             TEXT NOT NULL,
    starts           DATE NOT NULL,
    ends             DATE NOT NULL,
    half_term_starts DATE,
    half_term_ends   DATE,
    PRIMARY KEY (academic_year, position)
);

CREATE TABLE calendar_closures (
    academic_year TEXT NOT NULL REFERENCES calendars (academic_year) ON DELETE CASCADE,
    closed_on     DATE NOT NULL,
    PRIMARY KEY (academic_year, closed_on)
);

CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at    TIMESTAMP NOT NULL,
    actor          TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    school_urn     INTEGER,
    upn            TEXT,
    endpoint       TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    correlation_id TEXT
);
CREATE INDEX audit_events_upn ON audit_events (upn, id);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);

-- The audit trail is append-only: the database itself refuses to change or remove a row.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
