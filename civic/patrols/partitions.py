"""Monthly partitions of the GPS fixes (`patrol_track_point`) on PostgreSQL.

On PostgreSQL the table is partitioned by range on the fix time `t`, one partition a month, named
`patrol_track_point_YYYYMM`, plus a default partition for a fix of a month that has none. The worker creates
the partitions ahead (`ensure_partitions`), and the retention job drops a whole month once every community's
retention period has passed it
(`drop_expired_partitions`), instead of deleting rows one by one. The unique key that makes a resent
batch idempotent is `(community_id, patrol_id, client_id, t)`: a partitioned table's unique keys must
include the partition key, and a resent fix carries the same time. On a Citus cluster the partitioned
table is distributed by `community_id`; a partition created later on the coordinator is distributed
with it. SQLite keeps one plain table, and these functions do nothing there.
"""
from datetime import datetime, timedelta

from sqlalchemy import text

from civic.core.clock import resolve
from civic.extensions import db

TABLE = "patrol_track_point"
DEFAULT = f"{TABLE}_default"  # catches a fix of a month without its partition (never refused for that)
MONTHS_AHEAD = 2


def partitioned():
    """True when the fixes live in a partitioned table (PostgreSQL)."""
    return db.session.get_bind().dialect.name == "postgresql"


def month_start(moment):
    return datetime(moment.year, moment.month, 1)


def next_month(start):
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1)


def schema_name_filter(name, type_, parent_names):
    """Alembic `include_name`: leave the month partitions out of schema comparisons (the models declare
    the partitioned table; its partitions are made by the worker, not by the migrations)."""
    table = name if type_ == "table" else (parent_names or {}).get("table_name")
    return not (table or "").startswith(f"{TABLE}_")


def partition_name(start):
    return f"{TABLE}_{start:%Y%m}"


def create_partition_sql(start):
    """The DDL of the month starting at `start` (also used by the migration)."""
    return (f"CREATE TABLE IF NOT EXISTS {partition_name(start)} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ('{start:%Y-%m-%d}') TO ('{next_month(start):%Y-%m-%d}')")


def existing_partitions():
    """{month start: partition name} of the partitions that exist now."""
    rows = db.session.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"), {"table": TABLE}).scalars()
    found = {}
    for name in rows:
        suffix = name[len(TABLE) + 1:]
        if suffix.isdigit() and len(suffix) == 6:
            found[datetime(int(suffix[:4]), int(suffix[4:]), 1)] = name
    return found


def ensure_partitions(*, now=None, months_ahead=MONTHS_AHEAD):
    """Create this month's partition and the next `months_ahead`; returns the names created."""
    if not partitioned():
        return []
    have = existing_partitions()
    start, created = month_start(resolve(now)), []
    for _ in range(months_ahead + 1):
        # A month whose fixes already sit in the default partition stays there (PostgreSQL refuses the new
        # partition); they are purged row by row like before. Only a wrong clock puts fixes months ahead.
        if start not in have and not db.session.execute(text(
                f"SELECT 1 FROM {DEFAULT} WHERE t >= :a AND t < :b LIMIT 1"),
                {"a": start, "b": next_month(start)}).first():
            db.session.execute(text(create_partition_sql(start)))
            created.append(partition_name(start))
        start = next_month(start)
    return created


def drop_expired_partitions(keep_days, *, now=None):
    """Drop every month that ended more than `keep_days` ago (the longest retention of any community).

    Before a month goes, each patrol with fixes in it is marked like a purged one (its summary keeps
    the distance and the point count, `track_deleted_at` is set), so nothing measures it again.
    Returns the names dropped.
    """
    from civic.patrols.models import Patrol

    if not partitioned():
        return []
    now = resolve(now)
    cutoff = now - timedelta(days=keep_days)
    dropped = []
    for start, name in sorted(existing_partitions().items()):
        if next_month(start) > cutoff:
            continue
        keys = db.session.execute(text(f"SELECT DISTINCT community_id, patrol_id FROM {name}")).all()
        for _community_id, patrol_id in keys:
            patrol = db.session.get(Patrol, patrol_id)
            if patrol is not None and not (patrol.summary or {}).get("track_deleted_at"):
                patrol.summary = dict(patrol.summary or {}, track_deleted_at=now.isoformat(timespec="seconds"),
                                      track_points=patrol.point_count)
        db.session.flush()
        db.session.execute(text(f"DROP TABLE {name}"))
        dropped.append(name)
    return dropped
