"""Works offline (service worker): the patrol page opens and keeps tracking with no network, and a resident's
open voucher (QR and typed code) shows at the counter with no signal. Chromium with the context offline."""
import io

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from civic.extensions import db
from civic.patrols.models import Patrol, TrackPoint
from civic.shop import service as shop_service
from tests.patrols.helpers import step as _step
from tests.patrols.test_patrols_browser import gps_page  # noqa: F401 - the phone with emulated GPS
from tests.shop.conftest import stock_shop

pytestmark = pytest.mark.browser

KEPT = """async (path) => {
  if (!navigator.serviceWorker.controller) return false;
  for (const name of await caches.keys()) {
    if (await (await caches.open(name)).match(path)) return true;
  }
  return false;
}"""


def _wait_kept(page, path):
    """Until the service worker controls the page and has kept `path` on the phone."""
    page.wait_for_function(KEPT, arg=path, polling=100)


def test_the_patrol_page_opens_and_keeps_tracking_offline(gps_page, app, world, sign_in):  # noqa: F811 - the fixture imported above
    """A volunteer starts a patrol, loses the network, reopens the patrol page: it opens from the phone,
    keeps counting GPS points, holds them, and sends every one when the network is back."""
    context, page = gps_page
    sign_in(page, world.resident)
    page.locator("[data-nav=patrols]").click()
    page.get_by_test_id("go-patrol").click()
    page.get_by_test_id("start-free").click()
    expect(page.get_by_test_id("live-count")).to_have_text("1")
    track = page.evaluate("location.pathname")
    _wait_kept(page, track)
    _wait_kept(page, "/static/vendor/leaflet/leaflet.js")

    context.set_offline(True)
    page.reload()
    expect(page.locator("#patrol-live")).to_be_visible()
    expect(page.locator(".leaflet-container")).to_be_visible()
    count, pending = page.get_by_test_id("live-count"), page.get_by_test_id("live-pending")
    expect(count).not_to_have_text("0")
    base = int(count.inner_text())  # the points so far, the reopened page's first fix included
    for i in range(1, 8):
        lat, lon = _step(i)
        context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
        expect(count).to_have_text(str(base + i))
    assert int(pending.inner_text()) >= 7
    expect(page.locator("[data-live-status]")).to_have_text("没有网络：位置先存在手机里，稍后上传。")

    context.set_offline(False)
    expect(pending).to_have_text("0", timeout=20_000)
    with app.app_context():
        patrol = db.session.scalar(select(Patrol).where(Patrol.user_id == world.resident.id))
        stored = db.session.scalar(
            select(db.func.count()).select_from(TrackPoint).where(TrackPoint.patrol_id == patrol.id))
    assert stored == base + 7


def test_an_open_voucher_shows_at_the_counter_with_no_network(gps_page, app, world, sign_in):  # noqa: F811 - the fixture imported above
    """A resident who opened their vouchers once can show the QR code and read out the code with no signal."""
    with app.app_context():
        s = stock_shop(world)
        order = shop_service.place_order(db.session.merge(world.resident), world.a.id, s.item.id)
        order_id, code, token = order.id, order.code, shop_service.voucher_token(order)
        db.session.commit()
    context, page = gps_page
    sign_in(page, world.resident)
    page.goto("/shop/orders")
    _wait_kept(page, "/shop/orders")
    page.get_by_text("洗衣粉").first.click()
    expect(page.get_by_test_id("code")).to_be_visible()
    _wait_kept(page, f"/shop/orders/{order_id}")
    _wait_kept(page, f"/shop/orders/{order_id}/qr.png")

    context.set_offline(True)
    page.goto("/")  # anywhere; then back to the vouchers as a resident would at the counter
    page.goto("/shop/orders")
    page.get_by_text("洗衣粉").first.click()
    shown = page.get_by_test_id("code").inner_text().replace(" ", "").replace("-", "")
    assert shown == code
    qr = page.locator("img.shop-qr")
    expect(qr).to_be_visible()
    assert page.evaluate("document.querySelector('img.shop-qr').naturalWidth") > 0
    image = Image.open(io.BytesIO(qr.screenshot()))
    decoded = zxingcpp.read_barcodes(image)
    assert decoded and decoded[0].text == token
