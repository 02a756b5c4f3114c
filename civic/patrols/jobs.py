"""Scheduled jobs of the patrols (registered with the worker when imported)."""
from civic.extensions import db
from civic.patrols import partitions, tracking
from civic.patrols import shifts as patrol_shifts
from civic.worker import job, schedule

schedule("patrol_reminders", patrol_shifts.send_reminders, minutes=5)
schedule("patrol_close_idle", tracking.close_idle_patrols, minutes=5)
schedule("patrol_no_shows", patrol_shifts.record_no_shows, minutes=15)


@job("patrol_track_partitions", hours=6)
def patrol_track_partitions(app, now):
    """Create the monthly partitions of the GPS fixes ahead of time (PostgreSQL; nothing on SQLite)."""
    created = partitions.ensure_partitions(now=now)
    db.session.commit()
    return {"created": created}
