"""One source of time. Stored datetimes are naive UTC; residents read China time (Asia/Shanghai).

Services take `now=None` and call resolve(now); tests pass a fixed clock instead of sleeping. Every
conversion between stored and local time lives here, so that "today", "this month" and "this year"
mean the same in every area.
"""
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow():
    """The current time as a naive UTC datetime (what the database stores)."""
    return datetime.now(UTC).replace(tzinfo=None)


def resolve(now=None):
    """Services take `now=None`; tests pass a fixed clock instead of sleeping."""
    return now if now is not None else utcnow()


def local(naive_utc):
    """A stored naive-UTC datetime as an aware China-time datetime."""
    return naive_utc.replace(tzinfo=UTC).astimezone(LOCAL_TZ)


def to_local(naive_utc):
    """A stored naive-UTC datetime as a naive China-time datetime (for form fields)."""
    return local(naive_utc).replace(tzinfo=None)


def to_utc(local_naive):
    """A naive China-time datetime (from a form) as naive UTC for storage."""
    return local_naive.replace(tzinfo=LOCAL_TZ).astimezone(UTC).replace(tzinfo=None)


def local_text(naive_utc):
    """A stored time as residents read it, e.g. 2026-05-01 19:30 ('' for none)."""
    return local(naive_utc).strftime("%Y-%m-%d %H:%M") if naive_utc is not None else ""


def local_date(naive_utc, minus_days=0):
    """The China-time date of a stored time (None for none)."""
    return (local(naive_utc) - timedelta(days=minus_days)).date() if naive_utc is not None else None


def local_day_start(day, plus_days=0):
    """Midnight (China time) of a date, as naive UTC (None for none)."""
    if day is None:
        return None
    return to_utc(datetime.combine(day + timedelta(days=plus_days), time.min))


def local_month_start(now):
    """The start of the China-time calendar month containing `now`, as naive UTC."""
    here = local(now)
    return to_utc(datetime(here.year, here.month, 1))


def local_year(now):
    """The China-time calendar year containing `now` (budgets and yearly tallies)."""
    return local(now).year


def period_keys(now):
    """The merit periods containing `now` (China time): all time, its year and its month, e.g.
    ("all", "y2026", "m2026-11") (the ledger's tallies and leaderboards)."""
    here = local(now)
    return ("all", f"y{here.year}", f"m{here.year}-{here.month:02d}")
