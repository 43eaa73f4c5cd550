-- The change feed (API.md "Change feed"; issue 7 item 4): one row per change to a referral, case,
-- review or alert, numbered by `version` in commit order (src/store/changes.rs says how), so an
-- LA system asks for everything after the last version it saw instead of rescanning.
CREATE TABLE changes (
    version       INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- 'referral', 'case', 'review' or 'alert'.
    resource_type TEXT NOT NULL,
    resource_id   INTEGER NOT NULL,
    school_urn    INTEGER NOT NULL,
    -- What happened: created, updated, assessed, decided, withdrawn, opened, evidence_added,
    -- closed, planned, added, rescheduled, held, cancelled, raised, resolved, since_moved.
    action        TEXT NOT NULL,
    changed_at    TIMESTAMP NOT NULL
);
