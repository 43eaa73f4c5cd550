-- Part-time timetable agreements (RULES.md R15; issue 24). `terms` is what was agreed as JSON
-- (pattern, reason, parent's agreement, ambition, plan, review dates, EHCP and social worker
-- facts); the dates the register checks need are columns too.
CREATE TABLE part_time_timetables (
    id          BIGSERIAL PRIMARY KEY NOT NULL,
    school_urn  INTEGER NOT NULL REFERENCES schools (urn),
    upn         TEXT NOT NULL,
    start_date  DATE NOT NULL,
    end_date    DATE NOT NULL,
    terms       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX part_time_timetables_of_pupil ON part_time_timetables (upn, school_urn, start_date);
CREATE INDEX part_time_timetables_of_school ON part_time_timetables (school_urn, id);

-- Reviews held (R15.2).
CREATE TABLE part_time_reviews (
    id           BIGSERIAL PRIMARY KEY NOT NULL,
    timetable_id BIGINT NOT NULL REFERENCES part_time_timetables (id),
    held_on      DATE NOT NULL,
    attendees    TEXT NOT NULL,
    notes        TEXT,
    new_end_date DATE,
    recorded_at  TIMESTAMP NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX part_time_reviews_of_timetable ON part_time_reviews (timetable_id, id);

-- Every end date an agreement has had, the first when it was made (R15.2: the history is kept).
CREATE TABLE part_time_end_dates (
    id           BIGSERIAL PRIMARY KEY NOT NULL,
    timetable_id BIGINT NOT NULL REFERENCES part_time_timetables (id),
    end_date     DATE NOT NULL,
    set_at       TIMESTAMP NOT NULL,
    set_by       TEXT NOT NULL,
    review_id    BIGINT REFERENCES part_time_reviews (id)
);
CREATE INDEX part_time_end_dates_of_timetable ON part_time_end_dates (timetable_id, id);
