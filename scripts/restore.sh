#!/bin/sh
# Restore a backup made by scripts/backup.sh into an EMPTY database.
#
#   createdb -h HOST -U USER civic_restored
#   DATABASE_URL=postgresql://user@host:5432/civic_restored scripts/restore.sh civic-STAMP.dump [uploads-STAMP.tar.gz]
#
# Refuses a database that already has tables (so a live database is never overwritten).
# The uploads tarball, when given, is unpacked into UPLOADS_DIR (default instance/uploads),
# which must be missing or empty.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: DATABASE_URL=postgresql://... $0 DUMP_FILE [UPLOADS_TAR]" >&2
    exit 2
fi
dump=$1
tarball=${2:-}
if [ -z "${DATABASE_URL:-}" ]; then
    echo "restore.sh: set DATABASE_URL to the empty target database" >&2
    exit 2
fi
[ -f "$dump" ] || { echo "restore.sh: no such file: $dump" >&2; exit 2; }
url=$(printf '%s' "$DATABASE_URL" | sed -e 's#^postgresql+psycopg://#postgresql://#' -e 's#^postgres://#postgresql://#')

tables=$(psql --no-psqlrc --tuples-only --no-align --dbname="$url" \
    --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != "0" ]; then
    echo "restore.sh: the target database is not empty ($tables tables); create a new one with createdb" >&2
    exit 1
fi

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump"
echo "restored $dump"

if [ -n "$tarball" ]; then
    here=$(cd "$(dirname "$0")/.." && pwd)
    uploads=${UPLOADS_DIR:-$here/instance/uploads}
    if [ -e "$uploads" ] && [ -n "$(ls -A "$uploads" 2>/dev/null)" ]; then
        echo "restore.sh: $uploads is not empty; move it away first" >&2
        exit 1
    fi
    mkdir -p "$uploads"
    tar -xzf "$tarball" -C "$uploads"
    echo "restored $tarball into $uploads"
fi
