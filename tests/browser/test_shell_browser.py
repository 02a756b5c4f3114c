"""The mobile shell in a real headless Chromium at a phone's size."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.steps import sign_up

pytestmark = pytest.mark.browser


def test_sign_up_sign_in_and_see_the_chinese_home(phone_page, world):
    """A new resident signs up, signs out, signs in again and sees the Chinese home page with the bottom bar."""
    page = phone_page
    sign_up(page, "13912345678", "刘阿姨", "my-secret-pw")
    page.locator("[data-nav=me]").click()
    page.get_by_role("button", name="退出登录").click()
    page.goto("/login")
    page.get_by_label("手机号").fill("13912345678")
    page.get_by_label("密码").fill("my-secret-pw")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name=re.compile("您好，刘阿姨"))).to_be_visible()
    nav = page.locator("nav.bottom-nav a")
    expect(nav).to_have_text(["首页", "积分", "巡逻", "议事", "我的"])
    # Fits a phone: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("[data-nav=me]").bounding_box()
    assert box["height"] >= 48


def test_switch_to_english_and_elder_mode(phone_page, sign_in, world):
    """A resident switches the language to English and turns on elder mode, which enlarges text and targets."""
    page = phone_page
    sign_in(page, world.resident)
    normal_size = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    normal_nav = page.locator("[data-nav=me]").bounding_box()["height"]
    page.locator("[data-nav=me]").click()
    page.get_by_label("语言").select_option("en")
    page.get_by_label("长辈模式").check()
    page.get_by_test_id("save-preferences").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("body")).to_have_class(re.compile("elder"))
    elder_size = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert elder_size >= normal_size * 1.2
    assert page.locator("[data-nav=me]").bounding_box()["height"] > normal_nav
    page.locator("[data-nav=home]").click()
    expect(page.locator("nav.bottom-nav a")).to_have_text(["Home", "Points", "Patrol", "Meetings", "Me"])
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_committee_confirms_a_join_request_and_grants_a_role(phone_page, sign_in, world, app):
    """A newcomer asks to join; the committee confirms in the browser and makes them a coordinator."""
    from civic.communities import service
    from civic.core.permissions import roles_in
    from civic.extensions import db

    with app.app_context():
        service.request_to_join(db.session.merge(world.outsider), world.a.id, address="7号楼")
        db.session.commit()
    page = phone_page
    sign_in(page, world.committee)
    page.goto(f"/c/{world.a.id}/members")
    expect(page.get_by_text("7号楼")).to_be_visible()
    page.get_by_role("button", name="确认").click()
    expect(page.get_by_text("已确认。")).to_be_visible()
    newcomer = page.locator("li.list-item", has_text="路人")
    newcomer.locator("summary").click()
    newcomer.get_by_label("角色").select_option("coordinator")
    newcomer.get_by_role("button", name="授予").click()
    expect(page.get_by_text("角色已更新。")).to_be_visible()
    with app.app_context():
        assert roles_in(world.outsider, world.a.id) == {"resident", "coordinator"}
