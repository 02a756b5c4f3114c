"""The SQL that a block of code runs, watched with SQLAlchemy's `before_cursor_execute`: one home for the
tests that count statements or look at what they read and write."""
from contextlib import contextmanager

from sqlalchemy import event

from civic.extensions import db


class Statement(str):
    """A statement's text, with the parameters it was sent with as `.params`."""

    params = None


@contextmanager
def recorded(engine=None):
    """Yield a list that fills with every statement (a `Statement`) the engine runs inside the block;
    the engine is the app's (`db.engine`, which needs an app context) unless one is given."""
    engine = engine if engine is not None else db.engine
    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append(Statement(statement))
        seen[-1].params = parameters

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
