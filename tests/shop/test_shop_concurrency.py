"""Concurrency proofs of the points shop on PostgreSQL: real threads, each with its own app context,
session and connection, started together by a barrier; the ledger's invariants are checked after."""
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from civic.accounts.models import User
from civic.core.errors import DomainError
from civic.extensions import db
from civic.ledger import service as ledger
from civic.shop import service
from civic.shop.models import Item, Order
from tests import factories
from tests.shop.conftest import stock_shop

pytestmark = pytest.mark.postgres


def _together(app, count, action):
    """Run action(index) in `count` threads at once; returns ("ok", result) or (reason, None) per thread."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(index):
        with app.app_context():
            try:
                barrier.wait()
                value = action(index)
                db.session.commit()
                results[index] = ("ok", value)
            except DomainError as error:
                db.session.rollback()
                results[index] = (error.reason, None)
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                db.session.rollback()
                results[index] = ("crash", repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not [r for r in results if r is None or r[0] == "crash"], results
    return results


def _assert_ledger_clean(app):
    with app.app_context():
        assert ledger.verify()["breaches"] == []


def test_fifty_orders_for_the_last_item(app, world):
    """50 residents order the last one at the same moment: exactly one gets it, 49 are told it is sold out."""
    with app.app_context():
        s = stock_shop(world, stock=1)
        buyers = [factories.make_member(world.a).id for _ in range(50)]
        for user_id in buyers:
            ledger.award(world.a.id, user_id, 50, idempotency_key=f"test:{user_id}", actor=world.committee)
        db.session.commit()
        item_id = s.item.id

    results = _together(app, 50, lambda i: service.place_order(
        db.session.get(User, buyers[i]), world.a.id, item_id, request_key=f"last-item-{i:04d}").id)

    reasons = sorted(r[0] for r in results)
    assert reasons.count("ok") == 1 and reasons.count("sold_out") == 49
    with app.app_context():
        assert db.session.get(Item, item_id).stock == 0
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1
        assert ledger.balance_of(world.a.id, world.resident.id) == 100
    _assert_ledger_clean(app)


def test_simultaneous_orders_never_overdraw_a_resident(app, world):
    """20 orders at once by one resident with 100 points for 30-point goods: 3 succeed, the balance stays >= 0."""
    with app.app_context():
        s = stock_shop(world, stock=100)
        db.session.commit()
        item_id = s.item.id

    results = _together(app, 20, lambda i: service.place_order(
        db.session.get(User, world.resident.id), world.a.id, item_id, request_key=f"overdraw-{i:04d}").id)

    reasons = [r[0] for r in results]
    assert reasons.count("ok") == 3 and reasons.count("insufficient_points") == 17
    with app.app_context():
        assert ledger.balance_of(world.a.id, world.resident.id) == 10
        assert db.session.get(Item, item_id).stock == 97
    _assert_ledger_clean(app)


def test_simultaneous_orders_respect_the_monthly_limit_and_the_request_key(app, world):
    """Ten orders at once beyond a limit of 2 make two; ten retries of one request key make one order."""
    with app.app_context():
        s = stock_shop(world, stock=50, price=1, monthly_limit=2)
        db.session.commit()
        item_id = s.item.id

    results = _together(app, 10, lambda i: service.place_order(
        db.session.get(User, world.resident.id), world.a.id, item_id, request_key=f"limit-{i:04d}").id)
    assert [r[0] for r in results].count("ok") == 2
    assert [r[0] for r in results].count("limit_reached") == 8

    results = _together(app, 10, lambda i: service.place_order(
        db.session.get(User, world.resident2.id), world.a.id, item_id, request_key="same-key-0001").id)
    assert {r[0] for r in results} == {"ok"} and len({r[1] for r in results}) == 1
    with app.app_context():
        assert db.session.get(Item, item_id).stock == 47
    _assert_ledger_clean(app)


def test_a_voucher_redeems_once_and_races_with_cancel_and_expiry(app, world):
    """Two counters redeem one voucher at once: one succeeds. Cancel, redeem and two expiry workers race on
    another voucher: it closes exactly once and its points move exactly once."""
    from datetime import timedelta

    from civic.core.clock import utcnow

    t0 = utcnow() - timedelta(days=30)
    with app.app_context():
        s = stock_shop(world, stock=10)
        second_keeper = factories.make_member(world.a, roles=["shopkeeper"])
        service.assign_keeper(world.committee, world.a.id, s.shop.id, second_keeper.id)
        first = service.place_order(world.resident, world.a.id, s.item.id)
        raced = service.place_order(world.resident2, world.a.id, s.item.id, now=t0)
        db.session.commit()
        ids = SimpleNamespace(shop=s.shop.id, item=s.item.id, keepers=[world.shopkeeper.id, second_keeper.id],
                              first=(first.id, first.code), raced=(raced.id, raced.code))

    results = _together(app, 2, lambda i: service.redeem_voucher(
        db.session.get(User, ids.keepers[i]), world.a.id, ids.shop, ids.first[1]).id)
    assert sorted(r[0] for r in results) == ["ok", "voucher_closed"]

    actions = [
        lambda: service.cancel_order(db.session.get(User, world.resident2.id), world.a.id, ids.raced[0]),
        lambda: service.redeem_voucher(db.session.get(User, ids.keepers[0]), world.a.id, ids.shop, ids.raced[1],
                                       now=t0 + timedelta(days=1)),
        lambda: service.expire_vouchers(now=t0 + timedelta(days=8)),
        lambda: service.expire_vouchers(now=t0 + timedelta(days=8)),
    ]
    _together(app, 4, lambda i: actions[i]())
    with app.app_context():
        order = db.session.get(Order, ids.raced[0])
        assert order.status in ("cancelled", "redeemed", "expired")
        moved = db.session.scalar(select(func.count()).select_from(ledger.Transaction).where(
            ledger.Transaction.source == f"order:{order.id}"))
        assert moved == 2  # the hold, then exactly one of settle or release
        stock = db.session.get(Item, ids.item).stock
        assert stock == (8 if order.status == "redeemed" else 9)
    _assert_ledger_clean(app)


def test_cancel_and_redeem_of_one_voucher_race_over_http(app, world, shop):
    """The resident cancels (POST …/cancel) while the shopkeeper hands the goods over (POST …/redeem), at the
    same moment through the real routes: one of them closes the order, and its hold is settled or released
    exactly once (the ledger's resolves_id), never both."""
    from sqlalchemy import text

    from tests.conftest import AuthActions

    with app.app_context():
        order = service.place_order(db.session.merge(world.resident), world.a.id, shop.item_id)
        db.session.commit()
        order_id, code = order.id, order.code
        balance_before = ledger.balance_of(world.a.id, world.resident.id)
    resident, keeper = app.test_client(), app.test_client()
    AuthActions(resident).switch_to(world.resident)
    AuthActions(keeper).switch_to(world.shopkeeper)
    requests = [lambda: resident.post(f"/shop/orders/{order_id}/cancel"),
                lambda: keeper.post(f"/c/{world.a.id}/shop/shops/{shop.shop_id}/redeem", data={"code": code})]
    barrier, responses = threading.Barrier(2), [None, None]

    def run(index):
        barrier.wait()
        responses[index] = requests[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None and r.status_code < 500 for r in responses), responses
    with app.app_context():
        status = db.session.get(Order, order_id).status
        assert status in ("cancelled", "redeemed")
        hold_id = ledger.hold_of(world.a.id, f"order:{order_id}:hold").id
        closing = db.session.execute(text("SELECT kind FROM ledger_transaction WHERE resolves_id = :h"),
                                     {"h": hold_id}).scalars().all()
        assert closing == (["release"] if status == "cancelled" else ["settle"])
        points = db.session.get(Order, order_id).points
        expected = balance_before + (points if status == "cancelled" else 0)
        assert ledger.balance_of(world.a.id, world.resident.id) == expected
    _assert_ledger_clean(app)
