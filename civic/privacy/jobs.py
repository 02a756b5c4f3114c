"""Scheduled jobs of privacy (registered with the worker when imported)."""
from civic.extensions import db
from civic.patrols import partitions
from civic.privacy import service
from civic.worker import job

MAX_BATCHES_PER_RUN = 200  # at most 20,000 patrols an hour (~2 minutes at the measured rate)


@job("privacy_gps_retention", hours=1)
def privacy_gps_retention(app, now):
    """Delete raw GPS points of patrols past their community's retention period, in committed batches."""
    patrols = points = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        done, deleted = service.purge_batch(now=now)
        db.session.commit()  # each batch is its own transaction: locks stay short, progress is kept
        patrols, points = patrols + done, points + deleted
        if done < service.PURGE_BATCH:
            break
    # On PostgreSQL a month of fixes older than every community's retention goes as one partition.
    months = partitions.drop_expired_partitions(service.longest_gps_retention_days(), now=now)
    db.session.commit()
    result = {"patrols": patrols, "points": points}
    if months:
        result["partitions_dropped"] = months
    return result


@job("privacy_retention", hours=24)
def privacy_retention(app, now):
    """Prune failed sign-ins, old audit addresses and old notifications (docs/privacy.md)."""
    return service.prune_personal_data(now=now)
