#!/bin/sh
# Back up the civic database (pg_dump custom format), uploaded photos included (they are stored in
# the database's `upload` table since migration 0022_upload_data).
#
#   scripts/backup.sh [BACKUP_DIR]
#
# Settings come from the environment, else from the site's environment file (CIVIC_ENV_FILE,
# default /etc/civic/civic.env): DATABASE_URL, the same setting the app uses. Writes
# BACKUP_DIR/civic-STAMP.dump (default BACKUP_DIR: ./backups), readable by its owner only, prints its
# path, and deletes backups older than BACKUP_KEEP_DAYS (default 30; 0 keeps everything), including
# the uploads-STAMP.tar.gz files that backups made before 0022 wrote beside their dump.
set -eu
umask 077

env_file=${CIVIC_ENV_FILE:-/etc/civic/civic.env}
if [ -z "${DATABASE_URL:-}" ] && [ -r "$env_file" ]; then
    set -a; . "$env_file"; set +a
fi
if [ -z "${DATABASE_URL:-}" ]; then
    echo "backup.sh: set DATABASE_URL (postgresql://...) or write it in $env_file" >&2
    exit 2
fi
# SQLAlchemy's driver suffix is not understood by libpq.
url=$(printf '%s' "$DATABASE_URL" | sed -e 's#^postgresql+psycopg://#postgresql://#' -e 's#^postgres://#postgresql://#')
case "$url" in
    postgresql://*) ;;
    *) echo "backup.sh: DATABASE_URL must be a PostgreSQL URL" >&2; exit 2 ;;
esac

dir=${1:-./backups}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dir"

dump="$dir/civic-$stamp.dump"
# Write to a temporary name first, so a half-written file is never taken for a backup.
pg_dump --format=custom --no-owner --no-privileges --file="$dump.part" "$url"
mv "$dump.part" "$dump"
echo "$dump"

keep=${BACKUP_KEEP_DAYS:-30}
if [ "$keep" -gt 0 ]; then
    find "$dir" -maxdepth 1 -type f \( -name 'civic-*.dump' -o -name 'uploads-*.tar.gz' \) -mtime +"$keep" -delete
fi
