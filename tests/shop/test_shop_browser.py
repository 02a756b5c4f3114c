"""The points shop in a real headless Chromium: a resident orders on a phone, the shopkeeper redeems."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_resident_orders_on_a_phone_and_the_shopkeeper_redeems_by_code(phone_page, sign_in, browser, live_server, world,
                                                                       shop):
    """At 390×844 a resident exchanges points for goods and gets a voucher; in another browser the
    shopkeeper types its code at the counter, sees who and what, and hands the goods over."""
    page = phone_page
    sign_in(page, world.resident)
    page.goto("/shop")
    expect(page.get_by_test_id("balance")).to_have_text("100")
    page.get_by_test_id("item").first.click()
    expect(page.get_by_role("heading", name="洗衣粉")).to_be_visible()
    button = page.get_by_test_id("order")
    assert button.bounding_box()["height"] >= 48
    button.dblclick()  # an impatient double tap still makes one order
    expect(page.get_by_test_id("voucher")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("待领取")
    code = page.get_by_test_id("code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{4} [A-Z0-9]{4}", code)
    # the voucher's QR image has loaded and is a real picture (the page can show before the image;
    # expect() polls outside the page, so the CSP's ban on eval does not get in the way)
    qr_image = page.locator(".shop-qr")
    expect(qr_image).to_have_js_property("complete", True)
    assert qr_image.evaluate("img => img.naturalWidth") > 100
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto("/shop")
    expect(page.get_by_test_id("balance")).to_have_text("70")

    keeper_context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server,
                                         locale="zh-CN", is_mobile=True, has_touch=True)
    try:
        counter = keeper_context.new_page()
        counter.set_default_timeout(10_000)
        sign_in(counter, world.shopkeeper)
        counter.goto(f"/c/{world.a.id}/shop/shops/{shop.shop_id}/counter")
        counter.get_by_label("券码").fill(code.lower())
        counter.get_by_test_id("check").click()
        found = counter.get_by_test_id("found")
        expect(found).to_contain_text("刘阿姨")
        expect(found).to_contain_text("洗衣粉 × 1")
        counter.get_by_test_id("confirm").click()
        expect(counter.locator(".flash-success")).to_contain_text("刘阿姨")
        assert counter.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        keeper_context.close()

    page.goto("/shop/orders")
    expect(page.locator(".pill").first).to_have_text("已领取")
