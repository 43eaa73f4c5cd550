DROP TABLE imports;
DROP TABLE mark_history;
DROP TABLE marks;
DROP TABLE enrolments;
DROP TABLE pupils;
