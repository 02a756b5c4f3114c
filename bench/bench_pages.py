"""Page benchmark (`make bench`, issue 11): one JSON object per line on stdout.

For each main page and API call: SQL statements on a small world and after growing it (the same world
and growth as tests/core/test_statement_counts.py, BENCH_PAGES_GROW rows of every kind, default 300),
and throughput on gunicorn as a ratio to /healthz on the same server in the same run (closed loop,
BENCH_PAGES_CONNS keep-alive connections, BENCH_PAGES_SECONDS per endpoint). Then the static cost of a
returning visitor's page view (requests and bytes when every linked file is cached as its headers allow).

Runs on PostgreSQL database civic_bench_pages (BENCH_PAGES_URL overrides), built by the migrations.
Targets: no endpoint grows; at most 20 statements per page; notice board and review queue >= 0.05 of
/healthz; home >= 0.25; a returning visitor's page view is 1 request.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402

URL = os.environ.get("BENCH_PAGES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/civic_bench_pages")
GROW = int(os.environ.get("BENCH_PAGES_GROW", "300"))
CONNS = int(os.environ.get("BENCH_PAGES_CONNS", "8"))
SECONDS = float(os.environ.get("BENCH_PAGES_SECONDS", "3"))
TARGETS = {"/": 0.25, "/c/{a}/merit/notice": 0.05, "/c/{a}/merit/review": 0.05}


def emit(**fields):
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def prepare():
    admin = create_engine(URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = URL.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def make_app():
    from flask_migrate import upgrade

    from civic import create_app
    from civic.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": URL, "LOG_LEVEL": "WARNING", "LOG_JSON": False,
                      "WTF_CSRF_ENABLED": False, "LEDGER_DEFAULT_YEARLY_BUDGET": 2_000_000_000})
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    return app


def build_world(app):
    """The tests' world, catalogue and shop, committed; returns ids and an API token."""
    from civic.accounts.service import issue_api_token
    from civic.extensions import db
    from civic.ledger import service as ledger
    from tests import factories
    from tests.merit.conftest import make_rules
    from tests.shop.conftest import stock_shop

    with app.app_context():
        db.session().expire_on_commit = False
        w = factories.make_world()
        rules = make_rules(w.a.id, w.committee, w.committee2)
        s = stock_shop(w, stock=1_000_000, price=1, points=50_000)
        ledger.award(w.a.id, w.committee.id, 50_000, idempotency_key="bench:committee", category="labour",
                     memo="bench", actor=w.committee)
        _row, token = issue_api_token(w.committee, days=1)
        db.session.commit()
        ids = SimpleNamespace(rules=rules, item_id=s.item.id, shop_id=s.shop.id)
        db.session.expunge_all()
        db.session.remove()
    return w, ids, token


def statements(app, paths, token):
    from civic.extensions import db

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    counts = {}
    with app.app_context():
        engine = db.engine
    for path in paths:
        client.get(path, headers=headers)
        seen = []

        def record(*_args, seen=seen):
            seen.append(1)

        event.listen(engine, "before_cursor_execute", record)
        status = client.get(path, headers=headers).status_code
        event.remove(engine, "before_cursor_execute", record)
        counts[path] = (len(seen), status)
    return counts


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throughput(port, path, headers):
    """Requests per second over CONNS keep-alive connections for SECONDS."""
    done, stop = [0] * CONNS, time.perf_counter() + SECONDS

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def returning_view(port, path, headers):
    """Requests and bytes for a returning visitor: the HTML, plus every linked static file whose cache
    lifetime would have run out (immutable files never do)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={**headers, "Accept-Encoding": "gzip, br"})
    response = conn.getresponse()
    body = response.read()
    requests, size = 1, len(body)
    for url in set(re.findall(rb'/static/[^"\'?#]+', body)):
        conn.request("GET", url.decode(), headers={"Accept-Encoding": "gzip, br"})
        static = conn.getresponse()
        data = static.read()
        if "immutable" not in static.getheader("Cache-Control", ""):
            requests, size = requests + 1, size + len(data)
    return requests, size


def main():
    import tests.core.test_statement_counts as counts_test

    prepare()
    app = make_app()
    world, ids, token = build_world(app)
    paths = [p.format(a=world.a.id) for p in counts_test.PAGES + counts_test.API]
    counts_test.grow(app, world, ids, 2, "small")
    small = statements(app, paths, token)
    counts_test.grow(app, world, ids, GROW, "large")
    large = statements(app, paths, token)

    port = free_port()
    env = {**os.environ, "CIVIC_CONFIG": "development", "DATABASE_URL": URL, "SQLALCHEMY_DATABASE_URI": URL,
           "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        statuses = {}
        for path in paths:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path, headers=headers)
            statuses[path] = conn.getresponse().status
        served_from_db = statuses[paths[0]] == 200
        throughput(port, "/healthz", {})  # warm the workers (imports, connections) before timing
        healthz = throughput(port, "/healthz", {})
        emit(bench="pages.healthz", value=round(healthz, 1), unit="req/s", connections=CONNS)
        for template, path in zip(counts_test.PAGES + counts_test.API, paths, strict=True):
            (n_small, _), (n_large, _) = small[path], large[path]
            rate = throughput(port, path, headers) if served_from_db else 0.0
            ratio = rate / healthz if healthz else 0.0
            target = TARGETS.get(template)
            emit(bench="pages.endpoint", path=template, statements_small=n_small, statements_large=n_large,
                 grows=n_large > n_small, over_20=n_large > 20, status=statuses[path], value=round(rate, 1),
                 unit="req/s", ratio_to_healthz=round(ratio, 3), target=target,
                 met=(ratio >= target) if target else None, grown_by=GROW)
        for path in ("/", f"/c/{world.a.id}/merit/notice"):
            requests, size = returning_view(port, path, headers)
            emit(bench="static.returning_view", path=path, requests=requests, bytes=size, target_requests=1,
                 met=requests == 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
