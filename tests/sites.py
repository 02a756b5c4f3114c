"""A second site beside the test one: its own database (a SQLite file, or a new PostgreSQL database on the
test server), migrated to a given revision, dropped afterwards. For migrations tried on old data and for
moving a community between installs."""
import uuid
from contextlib import contextmanager

import psycopg
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from civic import create_app
from civic.config import TestingConfig
from civic.extensions import db


@contextmanager
def second_site(app, tmp_path, revision, label, **settings):
    """Yield an app on a new database migrated to `revision` ("heads" for a current install); `settings`
    override the testing configuration (e.g. UPLOADS_DIR)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    admin = name = None
    if url.startswith("sqlite"):
        target = f"sqlite:///{tmp_path / f'{label}.db'}"
    else:
        source = make_url(url)
        name = f"{source.database}_{label}_{uuid.uuid4().hex[:8]}"
        admin = source.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        target = source.set(database=name).render_as_string(hide_password=False)

    config = type("SecondSite", (TestingConfig,), dict(settings, SQLALCHEMY_DATABASE_URI=target))
    site = create_app(config)
    with site.app_context():
        upgrade(revision=revision)
    try:
        yield site
    finally:
        with site.app_context():
            db.session.remove()
            db.engine.dispose()
        if name:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
