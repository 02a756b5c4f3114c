"""The outbox's scheduled job (registered with the worker when imported)."""
from civic.core import outbox
from civic.worker import schedule

schedule("outbox_deliver", outbox.deliver_pending, minutes=1)
