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
