"""Small database helpers every area shares."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from civic.core.errors import Conflict
from civic.extensions import db


def get_or_create(model, *, lock=False, defaults=None, **keys):
    """The row of `model` matching `keys` (None matches NULL), added with `keys` and `defaults` if there is
    none. `lock` takes a row lock on the found row. Returns (row, created); a created row is flushed."""
    query = select(model).where(*[getattr(model, k).is_(None) if v is None else getattr(model, k) == v
                                  for k, v in keys.items()])
    row = db.session.scalar(query.with_for_update() if lock else query)
    if row is not None:
        return row, False
    row = model(**keys, **(defaults or {}))
    db.session.add(row)
    db.session.flush()
    return row, True


def lock_due(model, *conditions, limit):
    """Rows of the community-owned `model` that meet `conditions`, in any community (a job's work), first
    `limit` by id, each locked within its community and checked again (`FOR UPDATE SKIP LOCKED` on
    PostgreSQL, so a second worker skips them). On a distributed database (Citus) a row lock must name
    the distribution column: one statement cannot lock due rows of every community."""
    keys = db.session.execute(select(model.community_id, model.id).where(*conditions)
                              .order_by(model.id).limit(limit)).all()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    rows = []
    for community_id, row_id in keys:
        query = select(model).where(model.community_id == community_id, model.id == row_id, *conditions)
        if postgres:
            query = query.with_for_update(skip_locked=True).execution_options(populate_existing=True)
        row = db.session.scalar(query)
        if row is not None:
            rows.append(row)
    return rows


def add_once(row, message, reason):
    """Add a row that a unique constraint allows once per person (a vote, a support, an objection, a rating).
    When it is there already (a concurrent twin's included): Conflict(message) with `reason`. Returns the row,
    flushed."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise Conflict(message, reason=reason) from None
    return row
