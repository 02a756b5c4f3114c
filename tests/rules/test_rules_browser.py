"""Four eyes in a real headless Chromium at 360×740: one committee member proposes, another confirms."""
import re

import pytest
from playwright.sync_api import expect

from civic.extensions import db
from civic.patrols import settings as patrol_settings

pytestmark = pytest.mark.browser


def test_one_proposes_another_confirms(phones, app, world, sign_in):
    """王主任 proposes 8 points per confirmed report; it is not in effect; 李委员 presses 确认修改; it is."""
    page, a = phones.new(), world.a.id
    sign_in(page, world.committee)
    page.goto(f"/c/{a}/rules")
    page.get_by_label("要改的规则").select_option(label="问题上报确认后得分")
    page.get_by_label("新的数值").fill("8")
    page.get_by_role("button", name="提出", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("已提出")
    waiting = page.locator("[id^=change-]", has_text="问题上报确认后得分")
    expect(waiting).to_contain_text("5 → 8")
    expect(waiting.get_by_role("button", name="确认修改")).to_have_count(0)  # not for the proposer
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    with app.app_context():
        assert patrol_settings.settings_for(a).report_points == 5
        db.session.remove()

    sign_in(page, world.committee2)
    page.goto(f"/c/{a}/rules")
    page.locator("[id^=change-]", has_text="问题上报确认后得分").get_by_role("button", name="确认修改").click()
    expect(page.get_by_text("已确认，修改现在生效")).to_be_visible()
    expect(page.get_by_text(re.compile("提出人：王主任.*决定人：李委员"))).to_be_visible()
    with app.app_context():
        assert patrol_settings.settings_for(a).report_points == 8
