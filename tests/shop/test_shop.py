"""The points shop: orders with held points, vouchers, redemption, cancel, expiry, economy, pages and API."""
import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from civic.core import qr
from civic.core.clock import utcnow
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Account
from civic.notifications.models import Notification
from civic.shop import service
from civic.shop.models import Item, Order
from tests import factories
from tests.shop.conftest import stock_shop


def _balance(community_id, key):
    return db.session.scalar(
        select(Account.balance).where(Account.community_id == community_id, Account.key == key)) or 0


def _clean_ledger():
    result = ledger.verify()
    assert result["breaches"] == []


# --- ordering -----------------------------------------------------------------------------------

def test_order_holds_points_takes_stock_and_makes_a_voucher(app_ctx, world):
    """An order lowers the stock and moves the price from the resident to the hold, with a typed code."""
    s = stock_shop(world)
    order = service.place_order(world.resident, world.a.id, s.item.id, 2)
    assert order.status == "held" and order.points == 60
    assert re.fullmatch(f"[{service.CODE_ALPHABET}]{{8}}", order.code)
    assert db.session.get(Item, s.item.id).stock == 3
    assert ledger.balance_of(world.a.id, world.resident.id) == 40
    assert _balance(world.a.id, "hold") == 60
    assert order.expires_at == order.created_at + timedelta(days=7)
    _clean_ledger()


def test_same_request_key_makes_one_order(app_ctx, world):
    """A double tap or a retried request with the same key returns the first order; another body is refused."""
    s = stock_shop(world)
    first = service.place_order(world.resident, world.a.id, s.item.id, 1, request_key="tap-tap-0001")
    again = service.place_order(world.resident, world.a.id, s.item.id, 1, request_key="tap-tap-0001")
    assert again.id == first.id
    assert db.session.get(Item, s.item.id).stock == 4
    assert ledger.balance_of(world.a.id, world.resident.id) == 70
    with pytest.raises(ledger.IdempotencyConflict):
        service.place_order(world.resident, world.a.id, s.item.id, 2, request_key="tap-tap-0001")
    # The key is the resident's own: another resident's identical key is a different order.
    other = service.place_order(world.resident2, world.a.id, s.item.id, 1, request_key="tap-tap-0001")
    assert other.id != first.id


def test_sold_out_is_a_clear_refusal(app_ctx, world):
    """When the last one is gone the next order is refused as sold out, and nothing else changes."""
    s = stock_shop(world, stock=1)
    service.place_order(world.resident, world.a.id, s.item.id)
    with pytest.raises(service.SoldOut) as error:
        service.place_order(world.resident2, world.a.id, s.item.id)
    assert error.value.reason == "sold_out" and error.value.status == 409
    assert ledger.balance_of(world.a.id, world.resident2.id) == 100


def test_not_enough_points_is_refused_before_touching_stock(app_ctx, world):
    """An order beyond the balance is refused; stock and balance are unchanged."""
    s = stock_shop(world, price=150)
    with pytest.raises(ledger.InsufficientPoints):
        service.place_order(world.resident, world.a.id, s.item.id)
    assert db.session.get(Item, s.item.id).stock == 5
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_monthly_limit_counts_held_and_collected_orders(app_ctx, world):
    """The per-resident monthly limit counts open and collected orders, not cancelled ones; it resets next month."""
    s = stock_shop(world, price=10, monthly_limit=2)
    now = utcnow()
    first = service.place_order(world.resident, world.a.id, s.item.id, 1, now=now)
    service.place_order(world.resident, world.a.id, s.item.id, 1, now=now)
    with pytest.raises(service.LimitReached):
        service.place_order(world.resident, world.a.id, s.item.id, 1, now=now)
    service.cancel_order(world.resident, world.a.id, first.id, now=now)
    service.place_order(world.resident, world.a.id, s.item.id, 1, now=now)
    service.place_order(world.resident2, world.a.id, s.item.id, 2, now=now)  # limits are per resident
    service.adjust_stock(world.shopkeeper, world.a.id, s.item.id, 5)
    assert service.place_order(world.resident, world.a.id, s.item.id, 1, now=now + timedelta(days=32))


def test_goods_outside_their_window_cannot_be_ordered(app_ctx, world):
    """Goods whose availability window has not started (or is over) are hidden and refused."""
    s = stock_shop(world)
    now = utcnow()
    service.update_item(world.shopkeeper, world.a.id, s.item.id, available_from=now + timedelta(days=2))
    assert service.catalogue(world.a.id, now=now) == []
    with pytest.raises(Conflict):
        service.place_order(world.resident, world.a.id, s.item.id, now=now)
    assert service.place_order(world.resident, world.a.id, s.item.id, now=now + timedelta(days=3))


def test_goods_of_another_community_are_not_found(app_ctx, world):
    """A resident cannot order another community's goods by guessing its id."""
    s = stock_shop(world)
    with pytest.raises((NotFound, PermissionDenied)):
        service.place_order(world.b_resident, world.b.id, s.item.id)
    with pytest.raises(PermissionDenied):
        service.place_order(world.b_resident, world.a.id, s.item.id)


# --- cancel, redemption, expiry -----------------------------------------------------------------

def test_cancel_returns_points_and_stock_once(app_ctx, world):
    """Cancelling before pickup returns points and stock; a second cancel or someone else's is refused."""
    s = stock_shop(world)
    order = service.place_order(world.resident, world.a.id, s.item.id)
    with pytest.raises(NotFound):
        service.cancel_order(world.resident2, world.a.id, order.id)
    service.cancel_order(world.resident, world.a.id, order.id)
    assert order.status == "cancelled"
    assert ledger.balance_of(world.a.id, world.resident.id) == 100
    assert db.session.get(Item, s.item.id).stock == 5
    with pytest.raises(Conflict):
        service.cancel_order(world.resident, world.a.id, order.id)
    _clean_ledger()


def test_redeem_by_typed_code_settles_to_the_shop_once(app_ctx, world):
    """The shopkeeper types the code (any case, with spaces); the points settle to the shop; a reuse is refused."""
    s = stock_shop(world)
    order = service.place_order(world.resident, world.a.id, s.item.id)
    typed = f"{order.code[:4].lower()} {order.code[4:]}"
    found = service.find_voucher(world.shopkeeper, world.a.id, s.shop.id, typed)
    assert found.id == order.id and found.user.display_name == "刘阿姨"
    service.redeem_voucher(world.shopkeeper, world.a.id, s.shop.id, typed)
    assert order.status == "redeemed" and order.redeemed_by_id == world.shopkeeper.id
    assert _balance(world.a.id, f"shop:{s.shop.id}") == 30 and _balance(world.a.id, "hold") == 0
    with pytest.raises(Conflict) as error:
        service.redeem_voucher(world.shopkeeper, world.a.id, s.shop.id, order.code)
    assert "already used" in error.value.msgid
    with pytest.raises(Conflict):
        service.cancel_order(world.resident, world.a.id, order.id)
    with pytest.raises(NotFound):
        service.find_voucher(world.shopkeeper, world.a.id, s.shop.id, "ZZZZ ZZZZ")
    with pytest.raises(Invalid):
        service.find_voucher(world.shopkeeper, world.a.id, s.shop.id, "0O1I")
    _clean_ledger()


def test_qr_round_trip_and_forged_codes(app_ctx, world):
    """The voucher PNG decodes (zxing-cpp) to a token that redeems; altered or forged tokens are refused."""
    s = stock_shop(world)
    order = service.place_order(world.resident, world.a.id, s.item.id)
    token = service.voucher_token(order)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.qr_png(token))))
    assert len(decoded) == 1 and decoded[0].text == token

    body, mac = token.split(".")
    other = service.place_order(world.resident2, world.a.id, s.item.id)
    forged = qr._b64(f'{{"c":{world.a.id},"k":"{other.code}","o":{other.id},"s":{s.shop.id}}}'.encode()) + "." + mac
    altered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    wrong_purpose = qr.make_token("checkin", {"c": world.a.id, "o": order.id, "s": s.shop.id, "k": order.code})
    for bad in (forged, altered, token[:-3] + "xyz", wrong_purpose):
        with pytest.raises(Invalid):
            service.redeem_voucher(world.shopkeeper, world.a.id, s.shop.id, bad)
    assert order.status == "held" and other.status == "held"

    service.redeem_voucher(world.shopkeeper, world.a.id, s.shop.id, decoded[0].text)
    assert order.status == "redeemed"


def test_voucher_of_another_shop_or_community_is_refused(app_ctx, world):
    """A voucher for another shop, or from another community, is refused with a clear message."""
    s = stock_shop(world)
    other_shop = service.create_shop(world.committee, world.a.id, "合作商户")
    order = service.place_order(world.resident, world.a.id, s.item.id)
    with pytest.raises(service.VoucherRefused) as error:
        service.redeem_voucher(world.committee, world.a.id, other_shop.id, order.code)
    assert error.value.params["shop"] == "村口小超市"

    b_shop = service.create_shop(world.b_committee, world.b.id, "村委小卖部")
    b_item = service.add_item(world.b_committee, world.b.id, b_shop.id, name="香皂", price=5, stock=3)
    ledger.award(world.b.id, world.b_resident.id, 50, idempotency_key="test:b", actor=world.b_committee)
    b_order = service.place_order(world.b_resident, world.b.id, b_item.id)
    with pytest.raises(service.VoucherRefused) as error:
        service.redeem_voucher(world.shopkeeper, world.a.id, s.shop.id, service.voucher_token(b_order))
    assert "another community" in error.value.msgid
    assert b_order.status == "held"


def test_only_the_shops_keepers_redeem(app_ctx, world):
    """Residents, and shopkeepers of another shop, cannot redeem."""
    s = stock_shop(world)
    other_shop = service.create_shop(world.committee, world.a.id, "合作商户")
    other_keeper = factories.make_member(world.a, roles=["shopkeeper"], name="钱老板")
    service.assign_keeper(world.committee, world.a.id, other_shop.id, other_keeper.id)
    order = service.place_order(world.resident, world.a.id, s.item.id)
    for actor in (world.resident2, other_keeper, world.b_committee):
        with pytest.raises(PermissionDenied):
            service.redeem_voucher(actor, world.a.id, s.shop.id, order.code)
    with pytest.raises(PermissionDenied):
        service.adjust_stock(other_keeper, world.a.id, s.item.id, 3)
    with pytest.raises(Invalid):
        service.assign_keeper(world.committee, world.a.id, s.shop.id, world.resident.id)


def test_expiry_refunds_restocks_and_tells_the_resident(app, app_ctx, world):
    """Uncollected vouchers expire after the community's period through the worker job, exactly once."""
    from civic.worker import run_job

    s = stock_shop(world)
    service.set_voucher_days(world.committee, world.a.id, 3)
    t0 = utcnow()
    order = service.place_order(world.resident, world.a.id, s.item.id, now=t0)
    kept = service.place_order(world.resident2, world.a.id, s.item.id, now=t0 + timedelta(days=2))
    db.session.commit()
    order_id, kept_id = order.id, kept.id
    assert service.expire_vouchers(now=t0 + timedelta(days=2)) == 0
    assert run_job(app, "shop_expire_vouchers", now=t0 + timedelta(days=3, seconds=1)) == 1
    assert run_job(app, "shop_expire_vouchers", now=t0 + timedelta(days=3, seconds=2)) == 0
    db.session.expire_all()
    assert db.session.get(Order, order_id).status == "expired"
    assert db.session.get(Order, kept_id).status == "held"
    assert ledger.balance_of(world.a.id, world.resident.id) == 100
    assert db.session.get(Item, s.item.id).stock == 4
    note = db.session.scalar(select(Notification).where(Notification.kind == "shop.voucher_expired"))
    assert note.user_id == world.resident.id and note.params["points"] == 30
    _clean_ledger()


def test_a_voucher_past_its_date_is_refused_at_the_counter(app_ctx, world):
    """Even before the job runs, a voucher past its date is not handed over."""
    s = stock_shop(world)
    t0 = utcnow()
    order = service.place_order(world.resident, world.a.id, s.item.id, now=t0)
    with pytest.raises(Conflict):
        service.redeem_voucher(world.shopkeeper, world.a.id, s.shop.id, order.code, now=t0 + timedelta(days=8))


def test_low_stock_alert_once_per_crossing(app_ctx, world):
    """Shopkeepers are told once when stock falls to the alert level, and again only after a restock."""
    s = stock_shop(world, stock=3, price=10)  # alert at 1
    first = service.place_order(world.resident, world.a.id, s.item.id)
    service.place_order(world.resident, world.a.id, s.item.id)  # 1 left: alert
    alerts = lambda: db.session.scalars(select(Notification).where(Notification.kind == "shop.low_stock")).all()  # noqa: E731
    assert [n.user_id for n in alerts()] == [world.shopkeeper.id]
    service.place_order(world.resident2, world.a.id, s.item.id)  # 0 left: still the same crossing
    assert len(alerts()) == 1
    service.cancel_order(world.resident, world.a.id, first.id)  # back to 1: still low, no new alert
    assert len(alerts()) == 1
    service.adjust_stock(world.shopkeeper, world.a.id, s.item.id, 10)  # re-armed
    service.adjust_stock(world.shopkeeper, world.a.id, s.item.id, -10)
    assert len(alerts()) == 2
    with pytest.raises(Invalid):
        service.adjust_stock(world.shopkeeper, world.a.id, s.item.id, -5)


def test_economy_figures(app_ctx, world):
    """Outstanding = resident balances + holds; issued and redeemed per month; stock on hand."""
    s = stock_shop(world)
    service.place_order(world.resident, world.a.id, s.item.id)
    collected = service.place_order(world.resident2, world.a.id, s.item.id)
    service.redeem_voucher(world.shopkeeper, world.a.id, s.shop.id, collected.code)
    figures = service.economy(world.committee, world.a.id)
    assert figures["resident_balances"] == 140 and figures["held"] == 30 and figures["outstanding"] == 170
    assert figures["shops_earned"] == 30 and figures["open_orders"] == 1
    assert figures["months"][-1]["issued"] == 200 and figures["months"][-1]["redeemed"] == 30
    assert len(figures["months"]) == 6
    assert figures["stock_units"] == 3 and figures["stock_points"] == 90
    with pytest.raises(PermissionDenied):
        service.economy(world.shopkeeper, world.a.id)
    bars = service.chart_bars(figures["months"])
    assert max(b["h"] for b in bars["bars"]) > 0


# --- pages --------------------------------------------------------------------------------------

def test_resident_orders_and_cancels_through_the_pages(app, client, world, shop, auth):
    """The catalogue lists goods; a resent order form makes one order; the voucher shows its QR and code."""
    auth.switch_to(world.resident)
    page = client.get("/shop").get_data(as_text=True)
    assert "洗衣粉" in page and "100" in page
    page = client.get(f"/shop/items/{shop.item_id}").get_data(as_text=True)
    key = re.search(r'name="request_key"[^>]*value="([^"]+)"', page).group(1)
    for _ in range(2):
        response = client.post(f"/shop/items/{shop.item_id}/order", data={"quantity": "1", "request_key": key})
        assert response.status_code == 302
    order_url = response.headers["Location"]
    with app.app_context():
        orders = db.session.scalars(select(Order)).all()
        assert len(orders) == 1
        code = orders[0].code
    page = client.get(order_url).get_data(as_text=True)
    assert f"{code[:4]} {code[4:]}" in page
    png = client.get(order_url + "/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))[0].text.count(".") == 1
    assert "洗衣粉" in client.get("/shop/orders").get_data(as_text=True)
    response = client.post(order_url + "/cancel", follow_redirects=True)
    assert "已取消" in response.get_data(as_text=True) or "Cancelled" in response.get_data(as_text=True)
    # A bad quantity is a friendly refusal, never a 500.
    response = client.post(f"/shop/items/{shop.item_id}/order", data={"quantity": "-3", "request_key": "x"})
    assert response.status_code == 302
    auth.switch_to(world.resident2)
    assert client.get(order_url).status_code == 404


def test_shopkeeper_checks_and_hands_over_at_the_counter(app, client, world, shop, auth):
    """The counter shows who and what for a typed code, and the confirmation settles the voucher."""
    with app.app_context():
        order = service.place_order(db.session.merge(world.resident), world.a.id, shop.item_id)
        db.session.commit()
        order_id, code = order.id, order.code
    auth.switch_to(world.shopkeeper)
    counter = f"/c/{world.a.id}/shop/shops/{shop.shop_id}/counter"
    assert 'id="shop-video"' in client.get(counter).get_data(as_text=True)
    page = client.post(counter, data={"code": code.lower()}).get_data(as_text=True)
    assert "刘阿姨" in page and "洗衣粉" in page
    response = client.post(f"/c/{world.a.id}/shop/shops/{shop.shop_id}/redeem", data={"code": code})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Order, order_id).status == "redeemed"
    # Used again: a clear message on the counter page.
    response = client.post(counter, data={"code": code}, follow_redirects=True,
                           headers={"Referer": counter})
    assert response.status_code == 200
    response = client.post(f"/c/{world.a.id}/shop/shops/{shop.shop_id}/redeem", data={"code": code},
                           headers={"Referer": counter}, follow_redirects=True)
    assert "flash-error" in response.get_data(as_text=True)


def test_committee_sets_up_a_shop_with_goods_and_photo(app, client, world, auth):
    """The committee adds a shop, assigns the shopkeeper; the shopkeeper adds goods with a photo and restocks."""
    auth.switch_to(world.committee)
    assert client.post(f"/c/{world.a.id}/shop/shops", data={"name": "合作商户", "address": "东门"}).status_code == 302
    with app.app_context():
        shop_id = service.shops(world.a.id)[0].id
    assert client.post(f"/c/{world.a.id}/shop/shops/{shop_id}/keepers",
                       data={"user_id": str(world.shopkeeper.id), "action": "assign"}).status_code == 302
    assert client.post(f"/c/{world.a.id}/shop/settings", data={"voucher_days": "5"}).status_code == 302
    auth.switch_to(world.shopkeeper)
    image = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(image, "PNG")
    image.seek(0)
    response = client.post(f"/c/{world.a.id}/shop/shops/{shop_id}/items/new", data={
        "name": "大米 5 斤", "description": "东北大米", "price": "80", "stock": "10", "monthly_limit": "1",
        "low_stock_at": "2", "available_from": "", "available_until": "", "active": "y",
        "photo": (image, "rice.png"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        item = db.session.scalar(select(Item))
        assert item.photo and item.photo.endswith(".png") and item.monthly_limit == 1
        item_id = item.id
    page = client.get(f"/c/{world.a.id}/shop").get_data(as_text=True)
    assert "大米 5 斤" in page
    edit = f"/c/{world.a.id}/shop/items/{item_id}/edit"
    assert client.get(edit).status_code == 200
    response = client.post(edit, data={"name": "大米 10 斤", "price": "150", "low_stock_at": "2", "active": "y",
                                       "available_until": "2099-01-31"})
    assert response.status_code == 302
    assert client.post(f"/c/{world.a.id}/shop/items/{item_id}/stock", data={"change": "5"}).status_code == 302
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert (item.name, item.price, item.stock, item.photo is not None) == ("大米 10 斤", 150, 15, True)
        assert item.available_until is not None
    # Economy is the committee's alone.
    assert client.get(f"/c/{world.a.id}/shop/economy").status_code == 403
    auth.switch_to(world.committee)
    page = client.get(f"/c/{world.a.id}/shop/economy").get_data(as_text=True)
    assert "<svg" in page and "大米 10 斤" in page
    auth.switch_to(world.resident)
    assert client.get(f"/c/{world.a.id}/shop").status_code == 403


# --- API ----------------------------------------------------------------------------------------

def test_order_redeem_and_cancel_through_the_api(api_token, app, client, world, shop):
    """The API orders with an Idempotency-Key (one order per key), redeems once, cancels, reports the economy."""
    base = f"/api/v1/communities/{world.a.id}/shop"
    resident = api_token(world.resident)
    assert client.get(f"{base}/items", headers=resident).json[0]["name"] == "洗衣粉"
    headers = {**resident, "Idempotency-Key": "api-order-000001"}
    first = client.post(f"{base}/orders", json={"item_id": shop.item_id}, headers=headers)
    again = client.post(f"{base}/orders", json={"item_id": shop.item_id}, headers=headers)
    assert first.status_code == 201 and again.status_code == 201 and first.json["id"] == again.json["id"]
    token = first.json["token"]
    assert len(client.get(f"{base}/orders", headers=resident).json) == 1

    keeper = api_token(world.shopkeeper)
    check = client.post(f"{base}/shops/{shop.shop_id}/vouchers/check", json={"code": token}, headers=keeper)
    assert check.status_code == 200 and check.json["resident"] == "刘阿姨"
    done = client.post(f"{base}/shops/{shop.shop_id}/vouchers/redeem", json={"code": token}, headers=keeper)
    assert done.status_code == 200 and done.json["status"] == "redeemed"
    twice = client.post(f"{base}/shops/{shop.shop_id}/vouchers/redeem", json={"code": token}, headers=keeper)
    assert twice.status_code == 409 and twice.json["reason"] == "voucher_closed"
    forged = client.post(f"{base}/shops/{shop.shop_id}/vouchers/redeem", json={"code": token[:-2] + "zz"},
                         headers=keeper)
    assert forged.status_code == 422 and forged.json["reason"] == "bad_token"

    second = client.post(f"{base}/orders", json={"item_id": shop.item_id, "quantity": 2}, headers=resident)
    cancelled = client.post(f"{base}/orders/{second.json['id']}/cancel", headers=resident)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    poor = client.post(f"{base}/orders", json={"item_id": shop.item_id, "quantity": 4}, headers=resident)
    assert poor.status_code == 409 and poor.json["reason"] == "insufficient_points"

    committee = api_token(world.committee)
    economy = client.get(f"{base}/economy", headers=committee)
    assert economy.status_code == 200 and economy.json["outstanding"] == 170
    assert client.get(f"{base}/economy", headers=resident).status_code == 403


def test_api_refusals_are_clear_json(api_token, client, world, shop):
    """Sold out, bad bodies and bad keys answer 4xx JSON with a reason, never a 500."""
    base = f"/api/v1/communities/{world.a.id}/shop"
    keeper = api_token(world.shopkeeper)
    response = client.post(f"{base}/items/{shop.item_id}/stock", json={"change": -5}, headers=keeper)
    assert response.status_code == 200 and response.json["stock"] == 0
    resident = api_token(world.resident)
    response = client.post(f"{base}/orders", json={"item_id": shop.item_id}, headers=resident)
    assert response.status_code == 409 and response.json["reason"] == "sold_out"
    for body in ({}, {"item_id": "x"}, {"item_id": shop.item_id, "quantity": 0}):
        assert client.post(f"{base}/orders", json=body, headers=resident).status_code == 422
    response = client.post(f"{base}/orders", json={"item_id": shop.item_id},
                           headers={**resident, "Idempotency-Key": "bad key!"})
    assert response.status_code == 422
    assert client.post(f"{base}/orders", json={"item_id": 99999}, headers=resident).status_code == 404
    response = client.post(f"{base}/shops/{shop.shop_id}/items", json={"name": "酱油", "price": 12, "stock": 3},
                           headers=keeper)
    assert response.status_code == 201 and response.json["stock"] == 3
    assert client.post(f"{base}/shops/{shop.shop_id}/items", json={"name": "酱油", "price": 0},
                       headers=keeper).status_code == 422
