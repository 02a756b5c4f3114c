"""Scheduled jobs of the patrols (registered with the worker when imported)."""
from civic.extensions import db
from civic.patrols import partitions, service
from civic.worker import job, schedule

schedule("patrol_reminders", service.send_reminders, minutes=5)
schedule("patrol_close_idle", service.close_idle_patrols, minutes=5)
schedule("patrol_no_shows", service.record_no_shows, minutes=15)


@job("patrol_track_partitions", hours=6)
def patrol_track_partitions(app, now):
    """Create the monthly partitions of the GPS fixes ahead of time (PostgreSQL; nothing on SQLite)."""
    created = partitions.ensure_partitions(now=now)
    db.session.commit()
    return {"created": created}
