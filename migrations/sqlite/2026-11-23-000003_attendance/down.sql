DROP TABLE alerts;
DROP TABLE attendance_tallies;
