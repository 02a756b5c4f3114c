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


def _fill_new_goods(page, world, shop, *, name, offer, price="40", stock=None):
    """Open the shop's "add goods" form and type the goods in (first and last day of the offer)."""
    page.goto(f"/c/{world.a.id}/shop/shops/{shop.shop_id}/items/new")
    page.locator("#name").fill(name)
    page.locator("#price").fill(price)
    if stock is not None:
        page.locator("#stock").fill(stock)
    page.locator("#available_from").fill(offer[0])
    page.locator("#available_until").fill(offer[1])


def test_the_shopkeeper_puts_goods_on_offer_until_the_end_of_their_last_day(phone_page, sign_in, app, world, shop):
    """The goods form, filled and saved in the page: the offer runs to the end of the last day entered
    (China time), and the edit form shows that same last day again."""
    from datetime import date, datetime

    from sqlalchemy import select

    from civic.extensions import db
    from civic.shop.models import Item

    page = phone_page
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, world.shopkeeper)
    _fill_new_goods(page, world, shop, name="大米五斤", offer=("2027-03-01", "2027-03-31"), stock="12")
    save = page.get_by_role("button", name="保存")
    assert save.bounding_box()["height"] >= 44
    save.click()
    expect(page.locator(".flash-success")).to_be_visible()
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.community_id == world.a.id, Item.name == "大米五斤"))
        assert item is not None and item.price == 40 and item.stock == 12
        assert item.available_from == datetime(2027, 2, 28, 16, 0)   # 1 March 00:00 in China
        assert item.available_until == datetime(2027, 3, 31, 16, 0)  # 1 April 00:00 in China: all of 31 March
        item_id = item.id
        db.session.remove()
    page.goto(f"/c/{world.a.id}/shop/items/{item_id}/edit")
    expect(page.locator("#available_until")).to_have_value(date(2027, 3, 31).isoformat())
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_goods_whose_offer_ends_before_it_starts_are_refused_and_nothing_is_saved(phone_page, sign_in, app, world,
                                                                                    shop):
    """An end before the start, pressed in the page, gets a clear message and adds no goods."""
    from sqlalchemy import func, select

    from civic.extensions import db
    from civic.shop.models import Item

    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Item).where(Item.community_id == world.a.id))
        db.session.remove()
    page = phone_page
    sign_in(page, world.shopkeeper)
    _fill_new_goods(page, world, shop, name="过期的米", offer=("2027-03-10", "2027-03-01"))
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("截止日期必须晚于开始日期。")).to_be_visible()
    expect(page.locator("#name")).to_have_value("过期的米")  # what was typed is still there
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Item).where(
            Item.community_id == world.a.id)) == before
        db.session.remove()
