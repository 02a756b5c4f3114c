"""Checking pooled database connections: only those that have sat idle.

`pool_pre_ping` asks the server "are you there?" on every checkout: one extra round trip per request and per
ledger posting, while a busy site's connections were in use a moment ago. Here a connection is pinged only
when it has been idle for longer than DATABASE_PING_AFTER_IDLE seconds (a quiet night, a restarted server,
a firewall that drops idle connections); a failed ping makes the pool open a fresh connection, unseen by the
request. A connection that breaks while in use (the database restarted under load) fails that request with
503 and "try again" (civic.errors), and SQLAlchemy then recycles every older connection in the pool, so the
next request gets a working one.
"""
import time

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError


def ping_when_idle(engine, idle_seconds, clock=time.monotonic):
    """Ping a connection at checkout when it was checked in more than `idle_seconds` ago (0: every time)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        if record is not None:
            record.info["checked_in_at"] = clock()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        since = record.info.pop("checked_in_at", None)
        if since is None or clock() - since <= idle_seconds:  # just opened, or in use a moment ago
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the pooled connection did not answer its ping") from error
