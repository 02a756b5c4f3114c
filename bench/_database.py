"""What the PostgreSQL benchmarks share: one JSON line per figure, a dedicated database rebuilt by the
migrations, and the app pointed at it. (Not a benchmark itself: scripts/run-bench.sh runs bench_*.py.)"""
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
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


def production_env(name, **extra):
    """The environment of a gunicorn serving database `name` with the production settings, on loopback
    (as `make load` does): a fresh SECRET_KEY, no secure-only cookies (no TLS on 127.0.0.1), warnings only."""
    env = {k: v for k, v in os.environ.items() if k not in {"CIVIC_ALLOW_SQLITE", "TEST_DATABASE_URL"}}
    env.update(CIVIC_CONFIG="production", SECRET_KEY=secrets.token_urlsafe(48), DATABASE_URL=database_url(name),
               SESSION_COOKIE_SECURE="0", SITE_URL="http://127.0.0.1", LOG_LEVEL="WARNING")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env, port, *args, log_path=None):
    """gunicorn (gunicorn.conf.py, which `args` may override) on 127.0.0.1:port in its own process group;
    returns the process once /healthz answers. Its log goes to a file, never to a pipe: a pipe nobody
    reads fills up after 64 KB and every worker then blocks on its next log line (the server hangs and
    cannot stop)."""
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix="civic-bench-gunicorn-", suffix=".log")
        os.close(fd)
    with open(log_path, "w") as log:  # the server keeps its own copy of the file
        proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py",
                                 "-b", f"127.0.0.1:{port}", *args, "wsgi:app"], cwd=str(ROOT), env=env,
                                stdout=log, stderr=log, start_new_session=True)
    proc.log_path = log_path
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    stop_gunicorn(proc)
    tail = Path(log_path).read_text()[-2000:]
    raise RuntimeError(f"gunicorn did not answer /healthz; its log ({log_path}):\n{tail}")


def stop_gunicorn(proc):
    """SIGTERM to the server's process group, SIGKILL when it has not stopped within 30 s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
