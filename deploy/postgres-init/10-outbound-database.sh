#!/bin/bash
# Outbound's own role and database beside Temporal's (temporal and temporal_visibility,
# which temporalio/auto-setup creates itself). The postgres image runs this once, when
# the postgres-data volume is first initialised; to change the password later use
# ALTER ROLE outbound PASSWORD '...'.
# POSTGRES_OUTBOUND_PASSWORD is set on the postgresql service by docker-compose.yml, from the
# same value that goes into OUTBOUND_DATABASE_URL.
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=outbound_password="${POSTGRES_OUTBOUND_PASSWORD:?POSTGRES_OUTBOUND_PASSWORD is not set}" <<'SQL'
CREATE ROLE outbound LOGIN PASSWORD :'outbound_password';
CREATE DATABASE outbound OWNER outbound;
SQL
