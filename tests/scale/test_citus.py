"""The product on a real Citus cluster (issue 16): migrate, `citus distribute`, seed the demo, run the
money-moving flows through the services, `ledger verify`, and show where each resident's transaction ran.

Runs when CITUS_URL names a database on a Citus coordinator with worker nodes, e.g.
    CITUS_URL=postgresql+psycopg://postgres@127.0.0.1:5441/civic
(docs/scaling.md says how to get such a cluster on a development machine). The database is emptied
first. Without CITUS_URL the module is skipped with that reason; with it, a database that is not a
coordinator with workers fails the tests.
"""
import os
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from civic import create_app
from civic.config import TestingConfig
from civic.core.tenancy import DISTRIBUTED_BY, REFERENCE_TABLES
from civic.extensions import db

CITUS_URL = os.environ.get("CITUS_URL")

pytestmark = pytest.mark.skipif(
    not CITUS_URL,
    reason="tests/scale needs a Citus coordinator with workers: set CITUS_URL, e.g. "
           "postgresql+psycopg://postgres@127.0.0.1:5441/civic (docs/scaling.md, 'A cluster to test on')")

NOW = datetime(2026, 12, 7, 2, 0)  # a Monday, 10:00 in China


class CitusConfig(TestingConfig):
    SQLALCHEMY_DATABASE_URI = CITUS_URL
    WTF_CSRF_ENABLED = False


@pytest.fixture(scope="module")
def citus():
    """An app on the emptied coordinator database, migrated, distributed and seeded through the CLI."""
    from flask_migrate import upgrade

    app = create_app(CitusConfig)
    runner = app.test_cli_runner()
    with app.app_context():
        with db.engine.begin() as conn:
            workers = conn.execute(text("SELECT count(*) FROM citus_get_active_worker_nodes()")).scalar()
            assert workers >= 1, "CITUS_URL is a Citus database without worker nodes"
            # (DROP SCHEMA public is refused on a coordinator: drop what the migrations made)
            tables = conn.execute(text(
                "SELECT quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition")).scalars().all()
        for table in tables:  # one transaction each: a table's 32 shards take a lock apiece on every node
            with db.engine.begin() as conn:
                conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
        with db.engine.begin() as conn:  # the migrations' trigger functions (append-only, balanced at COMMIT)
            functions = conn.execute(text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = 'public' AND l.lanname = 'plpgsql'"
            )).scalars().all()
            for function in functions:
                conn.execute(text(f"DROP FUNCTION IF EXISTS {function} CASCADE"))
        upgrade(revision="heads")
        db.engine.dispose()
    outputs = {}
    for args in (["citus", "distribute"], ["citus", "distribute"], ["seed-demo"]):
        with app.app_context():
            result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output + repr(result.exception)
        outputs.setdefault(" ".join(args), []).append(result.output)
    app.extensions["citus_outputs"] = outputs
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_every_table_is_placed_and_community_tables_are_co_located(citus):
    outputs = citus.extensions["citus_outputs"]["citus distribute"]
    assert "placed by this run" in outputs[0] and "(0 table(s) placed by this run)" in outputs[1]  # idempotent
    with citus.app_context():
        rows = db.session.execute(text(
            "SELECT logicalrelid::regclass::text, partmethod, column_to_column_name(logicalrelid, partkey), "
            "colocationid FROM pg_dist_partition")).all()
        placed = {name.strip('"'): (method, column, group) for name, method, column, group in rows}
        missing = [t.name for t in db.metadata.sorted_tables if t.name not in placed]
        assert missing == []
        groups = {group for name, (method, column, group) in placed.items()
                  if name not in REFERENCE_TABLES and name not in DISTRIBUTED_BY}
        assert len(groups) == 1  # one co-location group: a community's rows of every table on one shard
        for name in REFERENCE_TABLES:
            assert placed[name][0] == "n"
        for name, column in DISTRIBUTED_BY.items():
            assert placed[name][:2] == ("h", column)
        # the monthly partitions of the GPS fixes are distributed with their table
        assert any(re.fullmatch(r"patrol_track_point_\d{6}", name) and placed[name][2] in groups for name in placed)


class ShardWatch:
    """Records the statements a flow sends, then asks Citus (EXPLAIN) which shards each one touches."""

    def __init__(self):
        self.statements = []
        self.delivered = []  # statements of the outbox's delivery after the commit (civic.core.outbox)
        self.multi_shard = []  # writes and row locks Citus sends to more than one shard
        self.fanout_reads = []  # reads sent to every shard (measured, docs/scaling.md)

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        from civic.core.outbox import DELIVERY

        if re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", statement, re.I):
            params = parameters[0] if isinstance(parameters, (list, tuple)) and parameters else parameters
            delivery = conn.get_execution_options().get(DELIVERY)
            (self.delivered if delivery else self.statements).append((statement, params))

    def shards(self):
        """{(table, shard index)} touched by the recorded statements, from Citus's plans."""
        touched = set()
        with db.engine.connect() as conn:
            info = {shardid: (table.strip('"'), low) for shardid, table, low in conn.execute(text(
                "SELECT shardid, logicalrelid::regclass::text, shardminvalue FROM pg_dist_shard")).all()}
            for statement, params in self.statements:
                plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, params).scalars())
                tasks = [int(n) for n in re.findall(r"Task Count: (\d+)", plan)]
                if any(n > 1 for n in tasks):
                    writes = re.match(r"\s*(INSERT|UPDATE|DELETE)\b", statement, re.I) or "FOR UPDATE" in statement
                    (self.multi_shard if writes else self.fanout_reads).append(" ".join(statement.split()))
                    continue
                for shardid in {int(n) for n in re.findall(r"\b[a-z_]+_(\d{6,})\b", plan)}:
                    if shardid in info:
                        touched.add(info[shardid])
                conn.rollback()
        return touched


def _community_shard_range(community_id):
    """The hash range (shardminvalue) of the community's shard in the co-location group."""
    return db.session.execute(text(
        "SELECT shardminvalue FROM pg_dist_shard "
        "WHERE shardid = get_shard_id_for_distribution_column('ledger_transaction', :c)"), {"c": community_id}).scalar()


def _flow_runs_on_one_shard(watch, community_id):
    """Every community-owned row the flow read or wrote is on the community's shard; the rest are the
    tables placed apart on purpose (notification by person, audit entry by id) and reference tables."""
    own = _community_shard_range(community_id)
    touched = watch.shards()
    community = {(table, low) for table, low in touched
                 if table not in REFERENCE_TABLES and table not in DISTRIBUTED_BY}
    assert community, "the flow touched no community-owned table"
    assert watch.multi_shard == []  # no write or row lock leaves the community's shard
    # notices and audit entries go through the outbox (on the community's shard), not in the resident's commit
    apart = [" ".join(s.split())[:120] for s, _ in watch.statements
             if re.match(r"\s*INSERT INTO (notification|audit_entry)\b", s, re.I)]
    assert apart == []
    for statement in watch.fanout_reads:  # reads that still go to every shard (docs/scaling.md)
        print("fan-out read:", re.sub(r"SELECT .*? FROM", "SELECT … FROM", statement)[:200])
    assert {low for _table, low in community} == {own}, sorted(community)
    return touched


@pytest.fixture
def demo(citus):
    from types import SimpleNamespace

    from civic.accounts.models import User
    from civic.communities.models import Community

    with citus.app_context():
        people = {u.phone: u for u in db.session.scalars(select(User))}
        yield SimpleNamespace(
            community=db.session.scalar(select(Community).where(Community.name == "芙蓉社区")),
            committee=people["13800000001"], second=people["13800000002"], coordinator=people["13800000003"],
            keeper=people["13800000004"], resident=people["13800000005"], neighbour=people["13800000006"],
            admin=people["13800000000"])
        db.session.remove()


def test_award_runs_on_the_communitys_shard(demo):
    from civic.ledger import service as ledger

    cid = demo.community.id
    with ShardWatch() as watch:
        ledger.award(cid, demo.resident.id, 7, idempotency_key="scale:award", memo="scale", now=NOW)
        db.session.commit()
    _flow_runs_on_one_shard(watch, cid)
    assert ledger.balance_of(cid, demo.resident.id) >= 7


def test_claim_notice_and_posting(demo):
    from civic.ledger import service as ledger
    from civic.merit import service as merit
    from civic.merit.models import MeritRule

    cid = demo.community.id
    rule = db.session.scalar(select(MeritRule).where(MeritRule.community_id == cid, MeritRule.name == "邻里互助"))
    before = ledger.balance_of(cid, demo.neighbour.id)
    with ShardWatch() as submit:
        claim = merit.submit_claim(demo.neighbour, cid, rule.id, description="scale: carried shopping upstairs",
                                   now=NOW)
        db.session.commit()
    with ShardWatch() as approve:
        merit.approve_claim(demo.committee, cid, claim.id, rule.points_min, now=NOW)
        db.session.commit()
    with ShardWatch() as post:
        posted = merit.close_notices(now=NOW + timedelta(days=30))
        db.session.commit()
    assert posted >= 1
    assert ledger.balance_of(cid, demo.neighbour.id) > before
    for watch in (submit, approve, post):
        _flow_runs_on_one_shard(watch, cid)
    # the notices were written to the outbox in the resident's transaction and moved to the inboxes after it
    written = [s for w in (submit, approve, post) for s, _ in w.statements if re.match(r"\s*INSERT INTO outbox", s)]
    moved = [s for w in (submit, approve, post) for s, _ in w.delivered
             if re.match(r"\s*INSERT INTO notification", s)]
    assert written and moved


def test_order_redeem_and_cancel(demo):
    from civic.ledger import service as ledger
    from civic.shop import service as shop
    from civic.shop.models import Item

    cid = demo.community.id
    ledger.award(cid, demo.resident.id, 500, idempotency_key="scale:shop-funds", now=NOW)
    db.session.commit()
    item = db.session.scalars(select(Item).where(Item.community_id == cid, Item.stock > 1)
                              .order_by(Item.price)).first()
    before = ledger.balance_of(cid, demo.resident.id)
    with ShardWatch() as order_watch:
        order = shop.place_order(demo.resident, cid, item.id, request_key="scale-order-1", now=NOW)
        db.session.commit()
    with ShardWatch() as redeem_watch:
        shop.redeem_voucher(demo.keeper, cid, order.shop_id, order.code, now=NOW)
        db.session.commit()
    with ShardWatch() as cancel_watch:
        second = shop.place_order(demo.resident, cid, item.id, request_key="scale-order-2", now=NOW)
        shop.cancel_order(demo.resident, cid, second.id, now=NOW)
        db.session.commit()
    assert ledger.balance_of(cid, demo.resident.id) == before - item.price
    for watch in (order_watch, redeem_watch, cancel_watch):
        _flow_runs_on_one_shard(watch, cid)


def test_check_in(demo):
    from civic.deliberation import service as deliberation
    from civic.deliberation.models import Attendance

    cid = demo.community.id
    meeting = deliberation.create_meeting(demo.committee, cid, title="scale council", kind="council",
                                          place="hall", starts_at=NOW + timedelta(minutes=10),
                                          ends_at=NOW + timedelta(hours=2), quorum_count=1, quorum_percent=0,
                                          majority="simple", now=NOW)
    db.session.commit()
    with ShardWatch() as watch:
        deliberation.check_in_by_name(demo.committee, cid, meeting.id, demo.resident.id, now=NOW)
        db.session.commit()
    assert db.session.scalar(select(Attendance).where(Attendance.community_id == cid,
                                                      Attendance.meeting_id == meeting.id))
    _flow_runs_on_one_shard(watch, cid)


def test_patrol_batch_and_approval(demo):
    from civic.ledger import service as ledger
    from civic.patrols import review as patrol_review
    from civic.patrols import tracking
    from tests.patrols.helpers import walk

    cid = demo.community.id
    start = NOW + timedelta(hours=1)
    before = ledger.balance_of(cid, demo.neighbour.id)
    with ShardWatch() as start_watch:
        patrol = tracking.start_patrol(demo.neighbour, cid, now=start)
        db.session.commit()
    points = walk((start - datetime(1970, 1, 1)).total_seconds() + 1, seconds=1800, dt=5.0)
    with ShardWatch() as batch_watch:
        added, _dupes, _dropped = tracking.add_points(demo.neighbour, cid, patrol.id, points[:200],
                                                      now=start + timedelta(minutes=20))
        db.session.commit()
    again, dupes, _ = tracking.add_points(demo.neighbour, cid, patrol.id, points[:200],
                                          now=start + timedelta(minutes=20))
    db.session.commit()
    assert added > 150 and again == 0 and dupes == added  # a resent batch adds nothing (key includes t)
    tracking.add_points(demo.neighbour, cid, patrol.id, points[200:], now=start + timedelta(minutes=31))
    tracking.end_patrol(demo.neighbour, cid, patrol.id, now=start + timedelta(minutes=31))
    db.session.commit()
    with ShardWatch() as review_watch:
        patrol_review.review_patrol(demo.coordinator, cid, patrol.id, approve=True, note="scale",
                                    now=start + timedelta(hours=1))
        db.session.commit()
    assert ledger.balance_of(cid, demo.neighbour.id) == before  # the award is on the public notice first
    from civic.merit import service as merit

    merit.close_notices(now=start + timedelta(days=31))  # the notice period over: it posts (as test_claim_…)
    db.session.commit()
    assert ledger.balance_of(cid, demo.neighbour.id) > before
    for watch in (start_watch, batch_watch, review_watch):
        _flow_runs_on_one_shard(watch, cid)


def test_ledger_stays_append_only_on_the_shards(demo):
    """The row-local triggers went to every shard: Citus refuses UPDATE and DELETE of postings there."""
    for statement in ("UPDATE ledger_posting SET amount = amount * 2",
                      "DELETE FROM ledger_posting WHERE community_id = :c",
                      "DELETE FROM ledger_transaction"):
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement), {"c": demo.community.id})
        db.session.rollback()


def test_a_photo_lives_on_its_communitys_shard_and_is_served(citus, demo):
    """A photo's bytes are in its upload row, on the community's shard: saving it is a one-shard write,
    and the web route serves it from there (any web node reads the same database)."""
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from civic.core.uploads import save_photo

    cid = demo.community.id
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 160)).save(out, "JPEG")
    with ShardWatch() as watch:
        name = save_photo(FileStorage(io.BytesIO(out.getvalue()), filename="p.jpg"), uploader=demo.resident,
                          community_id=cid, now=NOW)
        db.session.commit()
    _flow_runs_on_one_shard(watch, cid)
    client = citus.test_client()
    client.post("/login", data={"phone": demo.resident.phone, "password": "civic-demo-1"})
    served = client.get(f"/uploads/{name}")
    assert served.status_code == 200 and served.data[:2] == b"\xff\xd8"


def test_every_scheduled_job_runs_across_communities(citus, demo):
    """Every job of the worker (they select rows of all communities: voucher expiry, idle patrols, notice
    closing, GPS retention and month drops, upload cleanup …) succeeds on the distributed tables, twice
    (the second run finds its work done), at a time far enough ahead that every rule is due."""
    from civic.ledger import service as ledger
    from civic.operations.models import JobRun
    from civic.patrols import tracking as patrols
    from civic.patrols.models import Patrol
    from civic.shop import service as shop
    from civic.shop.models import Item, Order
    from civic.worker import JOBS, load_jobs, run_job
    from tests.patrols.helpers import walk

    cid = demo.community.id
    ledger.award(cid, demo.resident.id, 500, idempotency_key="scale:jobs-funds", now=NOW)
    db.session.commit()
    item = db.session.scalars(select(Item).where(Item.community_id == cid, Item.stock > 1)
                              .order_by(Item.price)).first()
    order = shop.place_order(demo.resident, cid, item.id, request_key="scale-jobs-order", now=NOW)
    start = NOW + timedelta(hours=3)
    patrol = patrols.start_patrol(demo.resident, cid, now=start)
    db.session.commit()
    patrols.add_points(demo.resident, cid, patrol.id,
                       walk((start - datetime(1970, 1, 1)).total_seconds() + 1, seconds=600, dt=5.0),
                       now=start + timedelta(minutes=10))
    db.session.commit()
    order_id, patrol_id = order.id, patrol.id
    db.session.remove()
    load_jobs()
    later = NOW + timedelta(days=400)  # vouchers expired, the patrol idle, its month past every retention
    results = {}
    for name in sorted(JOBS):
        results[name] = [run_job(citus, name, now=later), run_job(citus, name, now=later)]
    failed = {name for name, runs in results.items() if "failed" in runs}
    assert failed == set()  # every job locks due rows one community at a time (civic.core.db.lock_due)
    with citus.app_context():
        runs = db.session.scalars(select(JobRun)).all()
        assert {r.name for r in runs} >= set(JOBS)
        assert db.session.scalar(select(Order.status).where(Order.community_id == cid, Order.id == order_id)) \
            == "expired"
        assert db.session.scalar(select(Patrol.status).where(Patrol.community_id == cid,
                                                             Patrol.id == patrol_id)) != "active"
        month = f"patrol_track_point_{start:%Y%m}"
        assert db.session.execute(text("SELECT to_regclass(:m)"), {"m": month}).scalar() is None  # dropped whole
        db.session.remove()


def test_ledger_verify_is_clean(citus, demo):
    """Last: after every flow and every job, the ledger verifies."""
    result = citus.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "Ledger OK" in result.output
