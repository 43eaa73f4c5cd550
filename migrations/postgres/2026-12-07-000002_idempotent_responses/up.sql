-- The stored answers of POSTs sent with an Idempotency-Key (src/store/idempotency.rs), so a
-- client whose connection dropped can retry and get its first answer back. A row is claimed
-- (status NULL) before the request is served and completed with its answer after; keys are per
-- client. Pruned after the retention period (src/service/idempotency.rs).
CREATE TABLE idempotent_responses (
    client_id       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          INTEGER,
    content_type    TEXT,
    location        TEXT,
    body            TEXT,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, idempotency_key)
);
CREATE INDEX idempotent_responses_created ON idempotent_responses (created_at);
