"""Issue 10, item 5: a deduction cannot be dodged by parking points in shop orders.

The resident has 30 points and a 15-point deduction is approved (on public notice). Whatever they do with
orders and cancellations, they end with no more than doing nothing would leave them: 15 points.
Everything the resident does goes through the HTTP API; the notice period ends through the worker's service
with a clock, not by waiting."""
from datetime import timedelta

from sqlalchemy import select

from civic.core.clock import utcnow
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Debt
from civic.merit import service as merit
from civic.merit.models import Claim
from tests import factories
from tests.shop.conftest import stock_shop

START, DEDUCTION, PRICE = 30, 15, 10
DOING_NOTHING = START - DEDUCTION


def deduction_rule(world, points):
    """A negative-list item of community A (乱堆乱放), confirmed by a second committee member. Flushes only."""
    cats = {c.code: c.id for c in merit.categories(world.a.id)}
    rule = merit.create_rule(world.committee, world.a.id, {
        "category_id": cats["environment"], "kind": "deduction", "name": "乱堆乱放", "points_min": points,
        "points_max": None, "description": "", "cap_period": "none", "evidence_required": False, "active": True})
    factories.confirm_rule_changes(world.a.id, world.committee2)
    return rule


def _setup(app, world, *, approve=True):
    """Shop with 10-point goods, the resident with 30 points, a 15-point deduction recorded (and approved)."""
    with app.app_context():
        s = stock_shop(world, stock=10, price=PRICE, points=START)
        rule = deduction_rule(world, DEDUCTION)
        claim = merit.submit_claim(world.committee, world.a.id, rule.id, description="楼道堆放杂物",
                                   resident_id=world.resident.id)
        if approve:
            merit.approve_claim(world.committee2, world.a.id, claim.id)
        db.session.commit()
        return s.item.id, s.shop.id, claim.id


def _approve(app, world, claim_id):
    with app.app_context():
        merit.approve_claim(world.committee2, world.a.id, claim_id)
        db.session.commit()


def _notice_ends(app):
    """The worker's run after the notice period: the deduction posts."""
    with app.app_context():
        assert merit.close_notices(now=utcnow() + timedelta(days=31)) >= 1
        db.session.commit()


def _balance(client, headers, world):
    body = client.get(f"/api/v1/communities/{world.a.id}/points", headers=headers).json
    return body["balance"], body.get("owed", 0)


def _order(client, headers, world, item_id):
    return client.post(f"/api/v1/communities/{world.a.id}/shop/orders", json={"item_id": item_id}, headers=headers)


def _cancel(client, headers, world, order_id):
    response = client.post(f"/api/v1/communities/{world.a.id}/shop/orders/{order_id}/cancel", headers=headers)
    assert response.status_code == 200, response.json
    return response


def test_parking_points_in_orders_during_the_notice_does_not_dodge_the_deduction(api_token, app, client, world):
    """The dodge of issue 10 through HTTP: order everything while the deduction is on notice, let it post, cancel.
    Orders may use only the points above the deduction; the resident ends with what doing nothing leaves."""
    item_id, _shop_id, claim_id = _setup(app, world)
    headers = api_token(world.resident)
    placed = []
    for _ in range(3):  # try to park all 30 points
        response = _order(client, headers, world, item_id)
        if response.status_code == 201:
            placed.append(response.json["id"])
        else:
            assert response.status_code == 409 and response.json["reason"] == "points_reserved", response.json
            assert "公示" in response.json["message"]
    assert len(placed) == 1  # 15 points are free: one 10-point order
    _notice_ends(app)
    with app.app_context():
        claim = db.session.get(Claim, claim_id)
        assert claim.status == "posted" and claim.posted_points == DEDUCTION
    for order_id in placed:
        _cancel(client, headers, world, order_id)
    assert _balance(client, headers, world) == (DOING_NOTHING, 0)
    with app.app_context():
        assert ledger.verify()["breaches"] == []


def test_orders_placed_before_the_approval_pay_the_debt_when_cancelled(api_token, app, client, world):
    """Points parked before the approval: the deduction posts 0 and 15 are owed. New orders and pickups are refused
    while owed (zh-CN message); cancelling the orders pays the debt first; the end is what doing nothing leaves."""
    item_id, shop_id, claim_id = _setup(app, world, approve=False)
    headers = api_token(world.resident)
    placed = [_order(client, headers, world, item_id).json for _ in range(3)]
    assert all("id" in order for order in placed), placed
    assert _balance(client, headers, world) == (0, 0)
    _approve(app, world, claim_id)
    _notice_ends(app)
    assert _balance(client, headers, world) == (0, DEDUCTION)

    refused = _order(client, headers, world, item_id)
    assert refused.status_code == 409 and refused.json["reason"] == "debt_open"
    assert "欠" in refused.json["message"] and "15" in refused.json["message"]
    pickup = client.post(f"/api/v1/communities/{world.a.id}/shop/shops/{shop_id}/vouchers/redeem",
                         json={"code": placed[0]["code"]}, headers=api_token(world.shopkeeper))
    assert pickup.status_code == 409 and pickup.json["reason"] == "debt_open"

    _cancel(client, headers, world, placed[0]["id"])  # 10 back, all 10 pay the debt
    assert _balance(client, headers, world) == (0, 5)
    _cancel(client, headers, world, placed[1]["id"])  # 10 back, 5 pay the rest
    assert _balance(client, headers, world) == (5, 0)
    _cancel(client, headers, world, placed[2]["id"])
    assert _balance(client, headers, world) == (DOING_NOTHING, 0)
    assert _order(client, headers, world, item_id).status_code == 201  # the shop is open again
    with app.app_context():
        debt = db.session.scalar(select(Debt))
        assert debt.amount == DEDUCTION and debt.amount_outstanding == 0 and debt.settled_at is not None
        assert ledger.verify()["breaches"] == []


def test_passbook_page_shows_the_debt(app, client, auth, world):
    """The passbook (/points) shows what is owed and why the shop waits."""
    item_id, _shop_id, claim_id = _setup(app, world, approve=False)
    with app.app_context():
        from civic.accounts.models import User
        from civic.shop import service as shop

        for n in range(3):
            shop.place_order(db.session.get(User, world.resident.id), world.a.id, item_id, request_key=f"park-{n:04d}")
        db.session.commit()
    _approve(app, world, claim_id)
    _notice_ends(app)
    auth.login(world.resident.phone)
    page = client.get("/points").get_data(as_text=True)
    assert 'data-testid="debt"' in page and "乱堆乱放" in page and "15" in page


def test_item_page_counts_points_kept_for_a_deduction(app, client, auth, world):
    """The item page says what is kept and greys the button out when only reserved points would pay."""
    item_id, _shop_id, _claim_id = _setup(app, world)  # 30 points, 15 kept
    with app.app_context():
        from civic.accounts.models import User
        from civic.shop import service as shop

        shop.place_order(db.session.get(User, world.resident.id), world.a.id, item_id, request_key="first-0001")
        db.session.commit()  # 20 left, 15 kept: a 10-point order would eat into them
    auth.login(world.resident.phone)
    page = client.get(f"/shop/items/{item_id}").get_data(as_text=True)
    assert 'data-testid="debt"' in page and 'data-testid="shortfall"' in page
    assert 'data-testid="order" disabled' in page
