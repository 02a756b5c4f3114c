"""Scheduled jobs of merit claims (registered with the worker when imported)."""
from civic.merit import service
from civic.worker import schedule

schedule("merit_close_notices", service.close_notices, minutes=5)
schedule("merit_digest", service.send_digests, hours=1)
