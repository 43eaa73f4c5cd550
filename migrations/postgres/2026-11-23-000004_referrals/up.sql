-- Referrals, their assessments and the cases accepted referrals open (RULES.md R8-R10; API.md
-- "Referrals"; issue 5).

-- The service request as submitted and patched (`form`, JSON), its lifecycle state (R10.1) and
-- the LA's decision (JSON). `school_urn` and `upn` repeat the form's so lists and the
-- duplicate rule (R10.4) need no JSON.
CREATE TABLE referrals (
    id                BIGSERIAL PRIMARY KEY NOT NULL,
    school_urn        INTEGER NOT NULL REFERENCES schools (urn),
    upn               TEXT NOT NULL REFERENCES pupils (upn),
    status            TEXT NOT NULL,
    form              TEXT NOT NULL,
    received_at       TIMESTAMP NOT NULL,
    assessment_due_by DATE NOT NULL,
    created_by        TEXT NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    decision          TEXT,
    decided_at        TIMESTAMP,
    withdrawn_at      TIMESTAMP,
    withdrawal_reason TEXT
);
-- R10.4: one undecided referral per pupil, also under concurrent submissions.
CREATE UNIQUE INDEX referrals_one_open ON referrals (upn) WHERE status IN ('submitted', 'incomplete');
CREATE INDEX referrals_school ON referrals (school_urn, id);
CREATE INDEX referrals_status ON referrals (status, id);
CREATE INDEX referrals_pupil ON referrals (upn, id);

-- Every assessment ever made of a referral (the history is kept): the whole result as JSON,
-- with the policy it was made under.
CREATE TABLE referral_assessments (
    id             BIGSERIAL PRIMARY KEY NOT NULL,
    referral_id    BIGINT NOT NULL REFERENCES referrals (id),
    evaluated_at   TIMESTAMP NOT NULL,
    trigger        TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    policy_name    TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    body           TEXT NOT NULL
);
CREATE INDEX referral_assessments_of ON referral_assessments (referral_id, id);

-- A support episode, opened when the LA accepts a referral (the cases issue adds its schedule).
CREATE TABLE cases (
    id          BIGSERIAL PRIMARY KEY NOT NULL,
    referral_id BIGINT NOT NULL UNIQUE REFERENCES referrals (id),
    school_urn  INTEGER NOT NULL REFERENCES schools (urn),
    upn         TEXT NOT NULL REFERENCES pupils (upn),
    status      TEXT NOT NULL,
    start_date  DATE NOT NULL,
    provision   TEXT NOT NULL,
    opened_at   TIMESTAMP NOT NULL,
    opened_by   TEXT NOT NULL
);
-- R10.4: one active case per pupil.
CREATE UNIQUE INDEX cases_one_active ON cases (upn) WHERE status = 'active';
CREATE INDEX cases_school ON cases (school_urn, id);
