"""Daily ledger digests (civic/ledger/digest.py, docs/ledger-digest.md): chained per community and local day,
written idempotently by the worker, published in the API and on the notice board, recomputable by anyone with
sha256sum, and checked by `ledger verify`, which names the first day that no longer matches."""
import hashlib
import json
import subprocess
from datetime import date, datetime

import pytest
from sqlalchemy import select, text

from civic.extensions import db
from civic.ledger import digest
from civic.ledger import service as ledger
from civic.ledger.models import Digest, Posting, Transaction
from civic.worker import JOBS, load_jobs
from tests.shop.test_shop_concurrency import _together

# Naive UTC, as stored. China is UTC+8: 17:00 UTC on 1 Nov is 01:00 on 2 Nov there.
NOV1_10H = datetime(2026, 11, 1, 2, 0)
NOV2_01H = datetime(2026, 11, 1, 17, 0)
NOV4_12H = datetime(2026, 11, 4, 4, 0)
LATER = datetime(2026, 11, 6, 4, 0)


def _history(world):
    """Awards and a shop hold in community A over 1, 2 and 4 November; one award in B."""
    a = world.a.id
    ledger.award(a, world.resident.id, 10, idempotency_key="d1", category="labour", memo="打扫楼道", now=NOV1_10H)
    ledger.award(a, world.resident2.id, 5, idempotency_key="d2", category="moral", memo="拾金不昧", now=NOV2_01H)
    ledger.hold(a, world.resident2.id, 3, idempotency_key="d3", memo="洗衣粉 × 1", source="order:1", now=NOV2_01H)
    ledger.award(a, world.resident.id, 2, idempotency_key="d4", category="labour", memo="义务植树", now=NOV4_12H)
    ledger.award(world.b.id, world.b_resident.id, 7, idempotency_key="b1", now=NOV1_10H)


def _published(app, world):
    with app.app_context():
        _history(world)
        written = digest.publish_digests(now=LATER)
        db.session.commit()
        return written


def test_digests_chain_every_local_day_and_are_written_once(app, world):
    """One digest per local day from the first transaction to yesterday (empty days too), each chained to the
    day before; a second run writes nothing."""
    assert _published(app, world) == 5 + 5  # A: 1..5 Nov; B: 1..5 Nov
    with app.app_context():
        rows = db.session.scalars(select(Digest).where(Digest.community_id == world.a.id).order_by(Digest.day)).all()
        assert [(r.day.day, r.tx_count) for r in rows] == [(1, 1), (2, 2), (3, 0), (4, 1), (5, 0)]
        assert rows[0].prev_digest == "0" * 64
        assert all(later.prev_digest == earlier.digest for earlier, later in zip(rows, rows[1:], strict=False))
        assert rows[2].digest == hashlib.sha256((rows[1].digest + "\n").encode()).hexdigest()  # an empty day
        assert digest.publish_digests(now=LATER) == 0
        assert digest.verify_digests() == []


def test_worker_job_is_registered():
    """The worker runs the digest job (idempotent, so hourly is harmless)."""
    load_jobs()
    assert "ledger_digests" in JOBS


def test_a_resident_recomputes_a_day_with_sha256sum_from_the_api(api_token, app, client, world):
    """From the API alone: each shown line hashes to its leaf, and `printf '%s\\n' PREV LEAVES… | sha256sum` gives
    the day's digest. A resident sees the lines of awards and their own, only the leaf of others' purchases."""
    _published(app, world)
    url = f"/api/v1/communities/{world.a.id}/ledger/digests"
    page = client.get(url, query_string={"limit": 2}, headers=api_token(world.resident)).json
    assert [d["day"] for d in page["digests"]] == ["2026-11-05", "2026-11-04"]
    assert page["next_before"] == "2026-11-04"
    older = client.get(url, query_string={"before": page["next_before"], "limit": 10},
                       headers=api_token(world.resident)).json
    assert [d["day"] for d in older["digests"]] == ["2026-11-03", "2026-11-02", "2026-11-01"]
    assert older["next_before"] is None

    day = client.get(f"{url}/2026-11-02", headers=api_token(world.resident)).json
    assert day["tx_count"] == 2 and day["prev_digest"] == older["digests"][2]["digest"]
    award, purchase = day["transactions"]
    assert purchase["line"] is None  # another resident's purchase: leaf only
    record = json.loads(award["line"])
    assert record["memo"] == "拾金不昧" and record["created_at"] == "2026-11-01T17:00:00.000000Z"
    assert hashlib.sha256(award["line"].encode()).hexdigest() == award["leaf"]
    leaves = [t["leaf"] for t in day["transactions"]]
    shell = subprocess.run(["sh", "-c", 'printf "%s\\n" "$@" | sha256sum', "sh", day["prev_digest"], *leaves],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.split()[0] == day["digest"]

    committee = client.get(f"{url}/2026-11-02", headers=api_token(world.committee)).json
    assert all(t["line"] for t in committee["transactions"])
    assert client.get(f"{url}/2026-11-02", headers=api_token(world.b_resident)).status_code in (403, 404)
    assert client.get(f"{url}/2026-13-40", headers=api_token(world.resident)).status_code == 400
    assert client.get(f"{url}/2026-10-01", headers=api_token(world.resident)).status_code == 404


def test_an_independent_recomputation_from_the_rows_matches(app, world):
    """The canonical format as docs/ledger-digest.md states it, written again here from the raw rows."""
    _published(app, world)
    with app.app_context():
        txns = db.session.scalars(select(Transaction).where(Transaction.community_id == world.a.id)
                                  .order_by(Transaction.id)).all()
        nov2 = [t for t in txns if t.idempotency_key in ("d2", "d3")]
        lines = []
        for t in nov2:
            postings = db.session.scalars(select(Posting).where(Posting.transaction_id == t.id).order_by(Posting.id))
            keys = {p.account_id: p for p in postings}
            from civic.ledger.models import Account
            legs = [[p.id, db.session.get(Account, p.account_id).key, p.amount, p.balance_after] for p in keys.values()]
            obj = {"category": t.category, "created_at": t.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "id": t.id,
                   "kind": t.kind, "memo": t.memo, "postings": legs, "reverses_id": t.reverses_id, "source": t.source}
            lines.append(json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
        row = db.session.scalar(
            select(Digest).where(Digest.community_id == world.a.id, Digest.day == date(2026, 11, 2)))
        payload = row.prev_digest + "\n" + "".join(hashlib.sha256(x.encode()).hexdigest() + "\n" for x in lines)
        assert hashlib.sha256(payload.encode()).hexdigest() == row.digest


def _verify(app, runner):
    with app.app_context():
        try:
            return runner.invoke(args=["ledger", "verify"])
        finally:
            db.session.remove()


def test_verify_names_the_first_day_that_no_longer_matches(app, runner, world, is_postgres):
    """A posting of 2 November edited behind the append-only trigger's back: `ledger verify` exits non-zero and
    names 2026-11-02 (the cached balances still agree, so only the digest can tell)."""
    _published(app, world)
    result = _verify(app, runner)
    assert result.exit_code == 0 and "Ledger OK" in result.output, result.output
    with app.app_context():
        posting_id = db.session.scalar(select(Posting.id).join(Transaction, Transaction.id == Posting.transaction_id)
                                       .where(Transaction.idempotency_key == "d2").order_by(Posting.id).limit(1))
        with db.engine.begin() as conn:
            if is_postgres:
                conn.execute(text("ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_append_only"))
                conn.execute(text("UPDATE ledger_posting SET balance_after = balance_after + 100 WHERE id = :id"),
                             {"id": posting_id})
                conn.execute(text("ALTER TABLE ledger_posting ENABLE TRIGGER ledger_posting_append_only"))
            else:
                conn.execute(text("DROP TRIGGER ledger_posting_append_only"))
                conn.execute(text("UPDATE ledger_posting SET balance_after = balance_after + 100 WHERE id = :id"),
                             {"id": posting_id})
                conn.execute(text("CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE ON ledger_posting "
                                  "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"))
    result = _verify(app, runner)
    assert result.exit_code == 1
    assert f"community {world.a.id}: digest of 2026-11-02 no longer matches" in result.output
    assert "2026-11-01" not in result.output and "2026-11-04" not in result.output


def test_notice_board_shows_the_latest_digests(app, client, auth, world):
    """The 积分公示 board has a section with the latest fingerprints and how to check them."""
    _published(app, world)
    auth.login(world.resident.phone)
    page = client.get(f"/c/{world.a.id}/merit/notice").get_data(as_text=True)
    assert 'data-testid="ledger-digests"' in page and 'data-day="2026-11-05"' in page and "sha256sum" in page
    assert f"/api/v1/communities/{world.a.id}/ledger/digests/2026-11-05" in page
    with app.app_context():
        latest = db.session.scalar(select(Digest.digest).where(Digest.community_id == world.a.id)
                                   .order_by(Digest.day.desc()).limit(1))
    assert latest in page


@pytest.mark.postgres
def test_two_workers_publishing_at_once_write_each_day_once(app, world):
    """Two worker processes' jobs run at the same moment (real threads, PostgreSQL): one row per day, chain intact."""
    with app.app_context():
        _history(world)
        db.session.commit()
    results = _together(app, 2, lambda _i: digest.publish_digests(now=LATER))
    assert all(reason == "ok" for reason, _ in results)
    with app.app_context():
        rows = db.session.scalars(select(Digest).where(Digest.community_id == world.a.id).order_by(Digest.day)).all()
        assert [r.day.day for r in rows] == [1, 2, 3, 4, 5]
        assert digest.verify_digests() == []
