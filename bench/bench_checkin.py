"""Benchmark: 500 residents checking in to one session within a minute, through the HTTP API, on PostgreSQL.

A real server (gunicorn, 2 workers x 8 threads, on 127.0.0.1) serves the app against a dedicated
database civic_bench_checkin (created when missing, rebuilt by the migrations each run). The
organiser's screen is a thread that fetches the rotating code every 3 seconds, as the page does;
each resident arrives at a random moment within the first 50 seconds (seeded), "scans" the latest
code and POSTs it to /api/v1/deliberation/checkin with their bearer token, using a pool of
concurrent client threads. One resident in ten taps twice. Afterwards the database must hold
exactly one attendance per resident and one award per attendance, and the ledger must verify.

Prints one JSON line with counts and latencies (ms).

    .venv/bin/python bench/bench_checkin.py [--residents 500] [--clients 40] [--spread 50]
"""
import argparse
import hashlib
import http.client
import json
import os
import queue
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _database import build_app, database_url, ensure_database, reset_schema  # noqa: E402 - bench/ is on the path
from sqlalchemy import func, select  # noqa: E402

DB_NAME = "civic_bench_checkin"


def seed(app, residents):
    """A community, its committee member, `residents` residents with bearer tokens, a session starting now."""
    from civic.accounts.models import ApiToken, User
    from civic.communities.models import Community, District, MemberRole, Membership, Street
    from civic.core.clock import utcnow
    from civic.deliberation import service
    from civic.extensions import db

    now = utcnow()
    tokens = []
    with app.app_context():
        district = District(name="基准区")
        db.session.add(district)
        db.session.flush()
        street = Street(district_id=district.id, name="基准街道")
        db.session.add(street)
        db.session.flush()
        community = Community(street_id=street.id, name="基准社区")
        db.session.add(community)
        db.session.flush()

        def member(phone, name):
            user = User(phone=phone, display_name=name)
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(community_id=community.id, user_id=user.id, status="active", address="1号楼"))
            secret = secrets.token_urlsafe(24)
            db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(secret.encode()).hexdigest(),
                                    name="bench", expires_at=now + timedelta(days=1)))
            return user, secret

        committee, committee_token = member("13600000000", "主任")
        db.session.flush()
        db.session.add(MemberRole(community_id=community.id, user_id=committee.id, role="committee"))
        for i in range(residents):
            tokens.append(member(f"136{i + 1:08d}", f"居民{i + 1}")[1])
        db.session.flush()
        meeting = service.create_meeting(committee, community.id, title="基准议事会", kind="hall", place="大礼堂",
                                         starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=2),
                                         quorum_percent=0)
        db.session.commit()
        return community.id, meeting.id, committee_token, tokens


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port):
    """gunicorn on 127.0.0.1:port; returns the process once /healthz answers."""
    env = dict(os.environ, CIVIC_CONFIG="development", DATABASE_URL=database_url(DB_NAME), LOG_LEVEL="WARNING",
               LEDGER_DEFAULT_YEARLY_BUDGET="100000000")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-k", "gthread", "-w", "2", "--threads", "8", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"],
        cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("the server did not start: " + proc.stderr.read().decode(errors="replace")[-2000:])


def request(conn, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def run(port, community_id, meeting_id, committee_token, tokens, clients, spread, seed_value):
    """Drive the check-ins; returns (latencies in ms, outcome counts)."""
    rng = random.Random(seed_value)
    latest = {"token": None}
    stop = threading.Event()

    def screen():  # the organiser's screen: poll the code every 3 s
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                status, body = request(conn, "GET",
                                       f"/api/v1/deliberation/communities/{community_id}/meetings/{meeting_id}/code",
                                       committee_token)
                if status == 200:
                    latest["token"] = body["url"]
            except (OSError, http.client.HTTPException):
                pass  # keep showing the last code, as the page does
            finally:
                conn.close()
            stop.wait(3)

    screen_thread = threading.Thread(target=screen, daemon=True)
    screen_thread.start()
    while latest["token"] is None:
        time.sleep(0.05)

    start = time.monotonic()
    jobs = queue.Queue()
    arrivals = sorted((rng.uniform(0, spread), i) for i in range(len(tokens)))
    for at, i in arrivals:
        jobs.put((at, i, rng.random() < 0.1))
    latencies, outcomes, lock = [], {"created": 0, "already": 0, "errors": 0}, threading.Lock()
    error_samples = []

    def client():
        while True:
            try:
                at, i, twice = jobs.get_nowait()
            except queue.Empty:
                return
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for _attempt in range(2 if twice else 1):
                t0 = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # a phone opens its own connection
                try:
                    status, body = request(conn, "POST", "/api/v1/deliberation/checkin", tokens[i],
                                           {"token": latest["token"]})
                except (OSError, http.client.HTTPException) as exc:
                    status, body = 0, {"message": repr(exc)}
                finally:
                    conn.close()
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    if status == 200:
                        outcomes["already" if body["already"] else "created"] += 1
                    else:
                        outcomes["errors"] += 1
                        if len(error_samples) < 5:
                            error_samples.append((status, body.get("message")))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes["wall_seconds"] = round(time.monotonic() - start, 2)
    outcomes["error_samples"] = error_samples
    stop.set()
    return latencies, outcomes


def check(app, meeting_id):
    """Count attendances, distinct people, awards; verify the ledger."""
    from civic.deliberation.models import Attendance
    from civic.extensions import db
    from civic.ledger import service as ledger
    from civic.ledger.models import Transaction

    with app.app_context():
        attendances = db.session.scalar(
            select(func.count()).select_from(Attendance).where(Attendance.meeting_id == meeting_id))
        people = db.session.scalar(
            select(func.count(func.distinct(Attendance.user_id))).where(Attendance.meeting_id == meeting_id))
        awards = db.session.scalar(select(func.count()).select_from(Transaction).where(
            Transaction.idempotency_key.like(f"meeting:{meeting_id}:attend:%")))
        verified = ledger.verify()
        db.session.remove()
        return attendances, people, awards, len(verified["breaches"])


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return None
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return round(ordered[k], 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--spread", type=float, default=50.0, help="seconds over which residents arrive (<= 60)")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()

    ensure_database(DB_NAME)
    app = build_app(DB_NAME, LEDGER_DEFAULT_YEARLY_BUDGET=100000000)
    reset_schema(app)
    community_id, meeting_id, committee_token, tokens = seed(app, args.residents)
    port = free_port()
    server = start_server(port)
    try:
        latencies, outcomes = run(port, community_id, meeting_id, committee_token, tokens, args.clients,
                                  min(args.spread, 60.0), args.seed)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    attendances, people, awards, breaches = check(app, meeting_id)
    ok = (attendances == people == awards == args.residents and outcomes["created"] == args.residents
          and outcomes["errors"] == 0 and breaches == 0 and outcomes["wall_seconds"] <= 60)
    print(json.dumps({
        "bench": "deliberation_checkin", "server": "gunicorn gthread 2x8, 127.0.0.1", "database": DB_NAME,
        "residents": args.residents, "clients": args.clients, "requests": len(latencies),
        "checked_in": outcomes["created"], "already_checked_in": outcomes["already"], "errors": outcomes["errors"],
        "error_samples": outcomes["error_samples"], "wall_seconds": outcomes["wall_seconds"],
        "attendance_rows": attendances, "distinct_people": people, "awards": awards, "ledger_breaches": breaches,
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "p99": percentile(latencies, 99), "max": round(max(latencies), 1) if latencies else None},
        "ok": ok,
    }, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
