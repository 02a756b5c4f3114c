"""The background worker: APScheduler in its own process (`flask --app wsgi worker`).

Jobs are plain functions `job(app, now) -> result` registered in JOBS (with @job, or with
`schedule` for a service function that takes only the clock). Each run
happens in its own app context and transaction, and commits once. Jobs must be
idempotent and safe with two workers at once: they select their rows with
row locks (SKIP LOCKED on PostgreSQL) and move them through state changes
that a second run finds already done.
"""
import logging
import os
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
    "civic.grid.jobs",
    "civic.core.upload_jobs",
    "civic.core.outbox_jobs",
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


def schedule(name, service_function, **trigger_args):
    """Register a service function that takes only the clock (`service_function(now=now)`) as an interval job."""

    def run(app, now):
        return service_function(now=now)

    run.__name__, run.__doc__ = service_function.__name__, service_function.__doc__
    JOBS[name] = (run, "interval", trigger_args)


@job("deliver_email", minutes=1)
def deliver_email(app, now):
    """Send notifications by e-mail when SMTP is configured."""
    from civic.notifications.service import deliver_email as deliver

    return deliver(app.config, now=now)


@job("heartbeat", seconds=60)
def heartbeat(app, now):
    """Nothing but proof of life: run_job records it, and /healthz shows when the worker last beat."""
    return "alive"


def run_job(app, name, now=None):
    """Run one job in its own transaction; returns its result (errors are logged, not raised).

    Its start, end and result are written to `job_run` (for /healthz and /metrics) in their own
    transactions, so a failing job is recorded as failed."""
    from civic.operations.service import record_job_end, record_job_start

    load_jobs()
    func = JOBS[name][0]
    with app.app_context():
        try:
            _record(record_job_start, name)
            result = func(app, now or utcnow())
            db.session.commit()
            ok = True
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
            result, ok = "failed", False
        try:
            _record(record_job_end, name, result, ok=ok)
            return result
        finally:
            db.session.remove()


def _record(func, *args, **kwargs):
    """Write a job_run row in its own transaction; a database that is down must not hide the job's result."""
    try:
        func(*args, **kwargs)
        db.session.commit()
    except Exception:  # noqa: BLE001
        db.session.rollback()
        log.warning("could not record job run %s", args[0], exc_info=True)


def startup_problems(app, environ=None):
    """Why the worker must not start: no CIVIC_CONFIG (it would quietly run the development settings on
    an empty SQLite file), or a database whose schema is not the code's."""
    from civic.operations.service import schema_status

    environ = os.environ if environ is None else environ
    problems = []
    if not environ.get("CIVIC_CONFIG"):
        problems.append("CIVIC_CONFIG is not set: load the same environment file as the web server "
                        "(CIVIC_CONFIG=production, DATABASE_URL, SECRET_KEY, ...)")
    with app.app_context():
        try:
            schema = schema_status()
        except Exception as error:  # noqa: BLE001
            problems.append(f"the database does not answer ({error.__class__.__name__})")
        else:
            if not schema["current"]:
                problems.append(f"the database schema {schema['database'] or 'is empty'} is not the code's "
                                f"{schema['code']}: run `flask --app wsgi db upgrade heads`")
        finally:
            db.session.remove()
    return problems


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
    """Start the scheduler and block until SIGTERM or SIGINT; refuse to start on a wrong setup."""
    problems = startup_problems(app)
    if problems:
        raise SystemExit("Refusing to start the worker: " + "; ".join(problems))
    scheduler = build_scheduler(app)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=True))
    log.info("worker started with jobs: %s", ", ".join(sorted(JOBS)))
    run_job(app, "heartbeat")  # /healthz shows the worker at once, not a minute later
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
