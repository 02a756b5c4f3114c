#!/bin/sh
# Restore a backup made by scripts/backup.sh into an EMPTY database.
#
#   createdb -h HOST -U USER civic_restored
#   DATABASE_URL=postgresql://user@host:5432/civic_restored scripts/restore.sh civic-STAMP.dump
#
# The photos are in the dump (migration 0022_upload_data moved them into the database). A backup made
# before 0022 also has an uploads-STAMP.tar.gz: give it as a second argument and it is unpacked into an
# EMPTY uploads folder (UPLOADS_DIR, default instance/uploads); `flask --app wsgi db upgrade` then moves
# the photos into the restored database.
# Everything is checked before anything is touched: the files are readable and whole, the database has
# no tables, the uploads folder is missing or empty. Then the database is restored in one transaction.
# Settings missing from the environment are read from CIVIC_ENV_FILE (default /etc/civic/civic.env).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: DATABASE_URL=postgresql://... $0 DUMP_FILE [UPLOADS_TAR of a backup made before 0022]" >&2
    exit 2
fi
dump=$1
tarball=${2:-}
env_file=${CIVIC_ENV_FILE:-/etc/civic/civic.env}
if [ -z "${DATABASE_URL:-}" ] && [ -r "$env_file" ]; then
    set -a; . "$env_file"; set +a
fi
if [ -z "${DATABASE_URL:-}" ]; then
    echo "restore.sh: set DATABASE_URL to the empty target database" >&2
    exit 2
fi
url=$(printf '%s' "$DATABASE_URL" | sed -e 's#^postgresql+psycopg://#postgresql://#' -e 's#^postgres://#postgresql://#')
here=$(cd "$(dirname "$0")/.." && pwd)
uploads=${UPLOADS_DIR:-$here/instance/uploads}

problems=""
[ -r "$dump" ] && pg_restore --list "$dump" >/dev/null 2>&1 || problems="$problems
  $dump is missing or not a pg_dump custom-format file"
if [ -n "$tarball" ]; then
    [ -r "$tarball" ] && tar -tzf "$tarball" >/dev/null 2>&1 || problems="$problems
  $tarball is missing or not a whole .tar.gz"
fi
if tables=$(psql --no-psqlrc --tuples-only --no-align --dbname="$url" \
        --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'" 2>/dev/null); then
    [ "$tables" = "0" ] || problems="$problems
  the target database is not empty ($tables tables); create a new one with createdb"
else
    problems="$problems
  the target database does not answer (create it first with createdb)"
fi
if [ -n "$tarball" ] && [ -e "$uploads" ] && [ -n "$(ls -A "$uploads" 2>/dev/null)" ]; then
    problems="$problems
  $uploads is not empty; move it away or set UPLOADS_DIR to a new folder"
fi
if [ -n "$problems" ]; then
    echo "restore.sh: nothing was restored:$problems" >&2
    exit 1
fi

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump"
echo "restored $dump"
if [ -n "$tarball" ]; then
    mkdir -p "$uploads"
    tar -xzf "$tarball" -C "$uploads"
    echo "restored $tarball into $uploads; now run: flask --app wsgi db upgrade (moves the photos into the database)"
fi
