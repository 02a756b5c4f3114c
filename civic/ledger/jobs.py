"""Scheduled jobs of the merit bank (registered with the worker when imported)."""
from civic.ledger import digest
from civic.worker import job


@job("ledger_digests", hours=1)
def ledger_digests(app, now):
    """Write each community's chained digest of every finished day not yet digested (idempotent)."""
    return digest.publish_digests(now=now)
