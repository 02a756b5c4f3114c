"""Issue 10, item 5 under concurrency (PostgreSQL, real threads): deductions post while the residents place and
cancel orders at the same moment. After every order is cancelled, each resident has exactly what doing nothing
would have left them, nothing is still owed, and `ledger verify` is clean."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from civic.accounts.models import User
from civic.core.clock import utcnow
from civic.extensions import db
from civic.ledger import debt as debts
from civic.ledger import service as ledger
from civic.merit import service as merit
from civic.merit.models import Claim
from civic.shop import service as shop
from civic.shop.models import Order
from tests import factories
from tests.shop.conftest import stock_shop
from tests.shop.test_deduction_dodge import deduction_rule
from tests.shop.test_shop_concurrency import _together

pytestmark = pytest.mark.postgres

START, DEDUCTION, PRICE, RESIDENTS = 30, 15, 10, 5


def _world(app, world):
    """Residents with 30 points each and two 10-point orders placed before a 15-point deduction was approved."""
    with app.app_context():
        s = stock_shop(world, stock=500, price=PRICE, points=START)
        rule = deduction_rule(world, DEDUCTION)
        residents = []
        for n in range(RESIDENTS):
            user = factories.make_member(world.a, name=f"居民{n}")
            ledger.award(world.a.id, user.id, START, idempotency_key=f"seed:{user.id}", category="labour")
            for k in range(2):
                shop.place_order(user, world.a.id, s.item.id, request_key=f"early-{user.id}-{k}")
            claim = merit.submit_claim(world.committee, world.a.id, rule.id, description="楼道堆放杂物",
                                       resident_id=user.id)
            merit.approve_claim(world.committee2, world.a.id, claim.id)
            residents.append(user.id)
        db.session.commit()
        return s.item.id, residents


def _orders_of(user_id, status="held"):
    return db.session.scalars(select(Order.id).where(Order.user_id == user_id, Order.status == status)
                              .order_by(Order.id)).all()


def test_deductions_posting_while_orders_are_placed_and_cancelled(app, world):
    """One thread posts every deduction while, per resident, three threads order and two cancel, all at once."""
    item_id, residents = _world(app, world)
    with app.app_context():
        early = {user_id: _orders_of(user_id) for user_id in residents}
    actions = [lambda: merit.close_notices(now=utcnow() + timedelta(days=31))]
    for user_id in residents:
        for k in range(3):
            actions.append(lambda user_id=user_id, k=k: shop.place_order(
                db.session.get(User, user_id), world.a.id, item_id, request_key=f"race-{user_id}-{k}").id)
        for order_id in early[user_id]:
            actions.append(lambda user_id=user_id, order_id=order_id: shop.cancel_order(
                db.session.get(User, user_id), world.a.id, order_id).id)

    results = _together(app, len(actions), lambda i: actions[i]())
    assert results[0][0] == "ok" and results[0][1] == RESIDENTS
    assert {reason for reason, _ in results} <= {"ok", "debt_open", "points_reserved", "insufficient_points"}

    with app.app_context():
        assert all(c.status == "posted" for c in db.session.scalars(select(Claim)))
        for user_id in residents:  # the resident then cancels whatever is still held
            for order_id in _orders_of(user_id):
                shop.cancel_order(db.session.get(User, user_id), world.a.id, order_id)
        db.session.commit()
        for user_id in residents:
            assert ledger.balance_of(world.a.id, user_id) == START - DEDUCTION, user_id
            assert debts.owed(world.a.id, user_id) == 0
        assert ledger.verify()["breaches"] == []
