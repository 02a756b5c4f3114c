"""Shared fixtures: an app on a real database built by the migrations, clean tables
after every test, an HTTP client with an `auth` helper, a live server and a browser.

The database is SQLite (instance/test.db) unless TEST_DATABASE_URL points at PostgreSQL.
"""
import os
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from werkzeug.serving import make_server

from civic import create_app
from civic.config import TestingConfig
from civic.extensions import db
from tests import factories
from tests.formcheck import form_clashes

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def _reset_database(app):
    """Drop everything, then build the schema with the Alembic migrations."""
    from flask_migrate import upgrade

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        if url.startswith("sqlite"):
            db.engine.dispose()
            path = db.engine.url.database
            for suffix in ("", "-wal", "-shm"):
                if path and os.path.exists(path + suffix):
                    os.remove(path + suffix)
        else:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(revision="heads")
        db.engine.dispose()


def _guard_forms(app):
    """Check the forms of every HTML page any test renders (client or browser): a hidden input named like
    a submit button makes a browser send the wrong value (issue 15). Failures are reported per test."""
    from flask import request

    clashes = app.extensions["form_clashes"] = []

    @app.after_request
    def check_forms(response):
        if response.mimetype == "text/html" and not response.direct_passthrough and not response.is_streamed:
            clashes.extend(f"{problem} (on {request.path})"
                           for problem in form_clashes(response.get_data(as_text=True)))
        return response


@pytest.fixture(autouse=True)
def _forms_send_what_the_button_says(request):
    """Fail a test during which any page rendered a form a browser would submit wrongly."""
    yield
    if "app" not in request.fixturenames:
        return
    clashes = request.getfixturevalue("app").extensions["form_clashes"]
    found, clashes[:] = list(clashes), []
    assert not found, "forms a browser would submit wrongly:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def app():
    """The application, on a freshly migrated test database."""
    app = create_app(TestingConfig)
    app.config.update(WTF_CSRF_ENABLED=False)
    _guard_forms(app)
    _reset_database(app)
    with app.app_context():
        existing = set(inspect(db.engine).get_table_names())
    app.extensions["test_tables"] = [
        t.name for t in reversed(db.metadata.sorted_tables) if t.name in existing and t.name != "alembic_version"
    ]
    return app


@pytest.fixture(scope="session")
def is_postgres(app):
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


@pytest.fixture(autouse=True)
def _clean_tables(request):
    """Every test starts from empty tables (real commits happen, so no rollback trick)."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        tables = app.extensions["test_tables"]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def app_ctx(app):
    """An application context whose session the test uses directly."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Sign in and out through the real forms."""

    def __init__(self, client):
        self._client = client

    def login(self, phone=factories.DEFAULT_PHONE, password=factories.DEFAULT_PASSWORD):
        return self._client.post("/login", data={"phone": phone, "password": password})

    def logout(self):
        return self._client.post("/logout")

    def switch_to(self, person, password=factories.DEFAULT_PASSWORD):
        """Sign out whoever is signed in, then sign `person` (a user or a phone number) in; it must work."""
        self.logout()
        response = self.login(_phone_of(person), password)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def world(app):
    """Two communities with a committee member, a coordinator, a shopkeeper and residents each; committed.

    Built in its own app context and returned detached (attributes loaded), so HTTP requests in a
    test get their own session as in production, never the test's.
    """
    with app.app_context():
        session = db.session()
        session.expire_on_commit = False
        w = factories.make_world()
        db.session.commit()
        db.session.expunge_all()
        db.session.remove()
    return w


@pytest.fixture(scope="session")
def live_server(app):
    """The app served on a real port in a background thread (for the browser)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run 'make test', which installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def phone_page(browser, live_server, app, request):
    """A page in a fresh context sized like a phone (390×844), CSRF on as in production; screenshotted into
    test-artifacts/ when the test fails."""
    app.config["WTF_CSRF_ENABLED"] = True
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server,
                                  locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    _screenshots_if_failed(request, [page])
    context.close()
    app.config["WTF_CSRF_ENABLED"] = False


def pytest_collection_modifyitems(config, items):
    """Concurrency proofs need PostgreSQL; on SQLite they are skipped with a reason."""
    if (TestingConfig.SQLALCHEMY_DATABASE_URI or "").startswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL); SQLite serialises writers")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# --- signing in, API tokens and phones for the browser tests --------------------------------------

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _phone_of(person):
    return getattr(person, "phone", person)


@pytest.fixture
def sign_in():
    """Sign a browser page in through the real login form: `sign_in(page, user_or_phone)`."""
    from playwright.sync_api import expect

    def sign_in(page, person, password=factories.DEFAULT_PASSWORD):
        page.context.clear_cookies()  # whoever was signed in on this phone before
        page.goto("/login")
        page.get_by_label("手机号").fill(_phone_of(person))
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        expect(page.locator("nav.bottom-nav")).to_be_visible()
        return page

    return sign_in


@pytest.fixture
def api_token(client):
    """Bearer headers for a person: `api_token(user_or_phone)` → {"Authorization": "Bearer …"}."""

    def api_token(person=factories.DEFAULT_PHONE, password=factories.DEFAULT_PASSWORD):
        response = client.post("/api/v1/auth/token", json={"phone": _phone_of(person), "password": password})
        assert response.status_code == 201, response.json
        return {"Authorization": f"Bearer {response.json['token']}"}

    return api_token


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _screenshots_if_failed(request, pages):
    """Save a full-page screenshot of every open page into test-artifacts/ when the test failed."""
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    for i, page in enumerate(pages):
        if not page.is_closed():
            try:
                page.screenshot(path=str(ARTIFACTS / f"{stem}-{i}.png"), full_page=True)
            except Exception as error:  # a crashed page must not hide the test's own failure
                print(f"screenshot {i} failed: {error}")


@pytest.fixture
def phones(browser, live_server, app, request):
    """Open phones: `phones.new(**context_options)` gives a page at 360×740, zh-CN, touch, CSRF on as in
    production; every page is screenshotted into test-artifacts/ when the test fails."""
    app.config["WTF_CSRF_ENABLED"] = True
    contexts, pages = [], []

    class Phones:
        @staticmethod
        def new(**options):
            settings = dict(viewport={"width": 360, "height": 740}, base_url=live_server, locale="zh-CN",
                            is_mobile=True, has_touch=True)
            settings.update(options)
            context = browser.new_context(**settings)
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(10_000)
            page.on("dialog", lambda dialog: dialog.accept())
            pages.append(page)
            return page

    yield Phones
    _screenshots_if_failed(request, pages)
    for context in contexts:
        context.close()
    app.config["WTF_CSRF_ENABLED"] = False
