"""`make load`: a bounded mixed resident workload against gunicorn + PostgreSQL, on loopback only.

1. Rebuild the dedicated database civic_load (created when missing): `flask db upgrade heads`,
   `flask seed-demo`, then load/seed.py (200 residents with points, cheap goods, an open session).
2. Serve it with gunicorn (gunicorn.conf.py, CIVIC_CONFIG=production, a freshly generated SECRET_KEY,
   bound to 127.0.0.1 on a free port).
3. Ceiling phase: locust's HealthUser hits /healthz with the same number of users, no think time.
4. Mixed phase: locust's Resident users (and the organiser's check-in screen).
5. Stop the server, run `flask --app wsgi ledger verify` on civic_load and check the orders.

Prints one JSON object per line (one per phase, then the result) and a short summary; exits 1 when
there was any error or the ledger does not verify. Everything is stopped at the end, also on failure.

    .venv/bin/python load/run_load.py [--users 20] [--ceiling-seconds 15] [--mixed-seconds 45]
"""
import argparse
import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))  # run as a script from the checkout: the bench's server helpers

from bench._database import free_port, start_gunicorn, stop_gunicorn  # noqa: E402

DB_NAME = os.environ.get("LOAD_DB", "civic_load")
SERVER = os.environ.get("LOAD_PG", "postgresql://postgres@127.0.0.1:5432")
DB_URL = SERVER.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{DB_NAME}"


def log(message):
    print(f"[load] {message}", file=sys.stderr, flush=True)


def app_env():
    """The environment of every app process: production settings on civic_load."""
    env = {k: v for k, v in os.environ.items() if k not in {"CIVIC_ALLOW_SQLITE", "TEST_DATABASE_URL"}}
    env.update(
        CIVIC_CONFIG="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        DATABASE_URL=DB_URL,
        # Loopback has no TLS: with secure cookies the form sign-in could not keep its session.
        SESSION_COOKIE_SECURE="0",
        SITE_URL="http://127.0.0.1",
        LOG_LEVEL="WARNING",
        LEDGER_DEFAULT_YEARLY_BUDGET="100000000",
    )
    return env


def reset_database():
    """Create civic_load when missing and empty its schema (every run starts from the same data)."""
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    with psycopg.connect(f"{SERVER}/{DB_NAME}", autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def flask(env, *args, check=True):
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=300)
    if check and result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def seed(env, residents, data_file):
    """Run load/seed.py in a child process with the production settings; write its JSON to data_file."""
    code = (
        "import json, sys\n"
        "sys.path.insert(0, 'load')\n"
        "from civic import create_app\n"
        "from civic.extensions import db\n"
        "from seed import seed_load\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    data = seed_load({int(residents)})\n"
        "    db.session.commit()\n"
        f"open({str(data_file)!r}, 'w').write(json.dumps(data))\n"
    )
    result = subprocess.run([str(BIN / "python"), "-c", code], cwd=ROOT, env=env, text=True, capture_output=True,
                            timeout=300)
    if result.returncode != 0:
        raise RuntimeError("seeding failed:\n" + result.stderr[-3000:])
    return json.loads(data_file.read_text())


def run_locust(env, port, users, seconds, classes, prefix):
    """Run locust headless for `seconds`; returns the parsed summary of its CSV files."""
    command = [str(BIN / "locust"), "-f", str(ROOT / "load" / "locustfile.py"), "--headless",
               "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "5",
               "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary",
               "--loglevel", "WARNING", *classes]
    result = subprocess.run(command, cwd=ROOT, env=env, text=True, capture_output=True, timeout=seconds + 60)
    stats = prefix.with_name(prefix.name + "_stats.csv")
    if not stats.exists():
        raise RuntimeError("locust wrote no statistics:\n" + result.stderr[-3000:])
    rows = list(csv.DictReader(stats.open(encoding="utf-8")))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    failures_file = prefix.with_name(prefix.name + "_failures.csv")
    failures = list(csv.DictReader(failures_file.open(encoding="utf-8"))) if failures_file.exists() else []
    # An exception in a locust user (e.g. in on_start) is no failed request: count it, or a run whose users
    # all died at sign-in would pass with a handful of requests.
    exceptions_file = prefix.with_name(prefix.name + "_exceptions.csv")
    exceptions = list(csv.DictReader(exceptions_file.open(encoding="utf-8"))) if exceptions_file.exists() else []

    def ms(row, key):
        value = row.get(key)
        return None if value in (None, "", "N/A") else float(value)

    return {
        "requests": int(total["Request Count"]),
        "errors": int(total["Failure Count"]),
        "rps": round(float(total["Requests/s"]), 1),
        "latency_ms": {"p50": ms(total, "50%"), "p95": ms(total, "95%"), "p99": ms(total, "99%"),
                       "max": ms(total, "Max Response Time")},
        "by_request": {r["Name"]: {"requests": int(r["Request Count"]), "errors": int(r["Failure Count"]),
                                   "p50": ms(r, "50%"), "p95": ms(r, "95%"), "p99": ms(r, "99%")}
                       for r in rows if r["Name"] != "Aggregated"},
        "error_samples": [f"{f['Method']} {f['Name']}: {f['Error']} x{f['Occurrences']}" for f in failures[:5]],
        "user_exceptions": sum(int(e["Count"]) for e in exceptions),
        "exception_samples": [f"{e['Message']} x{e['Count']}" for e in exceptions[:3]],
    }


def check_orders(data):
    """Every order is there once: one hold per order, no request key used twice by a resident."""
    import psycopg

    with psycopg.connect(f"{SERVER}/{DB_NAME}") as conn:
        orders = conn.execute('SELECT count(*) FROM shop_order WHERE item_id = %s', (data["item_id"],)).fetchone()[0]
        doubled = conn.execute(
            'SELECT count(*) FROM (SELECT user_id, request_key FROM shop_order WHERE request_key IS NOT NULL '
            "GROUP BY user_id, request_key HAVING count(*) > 1) d").fetchone()[0]
        stock = conn.execute("SELECT stock FROM shop_item WHERE id = %s", (data["item_id"],)).fetchone()[0]
        points = conn.execute("SELECT count(*) FROM patrol_track_point").fetchone()[0]
        attendances = conn.execute("SELECT count(*) FROM delib_attendance WHERE meeting_id = %s",
                                   (data["meeting_id"],)).fetchone()[0]
    return {"orders": orders, "orders_with_a_twin": doubled, "stock_taken": 1_000_000 - stock,
            "track_points": points, "attendances": attendances}


def _interrupted(*_):
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20, help="concurrent locust users in each phase")
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--ceiling-seconds", type=int, default=15)
    parser.add_argument("--mixed-seconds", type=int, default=45)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="civic-load-"))
    env = app_env()
    log(f"preparing {DB_NAME} (migrate, demo, {args.residents} residents); files in {workdir}")
    reset_database()
    flask(env, "db", "upgrade", "heads")
    # The demo data (its administrator's password is published) is refused under the production settings;
    # it is loaded with the development ones into the same database, which only this run uses.
    flask(dict(env, CIVIC_CONFIG="development"), "seed-demo")
    data_file = workdir / "data.json"
    data = seed(env, args.residents, data_file)
    locust_env = dict(env, CIVIC_LOAD_DATA=str(data_file))

    server, results = None, {}
    port = free_port()
    signal.signal(signal.SIGTERM, _interrupted)  # a killed run still stops its server (finally below)
    try:
        server = start_gunicorn(env, port, log_path=workdir / "gunicorn.log")
        log(f"gunicorn on 127.0.0.1:{port}; ceiling phase {args.ceiling_seconds} s")
        results["ceiling"] = run_locust(locust_env, port, args.users, args.ceiling_seconds, ["HealthUser"],
                                        workdir / "ceiling")
        log(f"mixed phase {args.mixed_seconds} s")
        results["mixed"] = run_locust(locust_env, port, args.users + 1, args.mixed_seconds,
                                      ["Resident", "CheckinScreen"], workdir / "mixed")
    finally:
        stop_gunicorn(server)

    verify = flask(env, "ledger", "verify", check=False)
    checks = check_orders(data)
    ceiling, mixed = results["ceiling"], results["mixed"]
    ratio = round(mixed["rps"] / ceiling["rps"], 3) if ceiling["rps"] else None
    gunicorn_workers = os.environ.get("GUNICORN_WORKERS", str(os.cpu_count() * 2))
    server_desc = f"gunicorn gthread {gunicorn_workers}x{os.environ.get('GUNICORN_THREADS', '4')}, 127.0.0.1"
    for phase in ("ceiling", "mixed"):
        r = results[phase]
        print(json.dumps({"bench": f"load_{phase}", "server": server_desc, "database": DB_NAME,
                          "users": args.users + (phase == "mixed"),
                          "seconds": args.ceiling_seconds if phase == "ceiling" else args.mixed_seconds, **r},
                         ensure_ascii=False))
    ok = (ceiling["errors"] == 0 and mixed["errors"] == 0 and verify.returncode == 0
          and ceiling["user_exceptions"] == 0 and mixed["user_exceptions"] == 0
          and checks["orders_with_a_twin"] == 0 and checks["orders"] == checks["stock_taken"])
    print(json.dumps({"bench": "load", "mixed_rps": mixed["rps"], "ceiling_rps": ceiling["rps"],
                      "mixed_to_ceiling": ratio, "errors": mixed["errors"] + ceiling["errors"],
                      "user_exceptions": mixed["user_exceptions"] + ceiling["user_exceptions"],
                      "ledger_verify": verify.stdout.strip() + verify.stderr.strip(), **checks, "ok": ok},
                     ensure_ascii=False), flush=True)
    lat = mixed["latency_ms"]
    verdict = verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()
    print(f"\nMixed workload: {mixed['rps']} requests/s, p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
          f"p99 {lat['p99']} ms, {mixed['errors']} errors ({mixed['requests']} requests).\n"
          f"Ceiling (/healthz): {ceiling['rps']} requests/s; mixed/ceiling = {ratio}.\n"
          f"ledger verify: {verdict}\n"
          f"Result: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
