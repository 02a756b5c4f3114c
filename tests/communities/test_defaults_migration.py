"""Communities made before every area seeded its defaults at creation get them from migration 0019, since reads
no longer create them: the privacy settings row and the badges (issue 13, item 5)."""

import pytest
from sqlalchemy import text

from civic.core.clock import utcnow
from civic.extensions import db
from tests.sites import second_site


@pytest.fixture
def database_at_0020(app, tmp_path):
    """A database of its own migrated to 0020_grid (before 0019_idempotency): SQLite file or PostgreSQL."""
    with second_site(app, tmp_path, "0020_grid", "old") as site:
        yield site


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
