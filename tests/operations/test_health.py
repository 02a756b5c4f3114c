"""/healthz tells the operator whether the schema, the worker and each job are fine; /metrics counts."""
from sqlalchemy import text

from civic.extensions import db
from civic.worker import run_job, startup_problems


def test_healthz_is_503_when_the_schema_is_behind_the_code(app, client):
    """A database one migration behind answers 503 (it used to say ok while an API returned 500)."""
    with app.app_context():
        (current,) = db.session.execute(text("SELECT version_num FROM alembic_version")).one()
        db.session.execute(text("UPDATE alembic_version SET version_num = '0007_privacy'"))
        db.session.commit()
    try:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert response.json["schema"]["database"] == ["0007_privacy"]
        assert "db upgrade" in response.json["message"]
        problems = startup_problems(app, environ={"CIVIC_CONFIG": "production"})
        assert any("upgrade" in p for p in problems)
    finally:
        with app.app_context():
            db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})
            db.session.commit()
    assert client.get("/healthz").status_code == 200


def test_worker_refuses_to_start_without_civic_config(app):
    """Without CIVIC_CONFIG the worker would run the development settings on an empty SQLite file."""
    problems = startup_problems(app, environ={})
    assert any("CIVIC_CONFIG" in p for p in problems)
    assert startup_problems(app, environ={"CIVIC_CONFIG": "production"}) == []


def test_commands_without_civic_config_say_they_use_the_development_settings(tmp_path):
    """An operator who forgot the environment file is told, not silently given the development database."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in {"CIVIC_CONFIG", "TEST_DATABASE_URL"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/forgotten.db"

    def run(**extra):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "--help"], cwd=root,
                              env=dict(env, **extra), capture_output=True, text=True, timeout=60)

    unset = run()
    assert unset.returncode == 0 and "CIVIC_CONFIG is not set" in unset.stderr + unset.stdout
    assert "CIVIC_CONFIG" not in (named := run(CIVIC_CONFIG="development")).stderr + named.stdout


def test_healthz_shows_the_worker_heartbeat_and_each_job(app, client):
    """Before the worker ran: 'never'. After its jobs ran: 'ok' with each job's last run and result."""
    body = client.get("/healthz").json
    assert body["worker"]["status"] == "never" and body["jobs"] == {}
    assert body["version"]
    run_job(app, "heartbeat")
    run_job(app, "deliver_email")
    body = client.get("/healthz").json
    assert body["worker"]["status"] == "ok"
    job = body["jobs"]["deliver_email"]
    assert job["runs"] == 1 and job["failures"] == 0 and job["last_ok"] and job["last_result"] == "0"


def test_a_failing_job_is_recorded_as_failed(app, client):
    """A job that raises is counted as a failure, and /metrics shows it."""
    from civic import worker

    def broken(app, now):
        raise RuntimeError("boom")

    worker.load_jobs()
    worker.JOBS["ops_test_broken"] = (broken, "interval", {"minutes": 1})
    try:
        assert run_job(app, "ops_test_broken") == "failed"
    finally:
        del worker.JOBS["ops_test_broken"]
    job = client.get("/healthz").json["jobs"]["ops_test_broken"]
    assert job["failures"] == 1 and job["last_ok"] is None
    metrics = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert 'civic_job_failures_total{job="ops_test_broken"} 1.0' in metrics


def test_metrics_count_requests_and_claims_and_are_private(app, client, world):
    """/metrics has request counts, latency, errors and claims on notice; other addresses get 404."""
    client.get("/")
    metrics = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert metrics.status_code == 200
    text_ = metrics.get_data(as_text=True)
    for name in ("civic_http_requests_total", "civic_http_request_duration_seconds_bucket",
                 "civic_http_errors_total", "civic_claims_on_notice 0.0"):
        assert name in text_
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404


def test_a_database_that_never_answers_fails_healthz_within_the_connect_timeout():
    """A port that accepts connections but never speaks: /healthz answers 503 in seconds, not minutes."""
    import socket
    import time

    from civic import create_app

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        app = create_app({"ENV_NAME": "testing", "TESTING": True, "SECRET_KEY": "x", "DATABASE_CONNECT_TIMEOUT": 2,
                          "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://nobody@127.0.0.1:{port}/none"})
        started = time.monotonic()
        response = app.test_client().get("/healthz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 15
