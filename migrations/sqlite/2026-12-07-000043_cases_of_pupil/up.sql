-- RULES.md R15.3: a register push with C2 sessions reads what covers them, the agreements
-- (part_time_timetables_of_pupil) and the cases of those pupils, active or closed; without this
-- the cases were read by a scan of the table, once per school push.
CREATE INDEX cases_of_pupil ON cases (upn, school_urn);
