DROP INDEX cases_of_pupil;
