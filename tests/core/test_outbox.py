"""The outbox (civic.core.outbox): a community's notices and audit entries are written in its own
transaction and moved into `notification`/`audit_entry` afterwards, each exactly once."""
import threading
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civic.core import audit
from civic.core.audit import AuditEntry
from civic.core.outbox import OutboxEntry, deliver
from civic.extensions import db
from civic.notifications.models import Notification
from civic.notifications.service import notify
from civic.worker import run_job
from tests import factories

T0 = datetime(2026, 3, 2, 2, 0)


def _counts():
    """(outbox, notification, audit_entry) rows as another connection sees them (committed only)."""
    with Session(bind=db.engine) as other:
        return tuple(other.scalar(select(func.count()).select_from(model))
                     for model in (OutboxEntry, Notification, AuditEntry))


def _written_then_crashed(community, user, n=1):
    """Outbox rows committed by a process that stopped before delivering them: their keys."""
    for i in range(n):
        notify(user, "test.kind", "Hello", params={"i": i}, community_id=community.id, now=T0)
    audit.record("test.action", actor=user, community_id=community.id, detail={"n": n}, now=T0)
    keys = db.session.info.pop("civic.outbox_pending")  # what the after-commit delivery would have moved
    db.session.commit()
    return keys


def _setup():
    community = factories.make_community()
    user = factories.make_member(community)
    db.session.commit()
    return community, user


def test_a_notice_reaches_the_inbox_right_after_the_commit(app_ctx):
    community, user = _setup()
    notify(user, "test.kind", "Hello", community_id=community.id, now=T0)
    audit.record("test.action", actor=user, community_id=community.id, now=T0)
    assert _counts() == (0, 0, 0)  # nothing committed yet
    db.session.commit()
    assert _counts() == (0, 1, 1)
    note = db.session.scalar(select(Notification))
    assert (note.user_id, note.community_id, note.created_at, note.kind) == (user.id, community.id, T0, "test.kind")
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.actor_id, entry.community_id, entry.at, entry.action) == (user.id, community.id, T0, "test.action")


def test_a_rolled_back_transaction_delivers_nothing(app, app_ctx):
    community, user = _setup()
    notify(user, "test.kind", "Hello", community_id=community.id, now=T0)
    audit.record("test.action", actor=user, community_id=community.id, now=T0)
    db.session.rollback()
    db.session.commit()
    assert _counts() == (0, 0, 0)
    assert run_job(app, "outbox_deliver", now=T0 + timedelta(days=1)) == 0
    assert _counts() == (0, 0, 0)


def test_a_transaction_sees_its_own_notices(app_ctx):
    """Read in the transaction that wrote them, they are delivered in it (no resident flow does this)."""
    community, user = _setup()
    notify(user, "test.kind", "Hello", community_id=community.id, now=T0)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    db.session.commit()
    assert _counts() == (0, 1, 0)


def test_without_a_community_the_entry_is_written_directly(app_ctx):
    _community, user = _setup()
    entry = audit.record("account.signed_in", actor=user, now=T0)
    assert isinstance(entry, AuditEntry) and db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 0


def test_a_retry_delivers_once(app_ctx):
    community, user = _setup()
    keys = _written_then_crashed(community, user, n=2)
    assert _counts() == (3, 0, 0)
    for expected in (3, 0, 0):  # the delivery, then two retries of it
        with Session(bind=db.engine) as session:
            assert deliver(session, keys) == expected
            session.commit()
    assert _counts() == (0, 2, 1)
    assert sorted(n.params["i"] for n in db.session.scalars(select(Notification))) == [0, 1]


def test_two_concurrent_deliverers_deliver_once(app, app_ctx):
    community, user = _setup()
    keys = _written_then_crashed(community, user, n=5)
    start, moved, errors = threading.Barrier(2), [], []

    def deliverer():
        with app.app_context():
            try:
                with Session(bind=db.engine) as session:
                    start.wait()
                    moved.append(deliver(session, keys))
                    session.commit()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(moved) == [0, 6]
    assert _counts() == (0, 5, 1)


def test_the_worker_delivers_what_a_crash_left_after_a_minute(app, app_ctx):
    community, user = _setup()
    _written_then_crashed(community, user, n=2)
    assert run_job(app, "outbox_deliver", now=T0 + timedelta(seconds=30)) == 0  # left to the committing process
    assert _counts() == (3, 0, 0)
    assert run_job(app, "outbox_deliver", now=T0 + timedelta(seconds=61)) == 3
    assert run_job(app, "outbox_deliver", now=T0 + timedelta(seconds=62)) == 0
    assert _counts() == (0, 2, 1)
    assert {n.created_at for n in db.session.scalars(select(Notification))} == {T0}
