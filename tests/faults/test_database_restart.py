"""Fault: the database drops every connection while residents order goods and send patrol points.

A real gunicorn (production settings, gunicorn.conf.py) serves the test database. Eight residents
order goods (each with its own Idempotency-Key) and send batches of GPS points (ids made on the
phone), retrying a failed or unanswered request with the same key or batch, as the app does. In the
middle, every session of the database is ended with pg_terminate_backend three times in a row
(what a restart or failover does to the app's connections; the shared cluster keeps running).
"""
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from civic.accounts.service import issue_api_token
from civic.api.idempotency import RequestKey
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Transaction
from civic.patrols import tracking
from civic.patrols.models import Patrol, TrackPoint
from civic.shop import service as shop
from civic.shop.models import Item, Order
from tests import factories
from tests.faults.helpers import Server, pg_dsn, terminate_backends

pytestmark = pytest.mark.postgres

RESIDENTS = 8
ORDERS_EACH = 25
BATCHES_EACH = 10
POINTS_PER_BATCH = 5
POINTS_EACH = 1000


def _seed(app, world):
    """Residents with points and bearer tokens, each on a free patrol; goods at 1 point with plenty in stock."""
    with app.app_context():
        people = [factories.make_member(world.a, name=f"巡逻员{i}") for i in range(RESIDENTS)]
        committee = db.session.merge(world.committee)
        keeper = db.session.merge(world.shopkeeper)
        the_shop = shop.create_shop(committee, world.a.id, "故障测试超市", "芙蓉街 1 号")
        shop.assign_keeper(committee, world.a.id, the_shop.id, keeper.id)
        item = shop.add_item(keeper, world.a.id, the_shop.id, name="毛巾", description="一条", price=1,
                             stock=10_000, monthly_limit=None)
        seeded = []
        for person in people:
            ledger.award(world.a.id, person.id, POINTS_EACH, idempotency_key=f"fault:seed:{person.id}",
                         memo="初始积分", actor=committee)
            patrol = tracking.start_patrol(person, world.a.id)
            _, secret = issue_api_token(person, days=1, name="fault test")
            seeded.append({"user_id": person.id, "token": secret, "patrol_id": patrol.id})
        db.session.commit()
        item_id = item.id
        db.session.remove()
    return item_id, seeded


def _until_done(server, method, path, body, headers, deadline, stats):
    """Send until answered with success; a lost connection or a 5xx is retried with the same body and key."""
    while time.monotonic() < deadline:
        try:
            status, data = server.request(method, path, body, headers, timeout=15)
        except OSError:
            status, data = 0, None
        if status in (200, 201):
            return data
        if status and status < 500:
            raise AssertionError(f"{method} {path} refused with {status}: {data}")
        stats["retries"] += 1
        stats["statuses"][status] = stats["statuses"].get(status, 0) + 1
        time.sleep(0.2)
    raise AssertionError(f"{method} {path} was never acknowledged")


def test_connections_killed_under_load_lose_nothing_and_post_nothing_twice(app, world):
    """Every acknowledged order exists exactly once with exactly one hold, every GPS point is stored once,
    stock and balances add up and the ledger verifies, although every database session was killed mid-run."""
    item_id, residents = _seed(app, world)
    cid = world.a.id
    total_ops = RESIDENTS * (ORDERS_EACH + BATCHES_EACH)
    stats = {"retries": 0, "statuses": {}, "done": 0, "killed": 0}
    acknowledged = {}  # (user_id, key) -> order id
    lock = threading.Lock()
    errors = []

    with Server(app) as server:
        deadline = time.monotonic() + 45

        def resident(r):
            headers = {"Authorization": f"Bearer {r['token']}"}
            try:
                for n in range(max(ORDERS_EACH, BATCHES_EACH)):
                    if n < ORDERS_EACH:
                        key = f"fault-{r['user_id']}-{n}"
                        data = _until_done(server, "POST", f"/api/v1/communities/{cid}/shop/orders",
                                           {"item_id": item_id, "quantity": 1},
                                           dict(headers, **{"Idempotency-Key": key}), deadline, stats)
                        with lock:
                            acknowledged[(r["user_id"], key)] = data["id"]
                            stats["done"] += 1
                    if n < BATCHES_EACH:
                        now = time.time()
                        batch = [{"id": f"p{r['user_id']}-{n}-{k}", "t": now - 5 + k, "lat": 36.6683 + 0.0001 * n,
                                  "lon": 117.0204 + 0.0001 * k, "accuracy": 8} for k in range(POINTS_PER_BATCH)]
                        _until_done(server, "POST", f"/api/v1/communities/{cid}/patrols/{r['patrol_id']}/points",
                                    {"points": batch}, headers, deadline, stats)
                        with lock:
                            stats["done"] += 1
            except AssertionError as error:
                errors.append(str(error))

        def killer():
            while stats["done"] < total_ops // 3 and time.monotonic() < deadline and not errors:
                time.sleep(0.02)
            for _ in range(3):
                stats["killed"] += terminate_backends(pg_dsn(app), make_url(pg_dsn(app)).database)
                time.sleep(0.3)

        threads = [threading.Thread(target=resident, args=(r,)) for r in residents] + [threading.Thread(target=killer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        server_log = server.log_text()

    assert not errors, (errors[:3], stats, server_log[-3000:])
    assert stats["killed"] >= 2, "the server's sessions were never killed"  # both gunicorn workers held one
    # A request caught by the restart is told to retry (503 + Retry-After), never given a 500.
    assert set(stats["statuses"]) <= {0, 503}, (stats["statuses"], server_log[-4000:])
    assert len(acknowledged) == RESIDENTS * ORDERS_EACH

    with app.app_context():
        # The restart ended this process's pooled connections too, and they were idle for less than
        # DATABASE_PING_AFTER_IDLE: like the server's, the first use of each would fail. Start afresh.
        db.engine.dispose()
        orders = db.session.scalars(select(Order.id).where(
            Order.community_id == cid, Order.item_id == item_id)).all()
        assert sorted(orders) == sorted(acknowledged.values())  # each acknowledged order is there, once
        # ... and each Idempotency-Key answers with the order it made, so a further retry makes none.
        keys = db.session.execute(select(RequestKey.user_id, RequestKey.key, RequestKey.response_body).where(
            RequestKey.key.like("fault-%"))).all()
        assert {(u, k): body["id"] for u, k, body in keys} == acknowledged
        holds = db.session.scalar(select(func.count()).select_from(Transaction).where(
            Transaction.idempotency_key.like("order:%:hold")))
        assert holds == len(orders)
        assert db.session.get(Item, item_id).stock == 10_000 - len(orders)
        for r in residents:
            assert ledger.balance_of(cid, r["user_id"]) == POINTS_EACH - ORDERS_EACH
            patrol = db.session.get(Patrol, r["patrol_id"])
            stored = db.session.scalar(select(func.count()).select_from(TrackPoint).where(
                TrackPoint.patrol_id == patrol.id))
            assert stored == patrol.point_count == BATCHES_EACH * POINTS_PER_BATCH
        report = ledger.verify()
        assert report["breaches"] == []
        db.session.remove()
    print(f"\nfault: {stats['killed']} sessions killed, {stats['retries']} retries, statuses {stats['statuses']}")
