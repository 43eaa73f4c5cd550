DROP TABLE audit_events;
DROP TABLE calendar_closures;
DROP TABLE calendar_terms;
DROP TABLE calendars;
DROP TABLE schools;
DROP TABLE api_client_schools;
DROP TABLE api_clients;
