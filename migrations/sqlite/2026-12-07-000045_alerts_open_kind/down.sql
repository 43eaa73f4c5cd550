DROP INDEX alerts_open_kind;
