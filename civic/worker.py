"""The background worker: APScheduler in its own process (`flask --app wsgi worker`).

Jobs are plain functions `job(app, now) -> result` registered in JOBS. Each run
happens in its own app context and transaction, and commits once. Jobs must be
idempotent and safe with two workers at once: they select their rows with
row locks (SKIP LOCKED on PostgreSQL) and move them through state changes
that a second run finds already done.
"""
import logging
import signal

from apscheduler.schedulers.blocking import BlockingScheduler

from civic.core.clock import utcnow
from civic.extensions import db

log = logging.getLogger("civic.worker")

# name -> (function, trigger, trigger arguments)
JOBS = {}

# Each area keeps its jobs in its own module, registered with @job when imported.
JOB_MODULES = [
    "civic.ledger.jobs",
    "civic.merit.jobs",
    "civic.shop.jobs",
    "civic.patrols.jobs",
    "civic.deliberation.jobs",
    "civic.privacy.jobs",
]


def load_jobs():
    """Import every area's job module so its @job decorators run."""
    import importlib

    for name in JOB_MODULES:
        importlib.import_module(name)


def job(name, trigger="interval", **trigger_args):
    """Register a function as a scheduled job."""

    def decorator(func):
        JOBS[name] = (func, trigger, trigger_args)
        return func

    return decorator


@job("deliver_email", minutes=1)
def deliver_email(app, now):
    """Send notifications by e-mail when SMTP is configured."""
    from civic.notifications.service import deliver_email as deliver

    return deliver(app.config, now=now)


def run_job(app, name, now=None):
    """Run one job in its own transaction; returns its result (errors are logged, not raised)."""
    load_jobs()
    func = JOBS[name][0]
    with app.app_context():
        try:
            result = func(app, now or utcnow())
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
            return "failed"
        finally:
            db.session.remove()


def run_all_once(app, now=None):
    """Run every job once (used by `worker --once` and tests)."""
    load_jobs()
    return [(name, run_job(app, name, now)) for name in sorted(JOBS)]


def build_scheduler(app):
    """A scheduler with every registered job."""
    load_jobs()
    scheduler = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for name, (_func, trigger, args) in JOBS.items():
        scheduler.add_job(run_job, trigger, args=[app, name], id=name, **args)
    return scheduler


def run_forever(app):
    """Start the scheduler and block until SIGTERM or SIGINT."""
    scheduler = build_scheduler(app)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=True))
    log.info("worker started with jobs: %s", ", ".join(sorted(JOBS)))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
