#!/bin/sh
# Back up the civic database (pg_dump custom format) and the uploaded photos.
#
#   DATABASE_URL=postgresql://user@host:5432/civic scripts/backup.sh [BACKUP_DIR]
#
# Writes BACKUP_DIR/civic-YYYYmmddTHHMMSSZ.dump and, when instance/uploads exists,
# BACKUP_DIR/uploads-YYYYmmddTHHMMSSZ.tar.gz (default BACKUP_DIR: ./backups).
# Prints the paths written, one per line. UPLOADS_DIR overrides the uploads folder.
set -eu

if [ -z "${DATABASE_URL:-}" ]; then
    echo "backup.sh: set DATABASE_URL (postgresql://...)" >&2
    exit 2
fi
# SQLAlchemy's driver suffix is not understood by libpq.
url=$(printf '%s' "$DATABASE_URL" | sed -e 's#^postgresql+psycopg://#postgresql://#' -e 's#^postgres://#postgresql://#')
case "$url" in
    postgresql://*) ;;
    *) echo "backup.sh: DATABASE_URL must be a PostgreSQL URL" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-./backups}
uploads=${UPLOADS_DIR:-$here/instance/uploads}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dir"

dump="$dir/civic-$stamp.dump"
# Write to a temporary name first, so a half-written file is never taken for a backup.
pg_dump --format=custom --no-owner --no-privileges --file="$dump.part" "$url"
mv "$dump.part" "$dump"
echo "$dump"

if [ -d "$uploads" ]; then
    tarball="$dir/uploads-$stamp.tar.gz"
    tar -czf "$tarball.part" -C "$uploads" .
    mv "$tarball.part" "$tarball"
    echo "$tarball"
fi
