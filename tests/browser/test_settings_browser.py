"""Settings pages pressed in a real headless Chromium at 360×740: an e-mail address added and confirmed
through the link that arrives by mail, a street administrator appointing and removing committee members
and setting a ceiling, and a committee member drawing the patrol area."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from civic.accounts.models import User
from civic.communities import service as communities
from civic.extensions import db
from civic.patrols import settings as patrol_settings
from civic.rules import service as rules
from civic.rules.models import SettingCeiling
from tests.operations.test_mail import smtp  # noqa: F401 - the real SMTP server fixture

pytestmark = pytest.mark.browser


def _fits(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_resident_adds_an_email_and_confirms_it_from_the_link(phones, sign_in, app, world, smtp):  # noqa: F811
    """我的 → 电子邮箱 → 发送确认链接; the link from the real mail opens a page whose 确认 button confirms it."""
    page = sign_in(phones.new(), world.resident)
    page.goto("/me")
    page.get_by_role("link", name="电子邮箱").click()
    page.get_by_label("电子邮箱").fill("liu@example.org")
    page.get_by_role("button", name="发送确认链接").click()
    expect(page.locator(".flash-success")).to_contain_text("liu@example.org")
    _fits(page)
    assert len(smtp.messages) == 1 and smtp.messages[0]["To"] == "liu@example.org"
    body = smtp.messages[0].get_payload(decode=True).decode()
    link = re.search(r"https://civic\.example\.org(/me/email/verify\?t=\S+)", body).group(1)

    page.goto(link)  # the site's own address in the mail; the path is what the phone opens
    with app.app_context():
        assert db.session.get(User, world.resident.id).email_verified_at is None  # opening changes nothing
        db.session.remove()
    page.get_by_role("button", name="确认").click()
    expect(page.locator(".flash-success")).to_contain_text("已确认")
    page.goto("/me/email")
    expect(page.get_by_text("已确认", exact=True)).to_be_visible()
    with app.app_context():
        assert db.session.get(User, world.resident.id).email_verified_at is not None
        db.session.remove()


def test_street_administrator_appoints_removes_and_sets_a_ceiling(phones, sign_in, app, world):
    """The street's administrator makes 陈大爷 a committee member, removes 李委员, and caps report points."""
    with app.app_context():
        street_id = db.session.get(type(world.a), world.a.id).street_id
        rules.assign_area_admin(db.session.get(User, world.admin.id), db.session.get(User, world.outsider.id),
                                street_id=street_id)
        db.session.commit()
        db.session.remove()
    page = sign_in(phones.new(), world.outsider)
    page.goto("/areas")
    community = page.locator("li.list-item", has_text="芙蓉社区").first
    community.get_by_label("村（居）委会成员的手机号").fill(world.resident2.phone)
    community.get_by_role("button", name="任命为村（居）委会成员").click()
    expect(page.locator(".flash-success")).to_contain_text("陈大爷")
    _fits(page)
    member = page.locator("li.list-item", has_text="李委员").last
    member.get_by_role("button", name="移出村（居）委会").click()
    expect(page.locator(".flash-success")).to_contain_text("角色已更新")
    with app.app_context():
        committee = {u.display_name for u in communities.committee_of(world.a.id)}
        db.session.remove()
    assert "陈大爷" in committee and "李委员" not in committee

    page.get_by_label("要改的规则").select_option(label="问题上报确认后得分")
    page.get_by_label("最高允许").fill("3")
    page.get_by_role("button", name="设定上限").click()
    expect(page.locator(".flash-success")).to_contain_text("上限已保存")
    with app.app_context():
        ceiling = db.session.scalar(select(SettingCeiling))
        db.session.remove()
    assert (ceiling.street_id, ceiling.field, ceiling.maximum) == (street_id, "report_points", 3)


def test_committee_draws_the_patrol_area_with_a_centre_and_radius(phones, sign_in, app, world):
    """巡逻设置: centre 36.66/117.02 and 800 m saved through the real 保存 button, and shown again."""
    page = sign_in(phones.new(), world.committee)
    page.goto(f"/c/{world.a.id}/patrols/settings")
    page.get_by_label("中心点纬度").fill("36.66")
    page.get_by_label("中心点经度").fill("117.02")
    page.get_by_label("半径（米）").fill("800")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash-success").first).to_contain_text("已保存")
    _fits(page)
    expect(page.get_by_label("半径（米）")).to_have_value("800")
    with app.app_context():
        settings = patrol_settings.settings_for(world.a.id)
        db.session.remove()
    assert (settings.area_lat, settings.area_lon, settings.area_radius_m) == (36.66, 117.02, 800)
