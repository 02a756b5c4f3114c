"""Scheduled job of uploads (registered with the worker when imported)."""
from civic.core import uploads
from civic.worker import job


@job("uploads_cleanup", hours=1)
def uploads_cleanup(app, now):
    """Remove photos that nothing cited within a day of their upload."""
    return {"removed": uploads.remove_unattached(now=now)}
