"""GPS fixes partitioned by month on PostgreSQL (issue 16): partitions made ahead by the worker, retention
drops a whole month, a resent batch adds nothing (the key includes the fix time). SQLite keeps one table."""
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from civic.extensions import db
from civic.patrols import partitions, tracking
from civic.patrols.models import Patrol, TrackPoint
from civic.worker import run_job
from tests.patrols.helpers import walk

T0 = datetime(2031, 3, 10, 10, 0)


def _points(patrol_id):
    return db.session.scalar(select(func.count()).select_from(TrackPoint).where(TrackPoint.patrol_id == patrol_id))


def test_months_are_made_ahead_and_a_resent_batch_adds_nothing(app, app_ctx, world, is_postgres):
    user = db.session.merge(world.resident)
    created = partitions.ensure_partitions(now=T0)
    db.session.commit()
    if is_postgres:
        assert created == ["patrol_track_point_203103", "patrol_track_point_203104", "patrol_track_point_203105"]
        assert partitions.ensure_partitions(now=T0) == []  # made once
        assert db.session.scalar(text("SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                                      "ON c.oid = p.partrelid WHERE c.relname = 'patrol_track_point'")) == 1
    else:
        assert created == []
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    fixes = walk(tracking.unix(T0) + 1, seconds=300, dt=5.0)
    added, dupes, _ = tracking.add_points(user, world.a.id, patrol.id, fixes, now=T0 + timedelta(minutes=6))
    again, dupes_again, _ = tracking.add_points(user, world.a.id, patrol.id, fixes, now=T0 + timedelta(minutes=6))
    db.session.commit()
    assert added == len(fixes) and (again, dupes_again) == (0, len(fixes)) and _points(patrol.id) == len(fixes)
    if is_postgres:
        homes = db.session.scalars(text(
            "SELECT DISTINCT tableoid::regclass::text FROM patrol_track_point WHERE patrol_id = :p"),
            {"p": patrol.id}).all()
        assert homes == ["patrol_track_point_203103"]


def test_retention_drops_a_whole_month_and_keeps_the_summary(app, app_ctx, world, is_postgres):
    user = db.session.merge(world.resident)
    partitions.ensure_partitions(now=T0)
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    tracking.add_points(user, world.a.id, patrol.id, walk(tracking.unix(T0) + 1, seconds=300, dt=5.0),
                        now=T0 + timedelta(minutes=6))
    tracking.end_patrol(user, world.a.id, patrol.id, now=T0 + timedelta(minutes=6))
    db.session.commit()
    count = _points(patrol.id)
    # A month is dropped only once every community's retention (180 days by default) has passed its end.
    assert "patrol_track_point_203103" not in partitions.drop_expired_partitions(180, now=datetime(2031, 9, 26))
    assert _points(patrol.id) == count
    dropped = partitions.drop_expired_partitions(180, now=datetime(2031, 10, 1))
    db.session.commit()
    db.session.expire_all()
    kept = db.session.get(Patrol, patrol.id)
    if is_postgres:
        assert dropped == ["patrol_track_point_203103"]
        assert _points(patrol.id) == 0
        assert kept.summary["track_deleted_at"].startswith("2031-10-01")
        assert kept.summary["track_points"] == count == kept.point_count
    else:
        assert dropped == [] and _points(patrol.id) == count  # SQLite: the row-by-row purge does it
    db.session.commit()  # (the job's DDL waits for readers of the table, this test's session included)
    # the worker's job makes the coming months
    result = run_job(app, "patrol_track_partitions", now=datetime(2031, 11, 2))
    assert result["created"] == (["patrol_track_point_203111", "patrol_track_point_203112",
                                  "patrol_track_point_203201"] if is_postgres else [])
