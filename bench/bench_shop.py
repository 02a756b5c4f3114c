"""Benchmark: points shop orders per second with 20 concurrent clients on PostgreSQL.

Each client is a thread calling civic.shop.service.place_order() in its own app context and
session, committing each order (as the web edge does), i.e. the service path with real row locks,
not HTTP. Runs against a dedicated database civic_bench_shop (created when missing, rebuilt by the
migrations each run). Prints JSON lines: one per scenario, then the ledger invariant check.

    .venv/bin/python bench/bench_shop.py [--clients 20] [--orders 50]
"""
import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

DB_NAME = "civic_bench_shop"
SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def ensure_database():
    """Create the benchmark database when it is missing."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def build_app(clients):
    from civic import create_app

    url = SERVER.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{DB_NAME}"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": clients + 2, "max_overflow": 5},
        "LEDGER_DEFAULT_YEARLY_BUDGET": 100_000_000,
    })
    return app


def reset_schema(app):
    """Drop everything and rebuild with the Alembic migrations (all heads)."""
    from flask_migrate import upgrade

    from civic.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(revision="heads")
        db.engine.dispose()


def seed(app, residents, stock, items):
    """A community, its committee and shopkeeper, a shop with goods, residents with points."""
    from civic.accounts.models import User
    from civic.communities.models import Community, District, MemberRole, Membership, Street
    from civic.extensions import db
    from civic.ledger import service as ledger
    from civic.shop import service

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

        def member(phone, name, roles=()):
            user = User(phone=phone, display_name=name)
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(community_id=community.id, user_id=user.id, status="active"))
            db.session.flush()
            for role in roles:
                db.session.add(MemberRole(community_id=community.id, user_id=user.id, role=role))
            return user

        committee = member("19900000000", "主任", ["committee"])
        keeper = member("19900000001", "店长", ["shopkeeper"])
        db.session.flush()
        shop = service.create_shop(committee, community.id, "基准超市")
        service.assign_keeper(committee, community.id, shop.id, keeper.id)
        item_ids = [service.add_item(keeper, community.id, shop.id, name=f"商品{i}", price=1 + i, stock=stock,
                                     low_stock_at=0).id for i in range(items)]
        user_ids = []
        for n in range(residents):
            user = member(f"1980000{n:04d}", f"居民{n}")
            ledger.award(community.id, user.id, 100_000, idempotency_key=f"bench:{user.id}", actor=committee)
            user_ids.append(user.id)
        ledger.hold_account(community.id)
        db.session.commit()
        return community.id, item_ids, user_ids


def run(app, community_id, item_ids, user_ids, clients, orders_per_client, label):
    """`clients` threads, each placing `orders_per_client` orders for its own residents."""
    from civic.accounts.models import User
    from civic.core.errors import DomainError
    from civic.extensions import db
    from civic.shop import service

    latencies, outcomes, errors = [], {}, []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(index):
        mine = user_ids[index::clients]
        with app.app_context():
            barrier.wait()
            for n in range(orders_per_client):
                user = db.session.get(User, mine[n % len(mine)])
                item_id = item_ids[(index + n) % len(item_ids)]
                started = time.perf_counter()
                try:
                    service.place_order(user, community_id, item_id, 1, request_key=f"bench-{label}-{index}-{n}")
                    db.session.commit()
                    outcome = "ok"
                except DomainError as error:
                    db.session.rollback()
                    outcome = error.reason
                except Exception as error:  # noqa: BLE001 - counted and reported, the run goes on
                    db.session.rollback()
                    outcome = "error"
                    with lock:
                        errors.append(repr(error)[:200])
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
            db.session.remove()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    ok = outcomes.get("ok", 0)
    return {
        "bench": "shop_orders", "scenario": label, "mode": "threads calling civic.shop.service.place_order",
        "database": "postgresql", "clients": clients, "attempted": len(latencies), "ok": ok,
        "outcomes": outcomes, "seconds": round(wall, 3), "orders_per_second": round(ok / wall, 1),
        "latency_ms_p50": round(latencies[len(latencies) // 2] * 1000, 1),
        "latency_ms_p95": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "unexpected_errors": errors[:5],
    }


def check(app, community_id, stock, item_ids):
    """The ledger's invariants, plus: stock taken equals units ordered, holds equal open orders' points."""
    from civic.extensions import db
    from civic.ledger import service as ledger
    from civic.ledger.models import Account
    from civic.shop.models import Item, Order

    with app.app_context():
        result = ledger.verify()
        taken = stock * len(item_ids) - db.session.scalar(select(func.sum(Item.stock)).where(Item.id.in_(item_ids)))
        ordered = db.session.scalar(select(func.coalesce(func.sum(Order.quantity), 0)).where(Order.status == "held"))
        held = db.session.scalar(
            select(Account.balance).where(Account.community_id == community_id, Account.key == "hold"))
        held_orders = db.session.scalar(select(func.coalesce(func.sum(Order.points), 0)).where(Order.status == "held"))
        negative = db.session.scalar(select(func.count()).select_from(Account).where(
            Account.kind.in_(("resident", "hold", "shop")), Account.balance < 0))
        return {
            "bench": "shop_invariants", "ledger_verify_breaches": len(result["breaches"]),
            "breaches": result["breaches"][:5], "checked": result["checked"],
            "stock_taken": taken, "units_in_open_orders": ordered, "stock_matches": taken == ordered,
            "hold_balance": held, "points_in_open_orders": held_orders, "holds_match": held == held_orders,
            "negative_accounts": negative,
            "clean": not result["breaches"] and taken == ordered and held == held_orders and negative == 0,
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--orders", type=int, default=50, help="orders per client per scenario")
    parser.add_argument("--residents", type=int, default=200)
    args = parser.parse_args(argv)
    os.environ.setdefault("CIVIC_CONFIG", "development")
    ensure_database()
    app = build_app(args.clients)
    reset_schema(app)
    stock = args.clients * args.orders * 2
    community_id, item_ids, user_ids = seed(app, args.residents, stock, 10)
    # Spread over 10 goods (the usual day), then every client on the same goods (a hot item).
    print(json.dumps(run(app, community_id, item_ids, user_ids, args.clients, args.orders, "10_items"),
                     ensure_ascii=False), flush=True)
    print(json.dumps(run(app, community_id, item_ids[:1], user_ids, args.clients, args.orders, "one_hot_item"),
                     ensure_ascii=False), flush=True)
    result = check(app, community_id, stock, item_ids)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if result["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
