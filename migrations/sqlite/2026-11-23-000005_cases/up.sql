-- Support episodes: the review schedule, medical evidence and exits (RULES.md R11-R13; API.md
-- "Cases"; issue 6).

-- The exit decision (JSON) and when the case closed.
ALTER TABLE cases ADD COLUMN closed_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN exit_decision TEXT;
ALTER TABLE cases ADD COLUMN exit_effective_date DATE;

-- The reviews of a case (R11): planned when the case opens, plus extra ones. `scheduled_for`
-- equals `due_on` until rescheduled; `note` says why it moved or was cancelled.
CREATE TABLE reviews (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    case_id       INTEGER NOT NULL REFERENCES cases (id),
    kind          TEXT NOT NULL,
    label         TEXT NOT NULL,
    due_on        DATE NOT NULL,
    scheduled_for DATE NOT NULL,
    status        TEXT NOT NULL,
    held_on       DATE,
    outcome       TEXT,
    note          TEXT,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX reviews_case ON reviews (case_id, id);
CREATE INDEX reviews_open ON reviews (status, scheduled_for);

-- Medical evidence received during a case (R11.3, R11.4): restarts the evidence clock.
CREATE TABLE case_evidence (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    issued_on   DATE NOT NULL,
    received_at TIMESTAMP NOT NULL,
    item        TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX case_evidence_of ON case_evidence (case_id, id);
