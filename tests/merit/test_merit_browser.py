"""The whole claim path in a real headless Chromium at a phone's size:
claim → approve → notice → objection → dismissed → period ends → points posted."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from civic.extensions import db
from civic.ledger.service import balance_of
from civic.merit.models import Claim
from civic.worker import run_job
from tests.browser.steps import claim_with_photo

pytestmark = pytest.mark.browser


def test_claim_approve_object_dismiss_and_post(phone_page, sign_in, app, world, rules):
    """A resident claims with a photo, the committee approves 8 points, a neighbour objects, the committee
    dismisses the objection, and when the new notice period ends the job posts the points once."""
    page = phone_page
    a = world.a.id

    # The resident claims "清扫街道" (2–10 points) with a photo, from the home page.
    sign_in(page, world.resident)
    claim_with_photo(page, "清扫街道", "清扫了三号楼前的路面")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # The committee approves it with 8 points.
    sign_in(page, world.committee)
    page.goto(f"/c/{a}/merit/review")
    card = page.locator(".merit-review", has_text="清扫了三号楼前的路面")
    expect(card.locator(".merit-photos img")).to_have_count(1)
    card.get_by_label(re.compile("积分（2 到 10）")).fill("8")
    card.locator("[data-action=approve]").click()
    expect(page.get_by_text("已通过，现在进入公示")).to_be_visible()

    # A neighbour objects on the notice board.
    sign_in(page, world.resident2)
    page.goto(f"/c/{a}/merit/notice")
    item = page.locator(".merit-notice", has_text="清扫街道")
    expect(item).to_contain_text("刘阿姨")
    expect(item).to_contain_text("+8")
    item.locator("[data-action=object]").click()
    page.get_by_label("为什么有异议？").fill("那天下雨，没看到有人扫")
    page.get_by_role("button", name="提交异议").click()
    expect(page.get_by_text("异议已提交")).to_be_visible()
    expect(page.get_by_text("有邻居提出异议，村（居）委会正在核实。")).to_be_visible()

    # The committee dismisses the objection: the item goes back on notice for a full period.
    sign_in(page, world.committee2)
    page.goto(f"/c/{a}/merit/review")
    objection = page.locator(".merit-objection", has_text="那天下雨")
    objection.get_by_label("处理理由（会公开）").fill("有照片为证，雨前扫的")
    objection.locator("[data-action=dismiss]").click()
    expect(page.get_by_text("异议不成立。")).to_be_visible()

    with app.app_context():
        claim = db.session.scalar(select(Claim))
        assert claim.status == "notice" and claim.points == 8
        ends = claim.notice_ends_at
    assert run_job(app, "merit_close_notices", now=ends - timedelta(minutes=1)) == 0
    assert run_job(app, "merit_close_notices", now=ends + timedelta(minutes=1)) == 1
    assert run_job(app, "merit_close_notices", now=ends + timedelta(minutes=6)) == 0
    with app.app_context():
        assert balance_of(a, world.resident.id) == 8

    # The resident sees the points and the final status.
    sign_in(page, world.resident)
    page.goto(f"/c/{a}/merit/")
    expect(page.get_by_test_id("balance")).to_have_text("8")
    page.goto(f"/c/{a}/merit/mine")
    expect(page.locator("[data-status=posted]")).to_have_text("已生效")
