-- The version of each school's registers and tallies, taken by every write of them. SQLite's
-- register push works a push out before it holds the single writer's lock and stores it only if
-- the version is still the one it read (service/attendance.rs `write_marks_planned`).
-- PostgreSQL writes schools in parallel under a per-school lock instead and leaves it empty.
CREATE TABLE register_versions (
    school_urn INTEGER NOT NULL PRIMARY KEY,
    version    BIGINT NOT NULL
);
