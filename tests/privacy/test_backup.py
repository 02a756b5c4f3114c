"""Backup and restore: scripts/backup.sh and scripts/restore.sh round-trip the demo database with its
uploaded photos (stored in the database), with the same rows in every table and a clean ledger on the
restored copy; an old backup's uploads tarball is still unpacked."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from civic.extensions import db

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def _libpq(url):
    """A SQLAlchemy URL as libpq takes it (no driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _counts(url):
    """{table: row count} of every table in the public schema."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            return {name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar() for name in names}
    finally:
        engine.dispose()


@pytest.fixture
def fresh_database(app):
    """An empty database on the same server, dropped after the test."""
    source = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    name = f"{source.database}_restore_{uuid.uuid4().hex[:8]}"
    admin = _libpq(str(source.set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield source.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(args, **env):
    return subprocess.run(args, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def test_backup_and_restore_round_trip(app, fresh_database, tmp_path):
    """The demo is seeded and backed up with scripts/backup.sh; scripts/restore.sh loads it into a new
    empty database: every table has the same row count (the photos' upload rows and bytes too), `ledger
    verify` is clean on the copy, and an old backup's uploads tarball is unpacked. Restoring over a
    database that has tables is refused."""
    from civic.demo import seed_demo

    with app.app_context():
        seed_demo()
        db.session.commit()
        db.session.remove()
    source_url = app.config["SQLALCHEMY_DATABASE_URI"]
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "abc123.jpg").write_bytes(b"\xff\xd8photo")
    tarball = str(tmp_path / "uploads-old.tar.gz")  # as backups made before 0022_upload_data wrote it
    assert _run(["tar", "-czf", tarball, "-C", str(uploads), "."]).returncode == 0

    backup = _run(["sh", "scripts/backup.sh", str(tmp_path / "backups")], DATABASE_URL=source_url)
    assert backup.returncode == 0, backup.stderr
    (dump,) = backup.stdout.split()
    assert dump.endswith(".dump") and os.path.getsize(dump) > 1000

    restored_uploads = tmp_path / "restored-uploads"
    restore = _run(["sh", "scripts/restore.sh", dump, tarball], DATABASE_URL=fresh_database,
                   UPLOADS_DIR=str(restored_uploads))
    assert restore.returncode == 0, restore.stderr
    assert (restored_uploads / "abc123.jpg").read_bytes() == b"\xff\xd8photo"

    before, after = _counts(source_url), _counts(fresh_database)
    assert before == after
    assert before["user"] > 5 and before["ledger_posting"] > 0 and before["alembic_version"] == 1

    verify = _run([sys.executable, "-m", "flask", "--app", "wsgi", "ledger", "verify"],
                  DATABASE_URL=fresh_database, CIVIC_CONFIG="development")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Ledger OK" in verify.stdout

    again = _run(["sh", "scripts/restore.sh", dump, tarball], DATABASE_URL=fresh_database,
                 UPLOADS_DIR=str(tmp_path / "another-uploads"))
    assert again.returncode == 1 and "not empty" in again.stderr
    assert _counts(fresh_database) == after
