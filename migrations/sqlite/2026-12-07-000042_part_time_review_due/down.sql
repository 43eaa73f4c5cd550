DROP INDEX part_time_timetables_review_due;
ALTER TABLE part_time_timetables DROP COLUMN next_review_date;
