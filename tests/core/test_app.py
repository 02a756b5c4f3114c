"""App-wide behaviour: health, schema drift, production safety, headers, assets."""
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from civic import create_app
from civic.config import ProductionConfig
from civic.extensions import db
from civic.patrols.partitions import schema_name_filter

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_checks_the_database(client):
    """/healthz answers ok when the database answers."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["database"] == "ok"
    assert response.json["schema"]["current"] is True


def test_healthz_reports_a_dead_database():
    """/healthz answers 503 when the database cannot be reached."""
    app = create_app({"ENV_NAME": "testing", "TESTING": True, "SECRET_KEY": "x",
                      "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}}})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"


def test_models_and_migrations_agree(app_ctx):
    """The migrated schema has exactly what the models declare (no drift)."""
    with db.engine.connect() as conn:
        opts = {"compare_type": True, "include_name": schema_name_filter}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
        if conn.dialect.name == "sqlite":
            diff = [d for d in diff if not _sqlite_stand_in_for_the_key(d)]
    assert diff == []


def _sqlite_stand_in_for_the_key(change):
    """On SQLite a community table keeps `id INTEGER PRIMARY KEY` (the only key SQLite numbers) with a unique
    (community_id, id) beside it, where the models declare the primary key (community_id, id)
    (civic.core.tenancy.distribution_key): that unique constraint is the key, not drift."""
    if change[0] != "remove_constraint":
        return False
    constraint = change[1]
    columns = [c.name for c in constraint.columns]
    table = db.metadata.tables.get(constraint.table.name)
    return (columns == ["community_id", "id"] and table is not None
            and [c.name for c in table.primary_key.columns][:2] == ["community_id", "id"])


@pytest.mark.parametrize("overrides, problem", [
    ({"SECRET_KEY": None}, "SECRET_KEY"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ({"SECRET_KEY": "x" * 40, "DEBUG": True}, "debug"),
])
def test_production_refuses_unsafe_settings(overrides, problem, monkeypatch):
    """Production mode will not start without a real secret key or with debug on."""
    monkeypatch.setenv("CIVIC_ALLOW_SQLITE", "1")

    class Unsafe(ProductionConfig):
        pass

    for key, value in overrides.items():
        setattr(Unsafe, key, value)
    with pytest.raises(RuntimeError, match=problem):
        create_app(Unsafe)


def test_production_refuses_sqlite_unless_allowed(monkeypatch):
    """Production needs PostgreSQL unless SQLite is explicitly allowed for a small site."""
    monkeypatch.delenv("CIVIC_ALLOW_SQLITE", raising=False)

    class OnSqlite(ProductionConfig):
        SECRET_KEY = "k" * 48
        SQLALCHEMY_DATABASE_URI = "sqlite:////tmp/civic-prod-check.db"

    with pytest.raises(RuntimeError, match="PostgreSQL"):
        create_app(OnSqlite)


def test_production_starts_with_safe_settings(monkeypatch):
    """With a long secret key and debug off, production starts with secure cookies."""
    monkeypatch.setenv("CIVIC_ALLOW_SQLITE", "1")

    class Safe(ProductionConfig):
        SECRET_KEY = "k" * 48
        SITE_URL = "https://civic.example.org"

    app = create_app(Safe)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_security_headers_on_pages(client):
    """Every page carries a CSP without inline script, nosniff and frame-ancestors."""
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_inline_script_and_no_cdn_in_templates():
    """Templates load scripts and styles only from static/, and never inline a script."""
    for path in (ROOT / "templates").rglob("*.html"):
        source = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source), f"inline <script> in {path}"
        assert not re.search(r"""(src|href)=["']https?://""", source), f"external asset in {path}"


def test_manifest_and_icons(client):
    """The web app manifest is served and its icons exist."""
    manifest = client.get("/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.mimetype == "application/manifest+json"
    for icon in manifest.json["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_unknown_page_is_a_friendly_404(client):
    """An unknown page gets the site's own 404 page in Chinese."""
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_request_is_logged_once_with_a_request_id(client):
    """Each response echoes the request id the client sent (or a new one)."""
    response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
