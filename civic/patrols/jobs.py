"""Scheduled jobs of the patrols (registered with the worker when imported)."""
from civic.extensions import db
from civic.patrols import partitions, tracking
from civic.patrols import shifts as patrol_shifts
from civic.worker import job


@job("patrol_reminders", minutes=5)
def patrol_reminders(app, now):
    """Remind volunteers of shifts starting within two hours."""
    return patrol_shifts.send_reminders(now=now)


@job("patrol_close_idle", minutes=5)
def patrol_close_idle(app, now):
    """End patrols that have sent no point for 30 minutes."""
    return tracking.close_idle_patrols(now=now)


@job("patrol_no_shows", minutes=15)
def patrol_no_shows(app, now):
    """Record no-shows once a shift is over."""
    return patrol_shifts.record_no_shows(now=now)


@job("patrol_track_partitions", hours=6)
def patrol_track_partitions(app, now):
    """Create the monthly partitions of the GPS fixes ahead of time (PostgreSQL; nothing on SQLite)."""
    created = partitions.ensure_partitions(now=now)
    db.session.commit()
    return {"created": created}
