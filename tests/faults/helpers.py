"""What the fault tests share: a gunicorn server and a worker process on the test database, and checks."""
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

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = ROOT / ".venv" / "bin"


def pg_dsn(app):
    """The test database as a plain libpq URL (for psycopg connections of our own)."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def production_env(app):
    """Production settings on the test database, as an operator would run them."""
    env = {k: v for k, v in os.environ.items() if k not in {"CIVIC_ALLOW_SQLITE", "TEST_DATABASE_URL"}}
    env.update(CIVIC_CONFIG="production", SECRET_KEY=secrets.token_urlsafe(48), LOG_LEVEL="ERROR",
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], SESSION_COOKIE_SECURE="0",
               SITE_URL="http://127.0.0.1")
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn (gunicorn.conf.py, 2 workers x 4 threads) on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, app, workers=2, threads=4):
        self.port = free_port()
        self.env = dict(production_env(app), GUNICORN_BIND=f"127.0.0.1:{self.port}", GUNICORN_WORKERS=str(workers),
                        GUNICORN_THREADS=str(threads))
        self.proc = None
        # A file, not a pipe: a pipe nobody reads fills up with the logged errors and blocks the workers.
        self.log = tempfile.TemporaryFile()

    def __enter__(self):
        self.proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                                     env=self.env, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.log_text()[-2000:])
            try:
                status, _ = self.request("GET", "/healthz", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("gunicorn did not answer /healthz in 30 s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def log_text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, method, path, body=None, headers=None, timeout=30):
        """One request on its own connection (a phone's); returns (status, parsed JSON or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            return response.status, data
        finally:
            conn.close()


def terminate_backends(dsn, database):
    """pg_terminate_backend every session of `database` but our own: what a database restart does to
    the app's connections, without stopping the cluster that other work shares. Returns how many."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchall()
    return sum(1 for (ok,) in rows if ok)
