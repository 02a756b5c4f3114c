"""The points gate in a real phone browser (360×740, zh-CN), pressing the real buttons: a resident's claim is
approved by the committee, the resident's passbook and home page show the points on notice with the day
they arrive, and the home page shows the balance; when the notice job runs, the points are in."""
import re
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from civic.extensions import db
from civic.ledger import service as ledger
from civic.merit.models import Claim
from civic.worker import run_job
from tests.browser.steps import claim_with_photo
from tests.merit.conftest import make_rules

pytestmark = pytest.mark.browser


def test_an_approved_claim_shows_on_the_passbook_and_home_as_on_notice(phones, sign_in, app, world):
    """Issue 15: after the committee approves 8 points the passbook says "8 分公示中，M/D 入账" and the home page
    shows the balance (12 already earned) and the points on their way; after the notice job, 20."""
    a = world.a.id
    with app.app_context():
        make_rules(a, db.session.merge(world.committee), db.session.merge(world.committee2))
        ledger.award(a, world.resident.id, 12, idempotency_key="test:seed", category="labour", memo="打扫楼道")
        db.session.commit()

    resident = phones.new()
    sign_in(resident, world.resident)
    expect(resident.get_by_test_id("home-balance")).to_have_text("12")
    claim_with_photo(resident, "清扫街道", "清扫了三号楼前的路面")

    committee = phones.new()
    sign_in(committee, world.committee)
    committee.goto(f"/c/{a}/merit/review")
    card = committee.locator(".merit-review", has_text="清扫了三号楼前的路面")
    card.get_by_label(re.compile("积分（2 到 10）")).fill("8")
    card.locator("[data-action=approve]").click()
    expect(committee.get_by_text("已通过，现在进入公示")).to_be_visible()

    with app.app_context():
        ends = db.session.scalar(select(Claim.notice_ends_at))
    local = ends.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    on_notice = f"8 分公示中，{local.month}/{local.day} 入账"

    resident.goto("/")
    expect(resident.get_by_test_id("home-balance")).to_have_text("12")
    expect(resident.get_by_test_id("home-points")).to_contain_text(on_notice)
    resident.get_by_test_id("home-points").click()
    expect(resident).to_have_url(re.compile(r"/points$"))
    expect(resident.get_by_test_id("balance")).to_have_text("12")
    expect(resident.get_by_test_id("pending")).to_have_text(on_notice)
    assert resident.evaluate("document.documentElement.scrollWidth") <= 360

    assert run_job(app, "merit_close_notices", now=ends + timedelta(minutes=1)) == 1
    resident.reload()
    expect(resident.get_by_test_id("balance")).to_have_text("20")
    expect(resident.get_by_test_id("pending")).to_have_count(0)
    resident.goto("/")
    expect(resident.get_by_test_id("home-balance")).to_have_text("20")
