"""Steps a person takes on the phone that several browser tests share."""
import io

from PIL import Image
from playwright.sync_api import expect


def sign_up(page, phone, name, password):
    """From the welcome page, sign up through the real form and see the welcome message."""
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_role("link", name="注册").first.click()
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("您的姓名").fill(name)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_label("再次输入密码").fill(password)
    page.get_by_role("button", name="注册").click()
    expect(page.get_by_text("欢迎！")).to_be_visible()


def photo():
    """A small real JPEG, as a file chooser would give it."""
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (30, 140, 60)).save(out, "JPEG")
    return {"name": "street.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


def claim_with_photo(page, item, what):
    """From the home page, claim points for `item` with a photo and see the claim waiting for review."""
    page.locator("[data-nav=merit]").click()
    page.locator("a.merit-item", has_text=item).click()
    page.get_by_label("做了什么好事？").fill(what)
    page.locator("input[type=file]").set_input_files(photo())
    page.get_by_role("button", name="提交给村（居）委会").click()
    expect(page.get_by_text("申报已提交")).to_be_visible()
    expect(page.locator("[data-status=pending]")).to_have_text("等待审核")
