-- The Holistic Reintegration Plan of a case (RULES.md R14.1; issue 23): every change is a new
-- version, kept. `body` is the whole plan as JSON (baseline, targets with their ids, voices,
-- steps, funding statement); `review_id` is the review that agreed a revised plan (R14.2).
CREATE TABLE plan_versions (
    id         BIGSERIAL PRIMARY KEY NOT NULL,
    case_id    BIGINT NOT NULL REFERENCES cases (id),
    version    INTEGER NOT NULL,
    status     TEXT NOT NULL,
    body       TEXT NOT NULL,
    review_id  BIGINT REFERENCES reviews (id),
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (case_id, version)
);

-- Progress on each target of the agreed plan, recorded at a review (R14.2).
CREATE TABLE target_progress (
    review_id    BIGINT NOT NULL REFERENCES reviews (id),
    target_id    BIGINT NOT NULL,
    case_id      BIGINT NOT NULL REFERENCES cases (id),
    plan_version INTEGER NOT NULL,
    progress     TEXT NOT NULL,
    note         TEXT,
    held_on      DATE NOT NULL,
    PRIMARY KEY (review_id, target_id)
);
CREATE INDEX target_progress_of_case ON target_progress (case_id, held_on);
