"""docs/operations.md, followed in order on loopback: role and database, the environment file made from
deploy/civic.env.example with the documented sed lines, translations, `scripts/civic db upgrade heads`,
the web and worker services' own ExecStart lines, deploy/nginx.conf, the first administrator, the first
street/community/committee through the proxy, and a backup. Each step checks that the docs still say
what it runs, so the guide and this test cannot drift apart unnoticed.

Differences from a real machine, on purpose: packages, the `civic` system user, sudo, systemd and
certbot are not used (the services' commands run as child processes with the environment file loaded
the way systemd's EnvironmentFile does), the existing .venv is reused, and ports are free loopback ports."""
import os
import re
import secrets
import shlex
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.operations.proxy import ROOT, Browserless, free_port, start_nginx, stop, wait_for

pytestmark = pytest.mark.postgres
DOC = (ROOT / "docs" / "operations.md").read_text()


def documented(command):
    """The step is in the guide as written."""
    assert command in DOC, f"docs/operations.md no longer says: {command}"


def read_env_file(path):
    """KEY=VALUE lines, as systemd's EnvironmentFile reads them (comments and blanks skipped)."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def exec_start(unit):
    """The ExecStart command of a unit in deploy/, with /srv/civic as this checkout."""
    text = (ROOT / "deploy" / unit).read_text()
    line = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
    return [part.replace("/srv/civic", str(ROOT)) for part in shlex.split(line)]


@pytest.fixture
def database(app):
    """Install step 3: a role and a database it owns (on the test server, over loopback)."""
    documented("sudo -u postgres createuser civic")
    documented("sudo -u postgres createdb --owner=civic --encoding=UTF8 civic")
    server = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = f"civic_walk_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f"CREATE DATABASE \"{name}\" OWNER \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    try:
        yield server.set(drivername="postgresql", username=name, password=None, database=name).render_as_string(
            hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_follow_the_install_guide(database, tmp_path):
    """From an empty database to a running, proxied, backed-up install by the guide's steps."""
    run_env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL", "CIVIC_CONFIG", "DATABASE_URL"}}

    def sh(command, **extra):
        done = subprocess.run(command, shell=True, cwd=ROOT, env={**run_env, **extra}, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # Step 2: translations are built as part of the install (the venv is reused).
    documented("sudo -u civic make venv translations")
    sh("make translations")
    assert (ROOT / "civic/translations/zh_Hans_CN/LC_MESSAGES/messages.mo").exists()

    # Step 4: the environment file, made exactly as documented.
    env_file = tmp_path / "civic.env"
    documented("sudo install -m 0640 -g civic deploy/civic.env.example /etc/civic/civic.env")
    sh(f"install -m 0640 deploy/civic.env.example {env_file}")
    for line in ("key=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')",
                 'sudo sed -i "s|^SECRET_KEY=.*|SECRET_KEY=$key|" /etc/civic/civic.env',
                 'sudo sed -i "s|^SITE_URL=.*|SITE_URL=https://civic.example.org|" /etc/civic/civic.env'):
        documented(line)
    sh(f"""key=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
sed -i "s|^SECRET_KEY=.*|SECRET_KEY=$key|" {env_file}
sed -i "s|^SITE_URL=.*|SITE_URL=https://civic.example.org|" {env_file}
sed -i "s|^DATABASE_URL=.*|DATABASE_URL={database}|" {env_file}
sed -i "s|^UPLOADS_DIR=.*|UPLOADS_DIR={tmp_path / 'uploads'}|" {env_file}""")
    (tmp_path / "uploads").mkdir()
    settings = read_env_file(env_file)
    assert settings["CIVIC_CONFIG"] == "production" and settings["PROXY_HOPS"] == "1"
    assert len(settings["SECRET_KEY"]) >= 60
    civic = f"CIVIC_ENV_FILE={env_file} scripts/civic"

    # Before the migration the worker refuses to start (it would fail every job every minute).
    worker_cmd = exec_start("civic-worker.service")
    early = subprocess.run(worker_cmd, cwd=ROOT, env={**run_env, **settings}, capture_output=True, text=True,
                           timeout=60)
    assert early.returncode != 0 and "db upgrade heads" in early.stderr

    # Step 4, continued: migrate.
    documented("sudo -u civic scripts/civic db upgrade heads")
    sh(f"{civic} db upgrade heads")

    # Step 5: the two services, by their units' ExecStart lines and environment file.
    port = free_port()
    service_env = {**run_env, **settings, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2",
                   "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    web = worker = nginx = None
    try:
        web = subprocess.Popen(exec_start("civic-web.service"), cwd=ROOT, env=service_env,
                               stdout=web_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        worker = subprocess.Popen(worker_cmd, cwd=ROOT, env={**run_env, **settings},
                                  stdout=worker_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(f"http://127.0.0.1:{port}/healthz", web, web_log)

        # Step 6: nginx with deploy/nginx.conf.
        documented("sudo cp deploy/nginx.conf /etc/nginx/sites-available/civic")
        nginx, tls_port, _plain = start_nginx(tmp_path, app_port=port)
        browser = Browserless(tls_port)

        # Step 7: the first administrator.
        documented("sudo -u civic scripts/civic create-admin --phone 13900000000 --name 管理员")
        sh(f"{civic} create-admin --phone 13900000000 --name 管理员 --password street-office-2026")

        # Step 8: the first street, community and committee, through the proxy as the guide says.
        committee = Browserless(tls_port)
        signed_up = committee.submit("/signup", "/signup", {"phone": "13900000001", "display_name": "王主任",
                                                            "password": "committee-pw-1", "confirm": "committee-pw-1"})
        assert signed_up.status_code == 302, signed_up.text[:300]
        assert browser.sign_in("13900000000", "street-office-2026").status_code == 302
        created = browser.submit("/admin/", "/admin/", {"district": "历下区", "street": "泉城路街道",
                                                        "name": "芙蓉社区", "kind": "community"})
        assert created.status_code == 302, created.text[:300]
        admin_page = browser.get("/admin/").text
        assert "芙蓉社区" in admin_page
        community_id = re.search(r'/admin/communities/(\d+)/appoint', admin_page).group(1)
        appointed = browser.submit("/admin/", f"/admin/communities/{community_id}/appoint", {"phone": "13900000001"})
        assert appointed.status_code == 302
        home = committee.get("/")
        assert home.status_code == 200 and "芙蓉社区" in home.text
        assert 'lang="zh' in home.text and "首页" in home.text  # the catalogue is in use: the site is in Chinese

        # The worker is alive and the schema is current, as /healthz says through the proxy.
        deadline = time.monotonic() + 30
        while (health := browser.get("/healthz").json())["worker"]["status"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert health["status"] == "ok" and health["worker"]["status"] == "ok", health
        assert health["schema"]["database"] == health["schema"]["code"]

        # Step 9: a backup, by the documented script with the environment file.
        documented("scripts/backup.sh /var/backups/civic")
        out = sh(f"scripts/backup.sh {tmp_path / 'backups'}", CIVIC_ENV_FILE=str(env_file))
        (dump,) = out.split()  # the uploads live in the database, so the dump is the whole backup
        assert os.stat(dump).st_mode & 0o777 == 0o600 and os.path.getsize(dump) > 10_000
        listing = subprocess.run(["pg_restore", "--list", dump], capture_output=True, text=True)
        assert "job_run" in listing.stdout and "community" in listing.stdout
    finally:
        stop(nginx)
        stop(worker)
        stop(web)
