"""Benchmark: the street office's command view (街道综治中心) at 10 and at 500 communities, on PostgreSQL.

A district with a street of 10 communities and a street of 500, each community with residents, households in a
grid, visits, problem reports (some fixed, some escalated and overdue), approved patrols and point balances.
For each street it prints one JSON line: statements issued by the page's reads (civic.grid.command.command_view, the
weekly trend and the map of open problems) and their time in ms
(median of 5 runs, after one warm-up). The statement count must be the same for both.

Runs against a dedicated PostgreSQL database civic_bench_command (created when missing, rebuilt by the migrations
each run).   .venv/bin/python bench/bench_command_view.py [--large 500] [--small 10]
"""
import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from _database import build_app, emit, ensure_database, reset_schema  # noqa: E402 - bench/ is on the path
from sqlalchemy import event, insert, text

DB_NAME = "civic_bench_command"
RESIDENTS, HOUSEHOLDS, REPORTS, VISITS, PATROLS = 20, 20, 12, 15, 4


def seed(now, sizes):
    """Streets of the given sizes with everything the command view counts; bulk inserts. Returns the street ids."""
    from civic.accounts.models import User
    from civic.communities.models import (
        Community,
        District,
        Grid,
        Household,
        Membership,
        Street,
    )
    from civic.communities.service import seed_community
    from civic.extensions import db
    from civic.grid.models import Case, Visit
    from civic.ledger.models import Account
    from civic.patrols.models import Patrol, Report, ReportCategory, ReportEvent
    from civic.rules.models import AreaAdmin

    district = District(name="基准区")
    db.session.add(district)
    db.session.flush()
    admin = User(phone="13000000000", display_name="街道管理员")
    db.session.add(admin)
    db.session.flush()
    street_ids, phone = [], 13100000000
    for size in sizes:
        street = Street(district_id=district.id, name=f"基准街道{size}")
        db.session.add(street)
        db.session.flush()
        db.session.add(AreaAdmin(user_id=admin.id, street_id=street.id))
        street_ids.append(street.id)
        for n in range(size):
            c = Community(street_id=street.id, name=f"社区{n}")
            db.session.add(c)
            db.session.flush()
            grid = Grid(community_id=c.id, name="第一网格")
            db.session.add(grid)
            db.session.flush()
            seed_community(c.id)
            category_id = db.session.query(ReportCategory.id).filter_by(community_id=c.id).first()[0]
            users = []
            for _ in range(RESIDENTS):
                phone += 1
                users.append({"phone": str(phone), "display_name": "居民", "password_hash": "x"})
            user_ids = list(db.session.scalars(insert(User).returning(User.id), users))
            house_ids = list(db.session.scalars(insert(Household).returning(Household.id), [
                {"community_id": c.id, "grid_id": grid.id, "label": f"{h}号"} for h in range(HOUSEHOLDS)]))
            db.session.execute(insert(Membership), [
                {"community_id": c.id, "user_id": u, "status": "active", "household_id": house_ids[i % HOUSEHOLDS]}
                for i, u in enumerate(user_ids)])
            db.session.execute(insert(Account), [
                {"community_id": c.id, "key": f"resident:{u}", "kind": "resident", "owner_id": u,
                 "balance": 10 * (i % 7)}
                for i, u in enumerate(user_ids)])
            db.session.execute(insert(Visit), [
                {"community_id": c.id, "household_id": house_ids[v % HOUSEHOLDS], "grid_id": grid.id,
                 "worker_id": user_ids[0], "visited_at": now - timedelta(days=v % 40), "met": "", "notes": "",
                 "follow_up": False, "minutes": 15, "created_at": now} for v in range(VISITS)])
            db.session.execute(insert(Patrol), [
                {"community_id": c.id, "user_id": user_ids[p], "status": "approved",
                 "started_at": now - timedelta(days=p), "distance_m": 2500.0, "moving_seconds": 3600.0,
                 "summary": {}} for p in range(PATROLS)])
            report_ids = list(db.session.scalars(insert(Report).returning(Report.id), [
                {"community_id": c.id, "reporter_id": user_ids[r % RESIDENTS], "category_id": category_id,
                 "description": "问题", "status": ("resolved", "assigned", "submitted")[r % 3],
                 "lat": 36.66 + n / 10000, "lon": 117.02 + r / 10000,
                 "created_at": now - timedelta(days=r), "updated_at": now} for r in range(REPORTS)]))
            db.session.execute(insert(ReportEvent), [
                {"community_id": c.id, "report_id": rid, "at": now - timedelta(days=r, hours=-(r + 1)),
                 "action": "resolved", "note": ""} for r, rid in enumerate(report_ids) if r % 3 == 0])
            db.session.execute(insert(Case), [
                {"community_id": c.id, "report_id": rid, "street_id": street.id, "level": "street",
                 "escalated_at": now - timedelta(days=r), "deadline_at": now - timedelta(days=1),
                 "overdue": True, "closed": False} for r, rid in enumerate(report_ids) if r % 3 == 1])
        db.session.commit()
    return admin.id, street_ids


def page_reads(admin, street_id, now):
    """What the command view page reads: the communities side by side, the weekly trend and the problem map."""
    from civic.grid import command

    rows = command.command_view(admin, street_id=street_id, now=now)
    command.weekly_trend([r["id"] for r in rows], now)
    command.open_problems_on_map({r["id"]: r["name"] for r in rows})
    return rows


def measure(admin_id, street_id, now):
    """Statements and median ms of the command view page's reads for one street."""
    from civic.accounts.models import User
    from civic.extensions import db

    admin = db.session.get(User, admin_id)
    page_reads(admin, street_id, now)  # warm-up
    statements = []

    def count(*args):
        statements.append(1)

    times = []
    for run in range(5):
        if run == 0:
            event.listen(db.engine, "before_cursor_execute", count)
        start = time.perf_counter()
        rows = page_reads(admin, street_id, now)
        times.append((time.perf_counter() - start) * 1000)
        if run == 0:
            event.remove(db.engine, "before_cursor_execute", count)
        db.session.rollback()
    return len(rows), len(statements), round(statistics.median(times), 1)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=500)
    args = parser.parse_args(argv)
    try:
        ensure_database(DB_NAME)
    except psycopg.OperationalError as exc:
        emit("command_view", None, "ms", error=f"PostgreSQL not reachable: {exc}")
        return 1
    app = build_app(DB_NAME, LOG_JSON=False)
    reset_schema(app)
    now = datetime(2026, 6, 1, 2, 0)
    with app.app_context():
        from civic.extensions import db

        admin_id, street_ids = seed(now, [args.small, args.large])
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        results = [measure(admin_id, street_id, now) for street_id in street_ids]
    for communities, statements, ms in results:
        emit("command_view", ms, "ms", communities=communities, statements=statements)
    if results[0][1] != results[1][1]:
        emit("command_view_statements_grow", None, "statements", error="statement count grows with communities")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
