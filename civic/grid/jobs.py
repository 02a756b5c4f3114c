"""Scheduled jobs of grid governance (registered with the worker when imported)."""
from civic.grid import service
from civic.worker import job


@job("grid_escalate_overdue", minutes=10)
def grid_escalate_overdue(app, now):
    """Pass reports past their deadline up a level (community → street → district) and turn them red."""
    return service.escalate_overdue(now=now)
