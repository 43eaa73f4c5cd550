DROP INDEX enrolments_roll;
