-- RULES.md R15.3 `part_time_review_overdue` is date-driven: the clock reads only the agreements
-- whose first review date not yet met by a review (`PartTimeTimetable::next_review_date`) has
-- passed. Kept on every write of an agreement; NULL when every review date is met. Rows made
-- before it get their start date: read by the clock until their next write, which is correct,
-- only not as cheap.
ALTER TABLE part_time_timetables ADD COLUMN next_review_date DATE;
UPDATE part_time_timetables SET next_review_date = start_date;
CREATE INDEX part_time_timetables_review_due ON part_time_timetables (next_review_date);
