"""The tracking page in a real headless Chromium: emulated GPS walking, an offline spell, nothing lost."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from civic.extensions import db
from civic.patrols.models import Patrol, TrackPoint
from tests.patrols.helpers import BASE, gps_walk, step

pytestmark = pytest.mark.browser


@pytest.fixture
def gps_page(browser, live_server, app):
    """A phone-sized page whose context may use (emulated) geolocation; CSRF on as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    context = browser.new_context(viewport={"width": 360, "height": 780}, base_url=live_server, locale="zh-CN",
                                  is_mobile=True, has_touch=True, permissions=["geolocation"],
                                  geolocation={"latitude": BASE[0], "longitude": BASE[1], "accuracy": 5})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    yield context, page
    context.close()
    app.config["WTF_CSRF_ENABLED"] = False


def test_walk_with_an_offline_spell_loses_no_point(gps_page, sign_in, app, world):
    """A volunteer starts a free patrol, walks 30 GPS steps, loses the network for ten of them,
    gets it back, ends the patrol: the server has every point exactly once."""
    context, page = gps_page
    sign_in(page, world.resident)
    page.locator("[data-nav=patrols]").click()
    page.get_by_test_id("go-patrol").click()
    page.get_by_test_id("start-free").click()
    expect(page.locator("#patrol-live")).to_be_visible()
    steps = 30
    gps_walk(page, steps, offline=(10, 20))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_test_id("end-patrol").click()
    expect(page.get_by_test_id("patrol-status")).to_have_text("等待审核")

    with app.app_context():
        patrol = db.session.scalar(select(Patrol).where(Patrol.user_id == world.resident.id))
        rows = db.session.execute(select(TrackPoint.client_id, TrackPoint.lat, TrackPoint.lon).where(
            TrackPoint.patrol_id == patrol.id).order_by(TrackPoint.t)).all()
        assert patrol.status == "ended" and patrol.point_count == steps
        assert len(rows) == steps and len({r.client_id for r in rows}) == steps
        for i, row in enumerate(rows):
            assert (row.lat, row.lon) == pytest.approx(step(i), abs=1e-7)
