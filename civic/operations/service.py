"""Health of an install: the schema revision against the code's, the worker's heartbeat, job runs."""
from datetime import timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import select, text

from civic.config import BASE_DIR
from civic.core.clock import resolve
from civic.core.db import get_or_create
from civic.extensions import db
from civic.operations.models import JobRun

VERSION_FILE = Path(BASE_DIR) / "VERSION"
HEARTBEAT = "heartbeat"
# The worker beats every minute; after this long without a beat it is reported as stale.
HEARTBEAT_STALE = timedelta(minutes=5)


@cache
def version():
    """The release number in the VERSION file (e.g. '1.1.0'); read once per process, as the code is."""
    return VERSION_FILE.read_text().strip()


@cache
def code_heads():
    """The Alembic revisions the code expects (the heads of migrations/). Read once per process: the files
    only change with a new release, which restarts the processes, and reading them (every migration
    module is imported) made /healthz cost more than most pages (issue 11)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(BASE_DIR) / "migrations"))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def database_revisions():
    """The Alembic revisions recorded in the database (empty when it was never migrated)."""
    try:
        with db.session.begin_nested():
            return {row[0] for row in db.session.execute(text("SELECT version_num FROM alembic_version"))}
    except Exception:  # noqa: BLE001 - no alembic_version table: never migrated
        return set()


def schema_status():
    """{'database': [...], 'code': [...], 'current': bool}: is the database at the code's revision?"""
    database, code = database_revisions(), code_heads()
    return {"database": sorted(database), "code": sorted(code), "current": database == code}


def record_job_start(name, *, now=None):
    """Note that a job started (its own small transaction is the caller's)."""
    run = get_or_create(JobRun, name=name, defaults={"runs": 0, "failures": 0})[0]
    run.last_started_at = resolve(now)
    db.session.flush()
    return run


def record_job_end(name, result, *, ok, now=None):
    """Note how a job ended: its result, and whether it failed."""
    now = resolve(now)
    run = get_or_create(JobRun, name=name, defaults={"runs": 0, "failures": 0})[0]
    run.last_finished_at = now
    run.last_result = str(result)[:200]
    run.runs = (run.runs or 0) + 1
    if ok:
        run.last_ok_at = now
    else:
        run.failures = (run.failures or 0) + 1
    db.session.flush()
    return run


def job_runs():
    """Every job's last run, by name."""
    return {run.name: run for run in db.session.scalars(select(JobRun).order_by(JobRun.name))}


def worker_status(runs, *, now=None):
    """'ok', 'stale' or 'never' from the heartbeat row, with when it last beat."""
    now = resolve(now)
    beat = runs.get(HEARTBEAT)
    if beat is None or beat.last_finished_at is None:
        return {"status": "never", "last_seen": None}
    status = "ok" if now - beat.last_finished_at <= HEARTBEAT_STALE else "stale"
    return {"status": status, "last_seen": beat.last_finished_at.isoformat() + "Z"}


def health(*, now=None):
    """The body of /healthz and whether the site can serve (False when the schema is behind the code)."""
    schema = schema_status()
    runs = job_runs() if schema["current"] else {}
    body = {
        "status": "ok" if schema["current"] else "error",
        "database": "ok",
        "version": version(),
        "schema": schema,
        "worker": worker_status(runs, now=now),
        "jobs": {
            name: {
                "last_started": _iso(run.last_started_at), "last_finished": _iso(run.last_finished_at),
                "last_ok": _iso(run.last_ok_at), "last_result": run.last_result,
                "runs": run.runs, "failures": run.failures,
            }
            for name, run in runs.items() if name != HEARTBEAT
        },
    }
    if not schema["current"]:
        body["message"] = "the database schema is not at the code's revision: run `flask --app wsgi db upgrade heads`"
    return body, schema["current"]


def _iso(moment):
    return moment.isoformat() + "Z" if moment else None
