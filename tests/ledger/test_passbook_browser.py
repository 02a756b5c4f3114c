"""The passbook and the honour roll in a real headless Chromium at a phone's size (390×844)."""
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from civic.extensions import db
from civic.ledger import service as ledger

pytestmark = pytest.mark.browser


def test_passbook_and_honour_roll_on_a_phone(phone_page, sign_in, app, world):
    """A resident opens the passbook from the bottom bar (balance, stars, month, entries, older page);
    then the committee opens the honour roll, which fits the screen and arms its auto-refresh."""
    now = datetime.utcnow()
    with app.app_context():
        for n in range(23):
            ledger.award(world.a.id, world.resident.id, 5, idempotency_key=f"b:{n}", category="labour",
                         memo=f"清扫楼道 {n}", now=now - timedelta(minutes=30 - n))
        ledger.award(world.a.id, world.resident2.id, 20, idempotency_key="b:x", category="moral", now=now)
        db.session.commit()
    page = phone_page
    sign_in(page, world.resident)
    page.locator("[data-nav=points]").click()
    expect(page.get_by_test_id("balance")).to_have_text("115")
    expect(page.get_by_text("二星")).to_be_visible()
    expect(page.get_by_test_id("month").first).to_contain_text("年")
    expect(page.get_by_test_id("entry")).to_have_count(20)
    expect(page.get_by_test_id("entry").first).to_contain_text("清扫楼道 22")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("[data-nav=points]").bounding_box()["height"] >= 48
    page.get_by_test_id("more").click()
    expect(page.get_by_test_id("entry")).to_have_count(3)
    expect(page.get_by_test_id("entry").last).to_contain_text("清扫楼道 0")

    sign_in(page, world.committee)
    page.goto(f"/c/{world.a.id}/honour-roll")
    expect(page.get_by_role("heading", name="红榜", exact=False).first).to_be_visible()
    month = page.get_by_test_id("hr-month")
    expect(month.locator("li")).to_have_count(2)
    expect(month.locator("li").first).to_contain_text("刘阿姨")
    expect(page.locator("body")).to_have_attribute("data-refresh-armed", "1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("[data-fullscreen]").bounding_box()["height"] >= 48
