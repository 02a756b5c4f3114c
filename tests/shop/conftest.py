"""Fixtures of the points shop tests: a shop with its shopkeeper, goods, and residents with points."""
from types import SimpleNamespace

import pytest

from civic.extensions import db
from civic.ledger import service as ledger
from civic.shop import service


def stock_shop(w, *, stock=5, price=30, monthly_limit=None, points=100):
    """Community A's village shop run by its shopkeeper, one kind of goods, and points for the residents.

    Flushes only: the caller commits (or not).
    """
    s = SimpleNamespace()
    s.shop = service.create_shop(w.committee, w.a.id, "村口小超市", "芙蓉街 1 号")
    service.assign_keeper(w.committee, w.a.id, s.shop.id, w.shopkeeper.id)
    s.item = service.add_item(w.shopkeeper, w.a.id, s.shop.id, name="洗衣粉", description="一袋 1 公斤",
                              price=price, stock=stock, monthly_limit=monthly_limit, low_stock_at=1)
    for user in (w.resident, w.resident2):
        ledger.award(w.a.id, user.id, points, idempotency_key=f"test:seed:{user.id}", category="labour",
                     memo="打扫楼道", actor=w.committee)
    ledger.hold_account(w.a.id)
    return s


@pytest.fixture
def shop(app, world):
    """stock_shop() committed; returns plain ids (shop_id, item_id)."""
    with app.app_context():
        s = stock_shop(world)
        db.session.commit()
        ids = SimpleNamespace(shop_id=s.shop.id, item_id=s.item.id)
        db.session.remove()
    return ids
