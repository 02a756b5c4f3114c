"""Scheduled jobs of merit claims (registered with the worker when imported)."""
from civic.merit import service
from civic.worker import job


@job("merit_close_notices", minutes=5)
def close_notices(app, now):
    """Post the items whose notice period ended with no open objection (idempotent, two-worker safe)."""
    return service.close_notices(now=now)


@job("merit_digest", hours=1)
def pending_digest(app, now):
    """Tell committee members, once a day each, how many claims and objections wait for them."""
    return service.send_digests(now=now)
