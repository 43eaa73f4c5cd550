-- Notifications: webhook subscriptions, the transactional outbox of events, and deliveries with
-- every attempt (API.md "Webhooks"; issue 7).

-- A client's subscription. `schools` is the JSON list of URNs a school client acts for, fixed
-- when it subscribed ([] for an `la` client: every school); `events` the JSON list of event
-- types. `secret` is the Standard Webhooks key (whsec_...), needed in clear to sign.
-- `status`: active, disabled (the receiver answered 410) or deleted.
CREATE TABLE webhook_subscriptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES api_clients (client_id),
    role          TEXT NOT NULL,
    schools       TEXT NOT NULL,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    description   TEXT,
    secret        TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX webhook_subscriptions_of ON webhook_subscriptions (client_id, id);

-- The outbox: one row per event, written in the same transaction as the change that caused it.
-- `message_id` is the Standard Webhooks `webhook-id`; `payload` the exact body delivered.
-- Clock-driven events carry a `dedupe_key` (e.g. "alert:42"), so a scan that runs again, or
-- after a restart, never emits one twice.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    message_id  TEXT NOT NULL UNIQUE,
    event_type  TEXT NOT NULL,
    school_urn  INTEGER NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    payload     TEXT NOT NULL,
    dedupe_key  TEXT UNIQUE,
    alert_id    INTEGER UNIQUE REFERENCES alerts (id)
);

-- One event for one subscription. `status`: pending (due at `next_attempt_at`, which is also
-- the lease while an attempt is under way), delivered, failed (retries exhausted) or cancelled
-- (the subscription was deleted or disabled).
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    subscription_id  INTEGER NOT NULL REFERENCES webhook_subscriptions (id),
    event_id         INTEGER NOT NULL REFERENCES events (id),
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  TIMESTAMP,
    last_attempt_at  TIMESTAMP,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     TIMESTAMP,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (subscription_id, id);

-- Every attempt: when, the HTTP status (null when no answer came), how long, what went wrong.
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at TIMESTAMP NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT
);
CREATE INDEX webhook_attempts_of ON webhook_attempts (delivery_id, id);
