"""What the PostgreSQL benchmarks share: one JSON line per figure, a dedicated database rebuilt by the
migrations, and the app pointed at it. (Not a benchmark itself: scripts/run-bench.sh runs bench_*.py.)"""
import json
import os

import psycopg
from sqlalchemy import text

SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def emit(bench, value, unit, **extra):
    print(json.dumps({"bench": bench, "value": value, "unit": unit, **extra}), flush=True)


def database_url(name):
    return SERVER.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def ensure_database(name):
    """Create the benchmark database when it is missing."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def build_app(name, **config):
    """The app on the benchmark database (warnings only in the log), with `config` on top."""
    from civic import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url(name), "LOG_LEVEL": "WARNING", **config})


def reset_schema(app):
    """Drop everything and rebuild with the Alembic migrations (all heads)."""
    from flask_migrate import upgrade

    from civic.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(revision="heads")
        db.engine.dispose()
