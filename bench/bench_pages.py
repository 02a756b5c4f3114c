"""Page benchmark (`make bench`, issue 11): one JSON object per line on stdout.

For each main page and API call: SQL statements on a small world and on a scaled one (the world of
tests/core/test_statement_counts.py, then BENCH_PAGES_GROW (100) rows of every kind through the services,
then bulk rows up to the issue's sizes: BENCH_PAGES_RESIDENTS, _POSTINGS, _PATROLS, _GPS_POINTS,
_NOTIFICATIONS), and throughput as a ratio to /healthz on the same server in the same run, for both
worlds. The server is gunicorn with gunicorn.conf.py and the production settings on PostgreSQL; the load
generator is wrk (Debian package `wrk`; scripts/run-bench.sh installs it when missing) with
BENCH_PAGES_CONNS connections (16) on loopback for BENCH_PAGES_SECONDS per endpoint. Pages are
requested with the session cookie of a real form sign-in, API calls with a bearer token. /healthz is
measured before and after each round; the ratio uses their mean. Then the static cost of a page view:
requests and bytes for a first and a returning visitor (who re-requests only what its headers let
expire; immutable files never do).

Runs on PostgreSQL database BENCH_PAGES_DB (civic_bench_pages), rebuilt by the migrations. BENCH_PAGES_ONLY
(comma-separated path templates, e.g. "/,/c/{a}/merit/review") times only those endpoints.
Targets: no endpoint grows; at most 20 statements per page; notice board and review queue >= 0.05 of
/healthz on the scaled world; home >= 0.25; a returning visitor's page view is 1 request.
"""
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _database import (  # noqa: E402 - bench/ is on the path
    build_app,
    emit,
    ensure_database,
    free_port,
    production_env,
    reset_schema,
    start_gunicorn,
    stop_gunicorn,
)
from sqlalchemy import event, text  # noqa: E402

DB_NAME = os.environ.get("BENCH_PAGES_DB", "civic_bench_pages")
ONLY = [p for p in os.environ.get("BENCH_PAGES_ONLY", "").split(",") if p]
GROW = int(os.environ.get("BENCH_PAGES_GROW", "100"))
SIZES = {  # the scaled world of issue 11; rows the services did not make are added in bulk
    "residents": int(os.environ.get("BENCH_PAGES_RESIDENTS", "5000")),
    "postings": int(os.environ.get("BENCH_PAGES_POSTINGS", "200000")),
    "patrols": int(os.environ.get("BENCH_PAGES_PATROLS", "1300")),
    "gps_points": int(os.environ.get("BENCH_PAGES_GPS_POINTS", "200000")),
    "notifications": int(os.environ.get("BENCH_PAGES_NOTIFICATIONS", "2000")),
}
CONNS = int(os.environ.get("BENCH_PAGES_CONNS", "16"))
THREADS = int(os.environ.get("BENCH_PAGES_WRK_THREADS", "2"))
SECONDS = int(os.environ.get("BENCH_PAGES_SECONDS", "4"))
TARGETS = {"/": 0.25, "/c/{a}/merit/notice": 0.05, "/c/{a}/merit/review": 0.05}
# wrk's summary as one JSON line (latencies in microseconds).
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "non_2xx_3xx": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


def build_world(app):
    """The tests' world, catalogue and shop, committed; returns the world, ids and an API token."""
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


def scale_up(app, world):
    """Bulk rows up to SIZES in community a: residents (with ledger accounts), balanced award postings
    (one in ten to the viewer, the rest spread over the residents, balances carried), ended patrols with
    GPS fixes, unread notifications (half of them the viewer's). Plain SQL: the services would take hours."""
    from civic.core.clock import utcnow
    from civic.extensions import db

    c, viewer = world.a.id, world.committee.id
    now = utcnow()
    with app.app_context(), db.engine.begin() as conn:
        def scalar(sql, **params):
            return conn.execute(text(sql), {"c": c, "now": now, **params}).scalar()

        def run(sql, **params):
            conn.execute(text(sql), {"c": c, "now": now, **params})

        members = scalar("SELECT count(*) FROM membership WHERE community_id = :c AND status = 'active'")
        run("""WITH new_users AS (
                 INSERT INTO "user" (phone, display_name, is_admin, is_managed, elder_mode, auth_version, active,
                                     created_at)
                 SELECT '188' || lpad(g::text, 8, '0'), '居民' || g, false, false, false, 1, true, :now
                 FROM generate_series(1, :n) g RETURNING id)
               INSERT INTO membership (community_id, user_id, status, address, note, requested_at, decided_at)
               SELECT :c, id, 'active', '1号楼', '', :now, :now FROM new_users""",
            n=max(0, SIZES["residents"] - members))
        run("""INSERT INTO ledger_account (community_id, key, kind, owner_id, balance, created_at)
               SELECT :c, 'resident:' || m.user_id, 'resident', m.user_id, 0, :now FROM membership m
               WHERE m.community_id = :c AND NOT EXISTS (
                 SELECT 1 FROM ledger_account a WHERE a.community_id = :c AND a.key = 'resident:' || m.user_id)""")

        awards = max(0, SIZES["postings"] - scalar("SELECT count(*) FROM ledger_posting")) // 2
        issuance = scalar("SELECT id FROM ledger_account WHERE community_id = :c AND kind = 'issuance' ORDER BY id")
        mine = scalar("SELECT id FROM ledger_account WHERE community_id = :c AND key = :key", key=f"resident:{viewer}")
        accounts = scalar("SELECT count(*) FROM ledger_account WHERE community_id = :c AND kind = 'resident'")
        run("""CREATE TEMP TABLE bulk_award ON COMMIT DROP AS
               SELECT g, CASE WHEN g % 10 = 0 THEN :mine ELSE a.id END AS account_id, 1 + g % 7 AS amount,
                      :now - (g % 300) * interval '1 day' - (g % 600) * interval '1 minute' AS created_at
               FROM generate_series(1, :k) g
               JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM ledger_account
                     WHERE community_id = :c AND kind = 'resident') a ON a.rn = g % :accounts""",
            k=awards, mine=mine, accounts=accounts)
        run("""INSERT INTO ledger_transaction (community_id, idempotency_key, content_hash, kind, category,
                                               counts_as_merit, memo, actor_id, created_at)
               SELECT :c, 'bench:bulk:' || g, md5(g::text) || md5('x' || g), 'award', 'labour', true, '打扫楼道',
                      :viewer, created_at FROM bulk_award ORDER BY g""", viewer=viewer)
        run("""INSERT INTO ledger_posting (community_id, transaction_id, account_id, amount, balance_after, created_at)
               SELECT :c, t.id, b.account_id, b.amount,
                      a.balance + sum(b.amount) OVER (PARTITION BY b.account_id ORDER BY b.g), b.created_at
               FROM bulk_award b JOIN ledger_account a ON a.id = b.account_id
               JOIN ledger_transaction t ON t.community_id = :c AND t.idempotency_key = 'bench:bulk:' || b.g
               UNION ALL
               SELECT :c, t.id, :issuance, -b.amount, i.balance - sum(b.amount) OVER (ORDER BY b.g), b.created_at
               FROM bulk_award b JOIN ledger_account i ON i.id = :issuance
               JOIN ledger_transaction t ON t.community_id = :c AND t.idempotency_key = 'bench:bulk:' || b.g""",
            issuance=issuance)
        run("""UPDATE ledger_account a SET balance = a.balance + s.total
               FROM (SELECT account_id, sum(amount) AS total FROM bulk_award GROUP BY account_id) s
               WHERE a.id = s.account_id""")
        run("UPDATE ledger_account SET balance = balance - (SELECT coalesce(sum(amount), 0) FROM bulk_award) "
            "WHERE id = :issuance", issuance=issuance)

        patrols = max(0, SIZES["patrols"] - scalar("SELECT count(*) FROM patrol WHERE community_id = :c"))
        run("""INSERT INTO patrol (community_id, user_id, status, started_at, ended_at, last_point_at, ended_by,
                                   point_count, distance_m, moving_seconds, flags, summary, review_note,
                                   points_awarded, dropped_points, fingerprint)
               SELECT :c, m.user_id, 'ended', :now - g * interval '3 hours' - interval '1 hour',
                      :now - g * interval '3 hours', :now - g * interval '3 hours', 'volunteer', 0, 0, 0, '',
                      '{}', '', 0, 0, ''
               FROM generate_series(1, :n) g
               JOIN (SELECT user_id, row_number() OVER (ORDER BY id) - 1 AS rn FROM membership
                     WHERE community_id = :c) m ON m.rn = g % :members""", n=patrols, members=SIZES["residents"])
        fixes = max(0, SIZES["gps_points"] - scalar("SELECT count(*) FROM patrol_track_point"))
        run("""INSERT INTO patrol_track_point (community_id, patrol_id, client_id, t, lat, lon, accuracy)
               SELECT :c, p.id, 'bulk-' || g, p.started_at + (g / :per) * interval '1 second',
                      36.6683 + 0.00001 * (g % 100), 117.0204 + 0.00001 * (g % 200), 8
               FROM generate_series(0, :n - 1) g
               JOIN (SELECT id, started_at, row_number() OVER (ORDER BY id) - 1 AS rn FROM patrol
                     WHERE community_id = :c AND status = 'ended') p ON p.rn = g % :per""",
            n=fixes, per=max(1, SIZES["patrols"]))
        notices = max(0, SIZES["notifications"] - scalar("SELECT count(*) FROM notification"))
        run("""INSERT INTO notification (user_id, community_id, kind, title, body, params, created_at)
               SELECT CASE WHEN g % 2 = 0 THEN :viewer ELSE :other END, :c, 'test', 'Points awarded', '', '{}',
                      :now - g * interval '1 minute'
               FROM generate_series(1, :n) g""", n=notices, viewer=viewer, other=world.resident.id)
        run("ANALYZE")


def world_sizes(app, community_id):
    from civic.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        row = conn.execute(text("""SELECT
            (SELECT count(*) FROM membership WHERE community_id = :c AND status = 'active') AS residents,
            (SELECT count(*) FROM ledger_posting) AS postings,
            (SELECT count(*) FROM merit_claim WHERE community_id = :c AND status = 'notice') AS claims_on_notice,
            (SELECT count(*) FROM merit_claim WHERE community_id = :c AND status IN ('pending', 'second'))
                AS claims_pending,
            (SELECT count(*) FROM shop_order) AS orders,
            (SELECT count(*) FROM patrol) AS patrols,
            (SELECT count(*) FROM patrol_track_point) AS gps_points,
            (SELECT count(*) FROM notification) AS notifications"""), {"c": community_id}).mappings().one()
    return dict(row)


def statements(app, paths, token):
    """Statements per path in-process (second request): pages signed in with the form, API with the token."""
    from civic.extensions import db
    from tests import factories

    client = app.test_client()
    response = client.post("/login", data={"phone": factories.DEFAULT_PHONE, "password": factories.DEFAULT_PASSWORD})
    assert response.status_code == 302, response.status_code
    counts = {}
    with app.app_context():
        engine = db.engine
    for path in paths:
        headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
        client.get(path, headers=headers)
        seen = []

        def record(*_args, seen=seen):
            seen.append(1)

        event.listen(engine, "before_cursor_execute", record)
        status = client.get(path, headers=headers).status_code
        event.remove(engine, "before_cursor_execute", record)
        counts[path] = (len(seen), status)
    return counts


def sign_in(port):
    """A real form sign-in (GET /login for the CSRF token, POST /login); returns the Cookie header."""
    from tests import factories

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    jar = SimpleCookie()
    jar.load(response.getheader("Set-Cookie", ""))
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": csrf, "phone": factories.DEFAULT_PHONE,
                                   "password": factories.DEFAULT_PASSWORD})
    conn.request("POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"session={jar['session'].value}",
        "Origin": f"http://127.0.0.1:{port}", "Referer": f"http://127.0.0.1:{port}/login"})
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"form sign-in answered {response.status}")
    jar.load(", ".join(v for k, v in response.getheaders() if k.lower() == "set-cookie"))
    return f"session={jar['session'].value}"


def status_of(port, path, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def wrk(port, path, headers, script):
    """Requests per second (and latencies, errors) from wrk over CONNS connections for SECONDS."""
    command = ["wrk", "-t", str(THREADS), "-c", str(CONNS), "-d", f"{SECONDS}s", "--timeout", "10s", "-s", script]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    result = subprocess.run([*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                            timeout=SECONDS + 60)
    line = next((x for x in reversed(result.stdout.splitlines()) if x.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary for {path}:\n{result.stdout}\n{result.stderr}")
    report = json.loads(line)
    report["rps"] = report["requests"] / (report["duration_us"] / 1e6)
    return report


def round_of(port, paths, cookie, token, script):
    """One throughput round: /healthz, every endpoint, /healthz again."""
    def headers(path):
        return {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {"Cookie": cookie}

    wrk(port, "/healthz", {}, script)  # warm every worker and its connections before timing
    before = wrk(port, "/healthz", {}, script)
    endpoints = {}
    for path in paths:
        status = status_of(port, path, headers(path))
        endpoints[path] = dict(wrk(port, path, headers(path), script), status=status) if status == 200 else \
            {"rps": 0.0, "status": status, "non_2xx_3xx": None, "socket_errors": None, "p50_us": None, "p95_us": None}
    after = wrk(port, "/healthz", {}, script)
    return (before["rps"] + after["rps"]) / 2, before, after, endpoints


def static_cost(port, path, cookie):
    """Requests and bytes (as sent: compressed where offered) of one page view, for a first visitor (the HTML
    and every static file it links) and a returning one (the HTML, plus every linked file whose cache
    lifetime could have run out: immutable files never do)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie, "Accept-Encoding": "gzip, br"})
    response = conn.getresponse()
    body = response.read()
    html = gzip.decompress(body) if response.getheader("Content-Encoding") == "gzip" else body
    first, returning = [1, len(body)], [1, len(body)]
    for url in sorted(set(re.findall(rb'/static/[^"\'?#)\s]+', html))):
        conn.request("GET", url.decode(), headers={"Accept-Encoding": "gzip, br"})
        static = conn.getresponse()
        size = len(static.read())
        first = [first[0] + 1, first[1] + size]
        cache = static.getheader("Cache-Control", "")
        if "immutable" not in cache:
            returning = [returning[0] + 1, returning[1] + size]
    return first, returning


def _interrupted(*_):
    raise KeyboardInterrupt


def main():
    import tests.core.test_statement_counts as counts_test

    signal.signal(signal.SIGTERM, _interrupted)  # a killed run still stops its server (finally below)

    if not shutil.which("wrk"):
        sys.exit("bench_pages needs wrk (Debian package `wrk`; `make bench` installs it)")
    ensure_database(DB_NAME)
    app = build_app(DB_NAME, LOG_JSON=False, WTF_CSRF_ENABLED=False, LEDGER_DEFAULT_YEARLY_BUDGET=2_000_000_000)
    reset_schema(app)
    world, ids, token = build_world(app)
    templates = [t for t in counts_test.PAGES + counts_test.API if not ONLY or t in ONLY]
    paths = [p.format(a=world.a.id) for p in templates]
    counts_test.grow(app, world, ids, 2, "small")
    small_sizes = world_sizes(app, world.a.id)
    small = statements(app, paths, token)

    port = free_port()
    server = start_gunicorn(production_env(DB_NAME), port)
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(WRK_REPORT)
    script.close()
    try:
        cookie = sign_in(port)
        rounds = {"small": round_of(port, paths, cookie, token, script.name)}
        started = time.monotonic()
        counts_test.grow(app, world, ids, GROW, "large")
        scale_up(app, world)
        large_sizes = world_sizes(app, world.a.id)
        emit("pages.world", large_sizes["postings"], "postings", small=small_sizes, scaled=large_sizes,
             grown_through_services=GROW, seconds_to_build=round(time.monotonic() - started, 1))
        large = statements(app, paths, token)
        rounds["scaled"] = round_of(port, paths, cookie, token, script.name)
        workers = os.environ.get("GUNICORN_WORKERS", str((os.cpu_count() or 1) * 2))
        server_desc = (f"gunicorn gunicorn.conf.py ({workers} workers x {os.environ.get('GUNICORN_THREADS', '4')}"
                       " threads), CIVIC_CONFIG=production, PostgreSQL, 127.0.0.1")
        load = os.getloadavg()[0]
        for world_name, (healthz, before, after, _) in rounds.items():
            emit("pages.healthz", round(healthz, 1), "req/s", world=world_name, before=round(before["rps"], 1),
                 after=round(after["rps"], 1), p95_ms=round(before["p95_us"] / 1000, 2), connections=CONNS,
                 load_generator=f"wrk -t{THREADS} -c{CONNS} -d{SECONDS}s", server=server_desc)
        for template, path in zip(templates, paths, strict=True):
            (n_small, _), (n_large, _) = small[path], large[path]
            target = TARGETS.get(template)
            ratios = {}
            for world_name, (healthz, _, _, endpoints) in rounds.items():
                ratios[world_name] = round(endpoints[path]["rps"] / healthz, 3) if healthz else 0.0
            scaled = rounds["scaled"][3][path]
            emit("pages.endpoint", round(scaled["rps"], 1), "req/s", path=template, world="scaled",
                 statements_small=n_small, statements_scaled=n_large, grows=n_large > n_small, over_20=n_large > 20,
                 ratio_to_healthz=ratios["scaled"], ratio_to_healthz_small=ratios["small"],
                 rps_small=round(rounds["small"][3][path]["rps"], 1), target=target,
                 met=(ratios["scaled"] >= target) if target else None, status=scaled["status"],
                 non_2xx_3xx=scaled["non_2xx_3xx"], socket_errors=scaled["socket_errors"],
                 p95_ms=round(scaled["p95_us"] / 1000, 1) if scaled["p95_us"] is not None else None,
                 loadavg_1m=round(load, 2))
        for path in ("/", "/points", f"/c/{world.a.id}/merit/notice"):
            first, returning = static_cost(port, path, cookie)
            emit("static.returning_view", returning[0], "requests", path=path.replace(str(world.a.id), "{a}"),
                 bytes=returning[1], first_view_requests=first[0], first_view_bytes=first[1], target_requests=1,
                 met=returning[0] == 1)
    finally:
        stop_gunicorn(server)
        os.unlink(script.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
