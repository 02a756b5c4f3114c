"""Fault: the background worker is killed (SIGKILL) in the middle of a job, then started again.

The job is the points shop's voucher expiry: 300 uncollected vouchers past their date, each to be
expired with its points returned, its goods put back on the shelf and its resident told. The worker
runs as operators run it (`flask --app wsgi worker --once`, production settings) in a subprocess,
and is killed as soon as its job has written to the database but before it has finished.
"""
import subprocess
import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from civic.core.clock import utcnow
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Transaction
from civic.notifications.models import Notification
from civic.shop import service as shop
from civic.shop.models import Item, Order
from tests import factories
from tests.faults.helpers import BIN, ROOT, pg_dsn, production_env

pytestmark = pytest.mark.postgres

RESIDENTS = 10
ORDERS_EACH = 30
POINTS_EACH = 500
STOCK = 1000


def _seed(app, world):
    """Residents with points and vouchers they never collected, all past their date."""
    with app.app_context():
        committee = db.session.merge(world.committee)
        keeper = db.session.merge(world.shopkeeper)
        the_shop = shop.create_shop(committee, world.a.id, "故障测试超市", "芙蓉街 1 号")
        shop.assign_keeper(committee, world.a.id, the_shop.id, keeper.id)
        item = shop.add_item(keeper, world.a.id, the_shop.id, name="鸡蛋", description="一盒", price=2,
                             stock=STOCK, monthly_limit=None)
        people = [factories.make_member(world.a, name=f"居民{i}") for i in range(RESIDENTS)]
        for person in people:
            ledger.award(world.a.id, person.id, POINTS_EACH, idempotency_key=f"fault:seed:{person.id}",
                         memo="初始积分", actor=committee)
            for n in range(ORDERS_EACH):
                shop.place_order(person, world.a.id, item.id, request_key=f"worker-fault-{person.id}-{n}")
        db.session.execute(update(Order).values(expires_at=utcnow() - timedelta(days=1)))
        db.session.commit()
        ids = item.id, [p.id for p in people]
        db.session.remove()
    return ids


def _worker(app):
    return subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "worker", "--once"], cwd=ROOT,
                            env=production_env(app), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _job_has_written(dsn, database):
    """True once another session holds the lock an UPDATE of shop_order takes (until its transaction
    ends): the expiry job has changed at least one voucher and not committed yet."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return bool(conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.datname = %s AND l.pid <> pg_backend_pid() AND l.relation = 'shop_order'::regclass "
            "AND l.mode = 'RowExclusiveLock'", (database,)).fetchone()[0])


def _state(app, item_id):
    with app.app_context():
        state = {
            "expired": db.session.scalar(select(func.count()).select_from(Order).where(Order.status == "expired")),
            "held": db.session.scalar(select(func.count()).select_from(Order).where(Order.status == "held")),
            "releases": db.session.scalar(select(func.count()).select_from(Transaction).where(
                Transaction.idempotency_key.like("order:%:release"))),
            "notices": db.session.scalar(select(func.count()).select_from(Notification).where(
                Notification.kind == "shop.voucher_expired")),
            "stock": db.session.get(Item, item_id).stock,
            "breaches": ledger.verify()["breaches"],
        }
        db.session.remove()
    return state


def test_worker_killed_mid_job_then_rerun_expires_each_voucher_exactly_once(app, world):
    """A worker killed mid-job leaves no half-done voucher; the next run finishes the job and every
    voucher is expired once, refunded once, restocked once and told once; a third run changes nothing."""
    item_id, people = _seed(app, world)
    total = RESIDENTS * ORDERS_EACH
    assert _state(app, item_id)["held"] == total
    dsn = pg_dsn(app)
    database = make_url(dsn).database

    worker = _worker(app)
    deadline = time.monotonic() + 40
    try:
        seen_writing = False
        while worker.poll() is None and time.monotonic() < deadline and not seen_writing:
            seen_writing = _job_has_written(dsn, database)
            time.sleep(0.01)
        time.sleep(0.1)  # well inside the job: it has locked and changed some vouchers
        assert worker.poll() is None, "the job finished before it could be killed: " + worker.stdout.read()
        worker.kill()  # SIGKILL: no clean-up, no rollback from the process itself
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert worker.returncode == -9
    assert seen_writing, "the worker was killed before its expiry job had changed a voucher"

    after_kill = _state(app, item_id)
    # The job commits once: the killed run left either nothing or (had it reached its commit) everything.
    assert after_kill["breaches"] == []
    assert after_kill["expired"] == after_kill["releases"] == after_kill["notices"]
    assert after_kill["expired"] + after_kill["held"] == total
    assert after_kill["stock"] == STOCK - after_kill["held"]

    for _run in range(2):  # the restarted worker, then one more run that must find nothing to do
        rerun = _worker(app)
        output, _ = rerun.communicate(timeout=50)
        assert rerun.returncode == 0, output
        assert "shop_expire_vouchers: failed" not in output, output
        final = _state(app, item_id)
        assert final == {"expired": total, "held": 0, "releases": total, "notices": total, "stock": STOCK,
                         "breaches": []}

    with app.app_context():
        for user_id in people:
            assert ledger.balance_of(world.a.id, user_id) == POINTS_EACH
        db.session.remove()
    print(f"\nworker killed with {after_kill['expired']} of {total} vouchers committed; the rerun did the rest")
