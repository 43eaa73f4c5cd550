DROP TABLE part_time_end_dates;
DROP TABLE part_time_reviews;
DROP TABLE part_time_timetables;
