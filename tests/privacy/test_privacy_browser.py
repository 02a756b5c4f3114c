"""Privacy in a real headless Chromium: a resident downloads their data and closes their account on a phone."""
import json

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = pytest.mark.browser


def test_resident_downloads_their_data_and_closes_the_account_on_a_phone(phone_page, sign_in, world):
    """From 我的 the resident reaches 我的资料和账号, downloads one JSON file about themselves, then
    closes the account with the password and the tick; signing in again no longer works."""
    page = phone_page
    sign_in(page, world.resident)
    page.goto("/me")
    page.get_by_test_id("my-data").click()
    expect(page.get_by_role("heading", name="下载我的资料")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    with page.expect_download() as download:
        page.get_by_test_id("download-data").click()
    data = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert data["profile"]["display_name"] == "刘阿姨"

    button = page.get_by_test_id("close-account")
    assert button.bounding_box()["height"] >= 44
    page.get_by_label("您的密码").fill(factories.DEFAULT_PASSWORD)
    page.get_by_label("我明白：账号注销后不能再使用").check()
    button.click()
    expect(page.get_by_text("您的账号已注销")).to_be_visible()
    page.get_by_label("手机号").fill(world.resident.phone)
    page.get_by_label("密码").fill(factories.DEFAULT_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("[data-nav=me]")).to_have_count(0)
