"""Ledger benchmark (`make bench`): one JSON object per line on stdout.

(a) awards per second through civic.ledger.service.award, each in its own database transaction
    with a commit, against raw DBAPI calls (psycopg / sqlite3) on the same database doing the same
    logical work: insert the transaction and two postings, update two balances, one transaction.
    Interleaved in rounds in one run (target ratio >= 0.5); holds and settles likewise.
(b) balance read and first passbook page of a resident at 10 thousand and at 1 million postings;
    the ratio of the two medians shows whether the cost grows with the ledger (target <= 1.5).
(c) leaderboard top 50 over 100 thousand residents at the same two sizes (target <= 1.5).

The big ledgers are built in bulk with INSERT ... SELECT over generate_series (PostgreSQL) or a
recursive series (SQLite), in a dedicated database: PostgreSQL `civic_bench` (created when
missing; BENCH_PG_URL overrides) and /tmp/civic-bench.db. The schema is made by the migrations, so the
throughput figures include what production runs (the append-only and balanced-at-COMMIT triggers); the
read benchmarks then replace the ledger in bulk, which only this throwaway database may do (its ledger
triggers are switched off first).
Set BENCH_DBS=postgresql or sqlite to run one; BENCH_BIG=200000 to shrink the large size.
"""
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/civic_bench")
SQLITE_URL = "sqlite:////tmp/civic-bench.db"
SMALL, BIG = 10_000, int(os.environ.get("BENCH_BIG", "1000000"))
RESIDENTS = 100_000
AWARDS = {"postgresql": 600, "sqlite": 600}
CATEGORIES = ("moral", "poverty", "filial", "labour", "environment")


def emit(**fields):
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def prepare_database(kind):
    """An empty dedicated database; returns its URL."""
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists("/tmp/civic-bench.db" + suffix):
                os.remove("/tmp/civic-bench.db" + suffix)
        return SQLITE_URL
    admin_url = PG_URL.rsplit("/", 1)[0] + "/postgres"
    name = PG_URL.rsplit("/", 1)[1]
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return PG_URL


def make_app(url):
    from civic import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING", "LOG_JSON": False,
                       "LEDGER_DEFAULT_YEARLY_BUDGET": 2_000_000_000})


def timings_ms(func, runs):
    """(median, 10th percentile) in ms. The ratio uses the 10th percentile: on a machine shared with
    other work, the median of a sub-millisecond read mostly measures the neighbours' load."""
    for _ in range(5):  # warm caches and statement preparation
        func()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[len(times) // 10]


def buffers(db, sql, params):
    """PostgreSQL pages touched by a query (EXPLAIN ANALYZE BUFFERS): the work, independent of load."""
    plan = db.session.execute(text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql), params).scalar()
    plan = plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


CORE_SQL = {
    "balance": "SELECT balance FROM ledger_account WHERE community_id = :c AND key = :k",
    "passbook_first_page": (
        "SELECT p.id, p.amount, p.balance_after, t.kind, t.category, t.memo FROM ledger_posting p "
        "JOIN ledger_transaction t ON t.community_id = p.community_id AND t.id = p.transaction_id "
        "WHERE p.community_id = :c AND p.account_id = (SELECT id FROM ledger_account WHERE community_id = :c "
        "AND key = :k) ORDER BY p.id DESC LIMIT 21"),
    "leaderboard_top50": (
        "SELECT t.user_id, t.points, u.display_name FROM ledger_tally t JOIN \"user\" u ON u.id = t.user_id "
        "WHERE t.community_id = :c AND t.period = 'all' AND t.category = '*' AND t.points > 0 "
        "ORDER BY t.points DESC, t.reached_at, t.user_id LIMIT 50"),
}


def setup_people(db, kind):
    """A district, street, community; an administrator; RESIDENTS users; returns
    (community_id, admin, first_user_id)."""
    from civic.accounts.models import User
    from civic.communities.models import Community, District, Street

    district = District(name="基准区")
    db.session.add(district)
    db.session.flush()
    street = Street(district_id=district.id, name="基准街道")
    db.session.add(street)
    db.session.flush()
    community = Community(street_id=street.id, name="基准社区", kind="community")
    db.session.add(community)
    admin = User(phone="10000000000", display_name="管理员", is_admin=True)
    db.session.add(admin)
    db.session.commit()
    base = db.session.scalar(text('SELECT COALESCE(MAX(id), 0) FROM "user"'))
    db.session.execute(text(
        series_sql(kind, RESIDENTS) +
        'INSERT INTO "user" (id, phone, display_name, is_admin, is_managed, elder_mode, auth_version, active, '
        "created_at) SELECT :base + g, CAST(13000000000 + g AS VARCHAR(20)), 'R' || g, false, false, false, 1, "
        "true, :now FROM series"), {"base": base, "now": datetime(2026, 1, 1)})
    # The residents of the passbook reads are members (the passbook checks membership).
    db.session.execute(text(
        "INSERT INTO membership (community_id, user_id, status, address, note, requested_at) "
        "VALUES (:c, :u, 'active', '', '', :now)"), {"c": community.id, "u": base + 1, "now": datetime(2026, 1, 1)})
    if kind == "postgresql":
        db.session.execute(
            text("SELECT setval(pg_get_serial_sequence('\"user\"', 'id'), (SELECT MAX(id) FROM \"user\"))"))
    db.session.commit()
    return community.id, admin, base


def series_sql(kind, n):
    """A CTE named `series` with column g = 1..n, as a prefix for INSERT ... SELECT."""
    if kind == "postgresql":
        return f"WITH series AS (SELECT generate_series(1, {int(n)}) AS g) "
    return f"WITH RECURSIVE series(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM series WHERE g < {int(n)}) "


def _ledger_triggers_off(db, kind):
    """In this throwaway database only: the ledger's triggers off, so that it can be replaced in bulk."""
    if kind == "postgresql":
        for table in ("ledger_posting", "ledger_transaction"):
            db.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        for name in db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all():
            db.session.execute(text(f'DROP TRIGGER "{name}"'))
    db.session.commit()


def build_ledger(db, kind, community_id, user_base, postings):
    """Replace the ledger with `postings` postings (half as many awards) spread over RESIDENTS residents.

    Resident 1 (the one whose passbook is read) receives every 100th award: 1% of the ledger.
    Balances, running balances, budget and tallies are consistent, as the service would leave them.
    """
    awards = postings // 2
    _ledger_triggers_off(db, kind)
    for table in ("ledger_badge_award", "ledger_badge", "ledger_tally", "ledger_posting", "ledger_transaction",
                  "ledger_account", "ledger_budget"):
        db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()
    if kind == "postgresql":
        ts = "TIMESTAMP '2026-01-01 00:00:00' + g * INTERVAL '30 seconds'"
        true = "true"
    else:
        ts = "datetime('2026-01-01 00:00:00', '+' || (g * 30) || ' seconds')"
        true = "1"
    idx = f"CASE WHEN g % 100 = 0 THEN 1 ELSE ((CAST(g AS BIGINT) * 7919) % {RESIDENTS}) + 1 END"
    amount = "(1 + (g % 20))"
    category = "CASE g % 5 " + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CATEGORIES)) + " END"
    awards_cte = (series_sql(kind, awards)[:-1] +
                  f", a AS (SELECT g, {idx} AS idx, {amount} AS amt, {category} AS cat, {ts} AS ts FROM series) ")
    params = {"c": community_id, "ub": user_base}
    t0 = time.perf_counter()
    db.session.execute(text(
        "INSERT INTO ledger_account (id, community_id, key, kind, owner_id, balance, created_at) "
        "VALUES (1, :c, 'issuance', 'issuance', NULL, 0, '2026-01-01 00:00:00')"), params)
    db.session.execute(text(
        awards_cte + ", totals AS (SELECT idx, SUM(amt) AS total FROM a GROUP BY idx) "
        "INSERT INTO ledger_account (id, community_id, key, kind, owner_id, balance, created_at) "
        "SELECT 1 + u.id - :ub, :c, 'resident:' || u.id, 'resident', u.id, COALESCE(totals.total, 0), "
        "'2026-01-01 00:00:00' FROM \"user\" u LEFT JOIN totals ON totals.idx = u.id - :ub "
        "WHERE u.id > :ub AND u.id <= :ub + " + str(RESIDENTS)), params)
    db.session.execute(text(
        "UPDATE ledger_account SET balance = -(SELECT COALESCE(SUM(balance), 0) FROM ledger_account "
        "WHERE kind = 'resident') WHERE id = 1"))
    db.session.execute(text(
        awards_cte +
        "INSERT INTO ledger_transaction (id, community_id, idempotency_key, content_hash, kind, category, "
        "counts_as_merit, memo, source, actor_id, reverses_id, created_at) "
        f"SELECT g, :c, 'bench:' || g, 'bench', 'award', cat, {true}, '', NULL, NULL, NULL, ts FROM a"), params)
    db.session.execute(text(
        awards_cte +
        "INSERT INTO ledger_posting (id, community_id, transaction_id, account_id, amount, balance_after, created_at) "
        "SELECT 2 * g - 1, :c, g, 1, -amt, -SUM(amt) OVER (ORDER BY g), ts FROM a"), params)
    db.session.execute(text(
        awards_cte +
        "INSERT INTO ledger_posting (id, community_id, transaction_id, account_id, amount, balance_after, created_at) "
        "SELECT 2 * g, :c, g, 1 + idx, amt, SUM(amt) OVER (PARTITION BY idx ORDER BY g), ts FROM a"), params)
    for period, cat_expr, group in (("all", "'*'", "idx"), ("all", "cat", "idx, cat"), ("y2026", "'*'", "idx")):
        db.session.execute(text(
            awards_cte +
            "INSERT INTO ledger_tally (community_id, user_id, period, category, points, reached_at) "
            f"SELECT :c, :ub + idx, '{period}', {cat_expr}, SUM(amt), MAX(ts) FROM a GROUP BY {group}"), params)
    db.session.execute(text(
        "INSERT INTO ledger_budget (community_id, year, amount, issued) "
        "SELECT :c, 2026, 2000000000, COALESCE(SUM(balance), 0) FROM ledger_account WHERE kind = 'resident'"), params)
    if kind == "postgresql":
        for table in ("ledger_account", "ledger_transaction", "ledger_posting"):
            db.session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"))
    db.session.commit()
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return time.perf_counter() - t0


def _raw_award(conn, kind, community_id, issuance_id, account_id, amount, key, now):
    """The same logical work as an award, in raw DBAPI calls: one database transaction that moves the two
    balances (reading the new ones), inserts the transaction row and its two postings, and commits."""
    ph = "%s" if kind == "postgresql" else "?"
    cur = conn.cursor()
    balances = {}
    for acc, delta in ((issuance_id, -amount), (account_id, amount)):
        cur.execute(f"UPDATE ledger_account SET balance = balance + {ph} WHERE id = {ph} RETURNING balance",
                    (delta, acc))
        balances[acc] = cur.fetchone()[0]
    cur.execute("INSERT INTO ledger_transaction (community_id, idempotency_key, content_hash, kind, category, "
                f"counts_as_merit, memo, actor_id, created_at) VALUES ({ph}, {ph}, 'raw', 'award', 'labour', "
                f"{'true' if kind == 'postgresql' else '1'}, '', NULL, {ph}) RETURNING id",
                (community_id, key, now))
    txn_id = cur.fetchone()[0]
    cur.executemany("INSERT INTO ledger_posting (community_id, transaction_id, account_id, amount, balance_after, "
                    f"created_at) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})",
                    [(community_id, txn_id, issuance_id, -amount, balances[issuance_id], now),
                     (community_id, txn_id, account_id, amount, balances[account_id], now)])
    conn.commit()


def bench_throughput(app, db, kind, community_id, user_base):
    """(a) awards per second through the service (each committed) against raw DBAPI calls doing the same
    logical work (a transaction row, two postings, two balances, one commit), interleaved in rounds in
    the same run so both see the same machine load; then holds and settles likewise."""
    from civic.ledger import service as ledger

    n, rounds = AWARDS[kind], 20
    users = [user_base + 1 + i for i in range(200)]
    for i in range(len(users)):  # warm up: every resident's account, tallies and first badge exist
        ledger.award(community_id, users[i], 1, idempotency_key=f"warm:{i}", category="labour")
        db.session.commit()
    issuance_id = ledger.issuance_account(community_id).id
    accounts = [ledger.resident_account(community_id, u).id for u in users]
    db.session.commit()
    if kind == "postgresql":  # statistics, as autovacuum keeps them on a live database (this one is minutes old)
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    raw = db.engine.raw_connection()
    now = datetime(2026, 6, 1)
    per_round = n // rounds
    done = rounds * per_round
    raw_done = [0]

    def raw_round(_r):
        for _ in range(per_round):
            i = raw_done[0] = raw_done[0] + 1
            _raw_award(raw, kind, community_id, issuance_id, accounts[i % len(accounts)], 1 + i % 5, f"raw:{i}", now)

    def interleaved(app_round):
        """(app seconds, raw seconds): app and raw rounds alternate, so both see the same machine load."""
        app_seconds = raw_seconds = 0.0
        for r in range(rounds):
            start = time.perf_counter()
            app_round(r)
            app_seconds += time.perf_counter() - start
            start = time.perf_counter()
            raw_round(r)
            raw_seconds += time.perf_counter() - start
        return app_seconds, raw_seconds

    def awards(r):
        for i in range(r * per_round, (r + 1) * per_round):
            ledger.award(community_id, users[i % len(users)], 1 + i % 5, idempotency_key=f"tp:{i}", category="labour")
            db.session.commit()

    holds = []

    def hold_round(r):
        for i in range(r * per_round, (r + 1) * per_round):
            holds.append(ledger.hold(community_id, users[i % len(users)], 1, idempotency_key=f"h:{i}").id)
            db.session.commit()

    def settle_round(r):
        for i in range(r * per_round, (r + 1) * per_round):
            ledger.settle_hold(community_id, holds[i], 1, points=1, idempotency_key=f"s:{i}")  # as the shop does
            db.session.commit()

    # Holds and settles (the shop's path) likewise, each against raw rounds of its own in the same run.
    for name, app_round, note in (
            ("award", awards, "interleaved rounds, each award its own committed transaction"),
            ("hold", hold_round, "same logical shape as an award (2 postings, 2 balances); interleaved rounds"),
            ("settle", settle_round, "same logical shape as an award (2 postings, 2 balances); interleaved rounds")):
        app_seconds, raw_seconds = interleaved(app_round)
        rate, raw_rate = done / app_seconds, done / raw_seconds
        ratio = rate / raw_rate
        emit(bench=f"ledger.{name}_throughput", db=kind, value=round(rate, 1), unit=f"{name}s/s",
             raw_same_work=round(raw_rate, 1), raw_unit="awards/s (raw DBAPI: txn row + 2 postings + 2 balances)",
             ratio=round(ratio, 3), target=">= 0.5", met=ratio >= 0.5, operations=done, rounds=rounds, note=note)
    raw.close()


def bench_reads(app, db, kind, community_id, admin, user_base):
    """(b) and (c): reads at SMALL and BIG postings."""
    from civic.ledger import gamification, passbook
    from civic.ledger import service as ledger

    heavy = user_base + 1
    results = {}
    for size in (SMALL, BIG):
        build_seconds = build_ledger(db, kind, community_id, user_base, size)
        db.session.expire_all()
        actor = db.session.get(type(admin), admin.id)
        checks = {
            "balance": lambda: ledger.balance_of(community_id, heavy),
            "passbook_first_page": lambda actor=actor: passbook.entries(actor, community_id, heavy, limit=20),
            "leaderboard_top50": lambda actor=actor: gamification.leaderboard(actor, community_id, "all", limit=50),
        }
        page = passbook.entries(actor, community_id, heavy, limit=20)
        board = gamification.leaderboard(actor, community_id, "all", limit=50)
        assert len(page["entries"]) == 20 and page["next_cursor"] and len(board) == 50
        residents_with_points = db.session.scalar(text(
            "SELECT COUNT(*) FROM ledger_tally WHERE period = 'all' AND category = '*'"))
        results[size] = {name: timings_ms(func, 300 if name != "leaderboard_top50" else 150)
                         for name, func in checks.items()}
        if kind == "postgresql":
            for name, sql in CORE_SQL.items():
                results[size][name + "_buffers"] = buffers(db, sql, {"c": community_id, "k": f"resident:{heavy}"})
        results[size]["_meta"] = {"build_seconds": round(build_seconds, 1),
                                  "residents_with_points": residents_with_points,
                                  "heavy_resident_postings": size // 200}
        db.session.rollback()
    for name in ("balance", "passbook_first_page", "leaderboard_top50"):
        (small_median, small), (big_median, big) = results[SMALL][name], results[BIG][name]
        ratio = big / small
        extra = {}
        if kind == "postgresql":
            extra = {"buffers_small": results[SMALL][name + "_buffers"], "buffers_big": results[BIG][name + "_buffers"]}
        emit(bench=f"ledger.{name}", db=kind, value=round(big, 3), unit="ms (p10)",
             small_postings=SMALL, small_ms=round(small, 3), big_postings=BIG, big_ms=round(big, 3),
             small_median_ms=round(small_median, 3), big_median_ms=round(big_median, 3), **extra,
             ratio=round(ratio, 2), target="<= 1.5", met=ratio <= 1.5, residents=RESIDENTS,
             build={str(k): v["_meta"] for k, v in results.items()},
             **({"note": f"reduced large size: {BIG} postings"} if BIG < 1_000_000 else {}))


def run(kind):
    url = prepare_database(kind)
    app = make_app(url)
    from flask_migrate import upgrade

    from civic.extensions import db

    with app.app_context():
        upgrade(revision="heads")  # the schema production runs, its triggers (append-only, balanced) included
        community_id, admin, user_base = setup_people(db, kind)
        bench_throughput(app, db, kind, community_id, user_base)
        bench_reads(app, db, kind, community_id, admin, user_base)
        db.session.remove()
        db.engine.dispose()


def main():
    kinds = os.environ.get("BENCH_DBS", "postgresql,sqlite").split(",")
    for kind in kinds:
        try:
            run(kind.strip())
        except Exception as error:  # noqa: BLE001 - report and carry on with the other database
            if kind.strip() == "postgresql" and "connect" in str(error).lower():
                emit(bench="ledger", db=kind, skipped=f"PostgreSQL not reachable: {error.__class__.__name__}")
                continue
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
