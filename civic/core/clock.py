"""One source of time. Stored datetimes are naive UTC; pages show Asia/Shanghai."""
from datetime import datetime, timezone


def utcnow():
    """The current time as a naive UTC datetime (what the database stores)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def resolve(now=None):
    """Services take `now=None`; tests pass a fixed clock instead of sleeping."""
    return now if now is not None else utcnow()
