"""The outbox: a resident's transaction writes its notices and audit entries on its community's shard.

`notification` is placed by person and `audit_entry` by its own id (civic.core.tenancy.DISTRIBUTED_BY), so
writing them in a resident's transaction made its commit a two-node commit on Citus (docs/scaling.md,
"Notifications and audit entries in a resident's commit"). Instead, `notify()` and `audit.record()` with a
community write one `outbox` row (a community-owned table: the same shard as the rest of the transaction),
and delivery moves it into its target table afterwards:

- **right after the commit**, in the same process (`after_commit` session hook, a short transaction of its
  own), so a notice still appears at once;
- **by the worker** (`outbox_deliver`, every minute) for whatever is left over a minute later: a process
  that died between its commit and the delivery;
- **within the writing transaction**, when that same transaction reads `notification` or `audit_entry`
  (a transaction sees its own notices). No resident flow does that: tests/scale checks that their
  transactions write neither table.

Each row is delivered at most once: delivery deletes it (`DELETE … WHERE community_id = :c AND id IN (…)
RETURNING`) in the transaction that inserts its target rows. A second deliverer (another process, the
worker, a retry) waits on the deleted rows' locks and then finds nothing; a delivery that fails rolls
back its delete too, and the row waits for the next one. A rolled-back resident transaction leaves no
outbox row, so nothing is delivered.

On Citus each DELETE names one community (one shard, one task); the inserts go to the people's and the
entries' shards. A delivery transaction therefore may span nodes (a two-phase commit), but it holds no
resident's rows: it is the background's cost, not the resident's commit.
"""
import logging
from datetime import datetime, timedelta

from sqlalchemy import JSON, ForeignKey, String, delete, event, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import visitors

from civic.core.clock import resolve, utcnow
from civic.extensions import db

log = logging.getLogger("civic.outbox")

NOTIFICATION, AUDIT = "notification", "audit_entry"
TARGETS = (NOTIFICATION, AUDIT)
DELIVERY = "civic_outbox_delivery"  # execution option of the connection that delivers after a commit
GRACE = timedelta(minutes=1)  # the worker leaves younger rows to the delivery right after their commit
_PENDING = "civic.outbox_pending"  # session.info key: [(community_id, outbox id)] written in this transaction


class OutboxEntry(db.Model):
    """A notification or audit entry written in a community's transaction, waiting for delivery."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    target: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


_TARGETS = {}  # target name -> (model, its time column), registered by the module that owns the model


def register_target(name, model, time_column):
    """Name the model an outbox row of `name` is delivered into (the outbox, in core, imports no area)."""
    _TARGETS[name] = (model, time_column)


def enqueue(target, community_id, at, payload):
    """Write an outbox row in the caller's transaction; it is delivered after the commit."""
    entry = OutboxEntry(target=target, community_id=community_id, at=resolve(at), payload=payload)
    db.session.add(entry)
    db.session.flush()
    db.session.info.setdefault(_PENDING, []).append((community_id, entry.id))
    return entry


def deliver(session, keys):
    """Move the outbox rows with these (community_id, id) keys into their targets, in `session`'s
    transaction (the caller commits). Rows already delivered are skipped. Returns how many were moved."""
    by_community = {}
    for community_id, outbox_id in keys:
        by_community.setdefault(community_id, set()).add(outbox_id)
    taken = []
    table = OutboxEntry.__table__
    for community_id, ids in sorted(by_community.items()):
        taken += session.execute(
            delete(table).where(table.c.community_id == community_id, table.c.id.in_(sorted(ids)))
            .returning(table.c.id, table.c.community_id, table.c.target, table.c.at, table.c.payload)).all()
    taken.sort(key=lambda row: row.id)  # targets get their ids in the order the rows were written
    for name in TARGETS:
        model, time_column = _TARGETS[name]
        rows = [dict(row.payload, community_id=row.community_id, **{time_column: row.at}) for row in taken
                if row.target == name]
        if rows:
            session.execute(insert(model), rows)
    return len(taken)


def deliver_pending(*, now=None, limit=500):
    """Deliver outbox rows older than GRACE (left by a process that stopped between its commit and its
    delivery), in the worker's transaction. Returns how many were delivered."""
    now = resolve(now)
    keys = db.session.execute(
        select(OutboxEntry.community_id, OutboxEntry.id).where(OutboxEntry.at <= now - GRACE)
        .order_by(OutboxEntry.id).limit(limit)).all()
    return deliver(db.session, [tuple(key) for key in keys]) if keys else 0


# --- session hooks ------------------------------------------------------------------------------------


def _deliver_after_commit(session):
    """Right after a commit that wrote outbox rows, deliver them in a short transaction of their own."""
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: the enclosing transaction has not committed yet
    keys = session.info.pop(_PENDING, None)
    if not keys:
        return
    try:
        with Session(bind=session.get_bind()) as own:
            own.connection(execution_options={DELIVERY: True})  # marked, so tests/scale tells it apart
            deliver(own, keys)
            own.commit()
    except Exception:  # noqa: BLE001 - the commit stands; the worker delivers what is left
        log.warning("outbox delivery after commit failed; the worker will deliver it", exc_info=True)


def _forget_after_rollback(session):
    """A rolled-back transaction's outbox rows are gone: nothing to deliver."""
    if session.get_nested_transaction() is not None:
        return  # a savepoint: the rows of the enclosing transaction stay pending (deliver skips the lost ones)
    session.info.pop(_PENDING, None)


def _reads_targets(statement):
    return any(getattr(element, "name", None) in TARGETS and hasattr(element, "columns")
               for element in visitors.iterate(statement))


def _deliver_before_own_read(execute_state):
    """A transaction that reads notifications or audit entries sees the ones it wrote itself."""
    session = execute_state.session
    if not execute_state.is_select or not session.info.get(_PENDING):
        return
    if _reads_targets(execute_state.statement):
        keys = session.info.pop(_PENDING)
        deliver(session, keys)


def install(session_class):
    """Register the hooks above on a Session class (civic.extensions does it for the app's sessions)."""
    if not event.contains(session_class, "after_commit", _deliver_after_commit):
        event.listen(session_class, "after_commit", _deliver_after_commit)
        event.listen(session_class, "after_rollback", _forget_after_rollback)
        event.listen(session_class, "do_orm_execute", _deliver_before_own_read)


install(Session)  # every session of the app (as civic.extensions does for the reload routing)
