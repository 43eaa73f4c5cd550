DROP TABLE register_versions;
