#!/bin/sh
# Run once by the postgres image on an empty volume: the aisx role and database of docs/deployment.md,
# section 7. The password comes from the environment (AISX_DB_PASSWORD), never from a file in the image.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v pw="$AISX_DB_PASSWORD" <<'SQL'
CREATE ROLE aisx LOGIN PASSWORD :'pw';
CREATE DATABASE aisx OWNER aisx ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE aisx FROM PUBLIC;
\c aisx
ALTER SCHEMA public OWNER TO aisx;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
