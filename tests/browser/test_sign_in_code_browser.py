"""Signing in like a phone app: a one-time code by text message, and elder mode chosen before signing in."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser, live_server, app):
    """A 360×740 phone, zh-CN, CSRF on as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield context, page
    context.close()
    app.config["WTF_CSRF_ENABLED"] = False


def test_sign_in_with_a_text_message_code(phone, world):
    """An older resident turns on elder mode on the sign-in page, asks for a code, reads it (the demo page
    stands in for the phone's messages), types it and is signed in, still in elder mode."""
    context, page = phone
    page.goto("/login")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).to_have_class(re.compile("elder"))
    page.get_by_role("link", name="用短信验证码登录").click()
    page.get_by_label("手机号").fill(world.resident.phone)
    page.get_by_role("button", name="获取验证码").click()
    masked = world.resident.phone[:3] + "****" + world.resident.phone[-4:]
    expect(page.get_by_role("status")).to_contain_text(f"如果 {masked} 已经注册，验证码马上就到")
    expect(page.get_by_label("手机号")).to_have_value(world.resident.phone)

    messages = context.new_page()
    messages.goto("/dev/sms")
    text = messages.get_by_test_id("sms").first.inner_text()
    assert world.resident.phone in text and "5 分钟内有效" in text
    code = re.search(r"验证码是 (\d{6})", text).group(1)
    messages.close()

    page.get_by_label("短信验证码").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_text("验证码不对或已过期")).to_be_visible()
    page.get_by_label("短信验证码").fill(code)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("您好，刘阿姨"))).to_be_visible()
    expect(page.locator("html")).to_have_class(re.compile("elder"))


def test_forgot_password_sets_a_new_one_with_a_code(phone, world):
    """忘记密码: a code and a new password sign the resident in; the new password works next time."""
    context, page = phone
    page.goto("/login")
    page.get_by_role("link", name="忘记密码？").click()
    page.get_by_label("手机号").fill(world.resident.phone)
    page.get_by_role("button", name="获取验证码").click()
    messages = context.new_page()
    messages.goto("/dev/sms")
    code = re.search(r"验证码是 (\d{6})", messages.get_by_test_id("sms").first.inner_text()).group(1)
    messages.close()
    page.get_by_label("短信验证码").fill(code)
    page.get_by_label("新密码", exact=True).fill("brand-new-pw")
    page.get_by_label("再次输入新密码").fill("brand-new-pw")
    page.get_by_role("button", name="保存新密码").click()
    expect(page.get_by_text("密码已修改。")).to_be_visible()
    page.locator("[data-nav=me]").click()
    page.get_by_role("button", name="退出登录").click()
    page.goto("/login")
    page.get_by_label("手机号").fill(world.resident.phone)
    page.get_by_label("密码").fill("brand-new-pw")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("nav.bottom-nav")).to_be_visible()


def test_cookies_copied_before_signing_out_no_longer_work(phone, browser, live_server, world):
    """A resident signs in (kept signed in, the default) and presses 退出登录. The session and remember-me
    cookies copied before that — as someone with the phone for a minute could — open nothing on another
    phone afterwards, though they did before."""
    context, page = phone
    page.goto("/login")
    page.get_by_label("手机号").fill(world.resident.phone)
    page.get_by_label("密码").fill("correct-horse-1")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("nav.bottom-nav")).to_be_visible()
    copied = context.cookies()
    assert {c["name"] for c in copied} >= {"session", "remember_token"}

    def other_phone_opens_me():
        other = browser.new_context(base_url=live_server, locale="zh-CN")
        other.add_cookies(copied)
        other_page = other.new_page()
        other_page.goto("/me")
        signed_in = "/login" not in other_page.url
        other.close()
        return signed_in

    assert other_phone_opens_me()
    page.locator("[data-nav=me]").click()
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_text("您已退出登录")).to_be_visible()
    assert not other_phone_opens_me()
