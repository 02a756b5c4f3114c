"""The served adversarial suite's fixture: the app as production runs it, attacked over HTTP.

`served` (session scope) makes a fresh PostgreSQL database beside the test database (its name + `_served`,
e.g. test_uploads_served, on the same server), builds it with the migrations, seeds the demo data
(civic.demo.seed_demo: two communities, the demo people, password civic-demo-1), and starts gunicorn with
gunicorn.conf.py and CIVIC_CONFIG=production on a free loopback port (tests/operations/proxy.py starts and
stops it; no nginx, so no proxy hops and cookies without `Secure`). On a SQLite pass it skips with the
reason; CI runs the PostgreSQL pass too (scripts/run-tests.sh fails there when PostgreSQL is missing).

Adding an attack (tests/security/test_served_attacks.py): take `served`, attack through HTTP only, then
check the outcome through HTTP or, read-only, with `served.read(fn)`, which runs fn() in an app context
on the served database. The demo data is shared by every attack and not reset between them, so an attack
must not depend on another's leftovers: make what it needs (`served.sign_up()`), or use names no other
attack uses.

    def test_my_attack(served):
        resident = served.session("13800000005")            # signed in through the real form
        answer = resident.post("/api/v1/...", json={...})   # the session cookie + X-CSRFToken
        token = served.token("13800000001")                 # {"Authorization": "Bearer ..."}
        answer = served.client().get("/api/v1/me", headers=token)
        assert served.read(lambda: ...) == ...
"""
import re
import secrets
import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from civic import create_app
from civic.config import TestingConfig
from civic.extensions import db
from tests.operations.proxy import Browserless, production_env, start_gunicorn, stop

DEMO_PASSWORD = "civic-demo-1"


class Served:
    """The served app: its address, HTTP clients, and a read-only look at its database."""

    def __init__(self, base, app, community_ids):
        self.base, self.app = base, app
        self.a, self.b = community_ids  # the demo's two communities (芙蓉社区, 曲水亭村)

    def client(self):
        """A fresh HTTP client (requests session, no redirects followed)."""
        return Browserless(base=self.base)

    def session(self, phone, password=DEMO_PASSWORD):
        """A client signed in through the real sign-in form; it sends X-CSRFToken on every API call."""
        client = self.client()
        answer = client.sign_in(phone, password)
        assert answer.status_code == 302, f"sign-in of {phone}: {answer.status_code} {answer.text[:300]}"
        page = client.get("/me").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page) or re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if token:
            client.http.headers["X-CSRFToken"] = token.group(1)
        return client

    def token(self, phone, password=DEMO_PASSWORD):
        """Bearer headers for a demo person."""
        answer = self.client().post("/api/v1/auth/token", json={"phone": phone, "password": password})
        assert answer.status_code == 201, answer.text[:300]
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def sign_up(self, name="新居民"):
        """A new person signed up through the form; returns (phone, password)."""
        phone, password = "139" + "".join(secrets.choice("0123456789") for _ in range(8)), "Lantern-Pebble-42"
        client = self.client()
        answer = client.submit("/signup", "/signup", {"phone": phone, "display_name": name, "password": password,
                                                       "confirm": password, "password2": password, "agree": "y"})
        assert answer.status_code == 302, answer.text[:500]
        return phone, password

    def read(self, fn):
        """fn() in an app context on the served database (for checks only; attacks go through HTTP)."""
        with self.app.app_context():
            try:
                return fn()
            finally:
                db.session.rollback()
                db.session.remove()


def _served_database(test_url):
    url = make_url(test_url)
    name = f"{url.database}_served"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), admin, name


@pytest.fixture(scope="session")
def served():
    """gunicorn + PostgreSQL in production mode with the demo data (see the module docstring)."""
    test_url = TestingConfig.SQLALCHEMY_DATABASE_URI or ""
    if not test_url.startswith("postgresql"):
        pytest.skip("the served adversarial suite runs against gunicorn + PostgreSQL: it runs in the PostgreSQL "
                    "pass (set TEST_DATABASE_URL); this is the SQLite pass")
    from flask_migrate import upgrade

    from civic.communities.models import Community
    from civic.demo import seed_demo

    database_url, admin, name = _served_database(test_url)
    workdir = Path(tempfile.mkdtemp(prefix="civic-served-"))

    class ServedDatabase(TestingConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        UPLOADS_DIR = str(workdir / "uploads")

    app = create_app(ServedDatabase)
    with app.app_context():
        upgrade(revision="heads")
        with app.test_request_context():
            seed_demo()
            db.session.commit()
            ids = tuple(db.session.scalars(db.select(Community.id).order_by(Community.id)).all()[:2])
        db.session.remove()
    env = production_env(database_url, workdir, SITE_URL="http://127.0.0.1", PROXY_HOPS="0",
                         SESSION_COOKIE_SECURE="false", LOG_LEVEL="WARNING")
    gunicorn = None
    try:
        gunicorn, port = start_gunicorn(env, workdir)
        yield Served(f"http://127.0.0.1:{port}", app, ids)
    finally:
        stop(gunicorn)
        log = workdir / "gunicorn.log"
        if log.exists() and "Traceback" in log.read_text(errors="replace"):
            print("gunicorn log of the served suite:\n" + log.read_text(errors="replace")[-5000:])
        with app.app_context():
            db.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
