"""Communities made before every area seeded its defaults at creation get them from migration 0019, since reads
no longer create them: the privacy settings row and the badges (issue 13, item 5)."""
import uuid

import pytest
from sqlalchemy import text

from civic.core.clock import utcnow
from civic.extensions import db


@pytest.fixture
def database_at_0020(app, tmp_path):
    """A database of its own migrated to 0020_grid (before 0019_idempotency): SQLite file or PostgreSQL."""
    import psycopg
    from flask_migrate import upgrade
    from sqlalchemy.engine import make_url

    from civic import create_app
    from civic.config import TestingConfig

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    admin = name = None
    if url.startswith("sqlite"):
        target = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        source = make_url(url)
        name = f"{source.database}_old_{uuid.uuid4().hex[:8]}"
        admin = source.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        target = source.set(database=name).render_as_string(hide_password=False)

    class Old(TestingConfig):
        SQLALCHEMY_DATABASE_URI = target

    site = create_app(Old)
    with site.app_context():
        upgrade(revision="0020_grid")
    try:
        yield site
    finally:
        with site.app_context():
            db.engine.dispose()
        if name:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_existing_communities_get_their_defaults(database_at_0020):
    from flask_migrate import upgrade

    from civic.ledger.gamification import BADGE_DEFINITIONS
    from civic.privacy.models import DEFAULT_GPS_RETENTION_DAYS

    site = database_at_0020
    with site.app_context():
        for sql in ("INSERT INTO district (id, name) VALUES (1, '历下区')",
                    "INSERT INTO street (id, district_id, name) VALUES (1, 1, '泉城路街道')",
                    "INSERT INTO community (id, street_id, name, kind, created_at) VALUES "
                    "(1, 1, '芙蓉社区', 'community', :now), (2, 1, '曲水亭村', 'village', :now)",
                    "INSERT INTO privacy_settings (community_id, gps_retention_days, updated_at) VALUES (2, 30, :now)",
                    "INSERT INTO ledger_badge (community_id, code, name, kind, threshold, sort, active) VALUES "
                    "(2, 'first_award', 'First points', 'first_award', 1, 0, true)"):
            db.session.execute(text(sql), {"now": utcnow()})
        db.session.commit()
        upgrade(revision="0019_idempotency")
        retention = dict(db.session.execute(
            text("SELECT community_id, gps_retention_days FROM privacy_settings")).all())
        assert retention == {1: DEFAULT_GPS_RETENTION_DAYS, 2: 30}  # a community's own choice is kept
        badges = db.session.execute(text("SELECT community_id, code FROM ledger_badge")).all()
        for community_id in (1, 2):
            assert sorted(code for c, code in badges if c == community_id) == sorted(BADGE_DEFINITIONS)
        db.session.remove()
