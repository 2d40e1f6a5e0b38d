#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d): the role
# Maestro ML connects as and its database. The role is no superuser and may create neither databases
# nor roles: it owns its own database (migrations create tables there) and nothing else. The superuser
# (POSTGRES_USER) is for operators only.
set -eu

: "${MAESTRO_DB_PASSWORD:?MAESTRO_DB_PASSWORD is not set}"

psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set maestro_password="$MAESTRO_DB_PASSWORD" <<'SQL'
CREATE ROLE maestro LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'maestro_password';
CREATE DATABASE maestro OWNER maestro;
REVOKE ALL ON DATABASE maestro FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE maestro TO maestro;
SQL
