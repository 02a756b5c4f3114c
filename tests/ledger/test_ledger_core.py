"""The ledger's guarantees: balanced, append-only, idempotent, never negative, within budget, verifiable."""
import threading
from datetime import datetime
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from civic.core.errors import Conflict, Invalid, NotFound
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Account, Budget, Posting, Tally, Transaction
from tests import factories


@pytest.fixture
def town(app_ctx):
    community = factories.make_community("芙蓉社区")
    a = factories.make_member(community, name="刘阿姨")
    b = factories.make_member(community, name="陈大爷")
    return community, a, b


def test_award_posts_a_balanced_transaction(town):
    """An award is two postings summing to zero; balances and running balances follow."""
    community, a, _ = town
    txn = ledger.award(community.id, a.id, 30, idempotency_key="k1", category="labour", memo="扫雪")
    postings = txn.postings
    assert sorted(p.amount for p in postings) == [-30, 30]
    assert ledger.balance_of(community.id, a.id) == 30
    assert ledger.issuance_account(community.id).balance == -30
    ledger.award(community.id, a.id, 12, idempotency_key="k2", category="moral")
    last = db.session.scalar(select(Posting).where(Posting.account_id == ledger.resident_account(community.id, a.id).id)
                             .order_by(Posting.id.desc()))
    assert last.balance_after == 42
    assert ledger.verify()["breaches"] == []


def test_same_key_same_content_returns_the_first_result(town):
    """Replaying a request key with the same content returns the first transaction, moving nothing again."""
    community, a, _ = town
    first = ledger.award(community.id, a.id, 10, idempotency_key="claim:1:post", category="moral")
    again = ledger.award(community.id, a.id, 10, idempotency_key="claim:1:post", category="moral")
    assert again.id == first.id
    assert ledger.balance_of(community.id, a.id) == 10


def test_same_key_different_content_is_refused(town):
    """A request key reused for a different movement is refused with 409."""
    community, a, _ = town
    ledger.award(community.id, a.id, 10, idempotency_key="k", category="moral")
    with pytest.raises(ledger.IdempotencyConflict) as error:
        ledger.award(community.id, a.id, 11, idempotency_key="k", category="moral")
    assert error.value.status == 409
    assert ledger.balance_of(community.id, a.id) == 10


def test_a_key_recorded_before_hashes_named_accounts_by_key_still_replays(town, monkeypatch):
    """Transactions recorded before 2026-12 hash their accounts by id: a retry of one after the upgrade replays
    it (and different content is still refused)."""
    community, a, _ = town
    by_key = ledger._content_hash
    monkeypatch.setattr(ledger, "_content_hash", partial(by_key, by_id=True))  # as the old code recorded it
    first = ledger.award(community.id, a.id, 10, idempotency_key="old:1", category="moral")
    db.session.commit()
    monkeypatch.setattr(ledger, "_content_hash", by_key)
    assert first.content_hash != ledger._Digest("award", [(ledger.issuance_account(community.id), -10),
                                                          (ledger.resident_account(community.id, a.id), 10)],
                                                "moral", "", None, None)
    assert ledger.award(community.id, a.id, 10, idempotency_key="old:1", category="moral").id == first.id
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.award(community.id, a.id, 12, idempotency_key="old:1", category="moral")
    assert ledger.balance_of(community.id, a.id) == 10


def test_a_resident_cannot_go_below_zero_and_a_refusal_leaves_no_trace(town):
    """Spending more than the balance is refused, and no transaction or posting remains."""
    community, a, _ = town
    ledger.award(community.id, a.id, 5, idempotency_key="a")
    count = db.session.scalar(select(db.func.count()).select_from(Transaction))
    with pytest.raises(ledger.InsufficientPoints):
        ledger.hold(community.id, a.id, 6, idempotency_key="order:1:hold")
    assert db.session.scalar(select(db.func.count()).select_from(Transaction)) == count
    assert ledger.balance_of(community.id, a.id) == 5
    db.session.commit()
    assert ledger.verify()["breaches"] == []


def test_the_database_refuses_a_negative_resident_balance(town):
    """Even a bug that bypasses the code cannot make a resident's balance negative (CHECK constraint)."""
    community, a, _ = town
    account = ledger.resident_account(community.id, a.id)
    db.session.flush()
    with pytest.raises(IntegrityError):
        db.session.execute(update(Account).where(Account.id == account.id).values(balance=-1))
    db.session.rollback()


def test_postings_and_transactions_are_append_only(town, is_postgres):
    """The database refuses edits to postings and transactions (and, on PostgreSQL, deletions)."""
    community, a, _ = town
    ledger.award(community.id, a.id, 5, idempotency_key="a")
    db.session.commit()
    statements = ["UPDATE ledger_posting SET amount = amount * 2", "UPDATE ledger_transaction SET memo = 'x'"]
    if is_postgres:
        statements += ["DELETE FROM ledger_posting", "DELETE FROM ledger_transaction WHERE id > 0"]
    for statement in statements:
        with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.scalar(text("SELECT count(*) FROM ledger_posting")) == 2
    assert db.session.scalar(text("SELECT count(*) FROM ledger_posting WHERE amount IN (5, -5)")) == 2


def test_postgresql_refuses_an_unbalanced_transaction_at_commit(town, is_postgres):
    """Postings written around the code must still sum to zero: PostgreSQL's deferred constraint trigger refuses
    the COMMIT of a transaction whose postings do not (or that has a single posting); a balanced one commits.
    (SQLite has no deferred triggers: there the code and `ledger verify` guard it.)"""
    if not is_postgres:
        pytest.skip("a deferred constraint trigger needs PostgreSQL")
    community, a, _ = town
    ledger.award(community.id, a.id, 5, idempotency_key="a")
    db.session.commit()
    account_id = ledger.resident_account(community.id, a.id).id
    issuance_id = ledger.issuance_account(community.id).id
    db.session.commit()

    def insert(key, legs):
        txn_id = db.session.execute(text(
            "INSERT INTO ledger_transaction (community_id, idempotency_key, content_hash, kind, counts_as_merit, memo, "
            "created_at) VALUES (:c, :k, 'raw', 'transfer', false, '', now()) RETURNING id"),
            {"c": community.id, "k": key}).scalar()
        for account, amount in legs:
            db.session.execute(text(
                "INSERT INTO ledger_posting (community_id, transaction_id, account_id, amount, balance_after, "
                "created_at) VALUES (:c, :t, :a, :m, 0, now())"), {"c": community.id, "t": txn_id, "a": account,
                                                                    "m": amount})

    for key, legs in (("one-sided", [(account_id, 7)]), ("unbalanced", [(account_id, 7), (issuance_id, -6)])):
        insert(key, legs)  # accepted statement by statement: the check waits for COMMIT
        with pytest.raises(IntegrityError, match="unbalanced"):
            db.session.commit()
        db.session.rollback()
    insert("balanced", [(account_id, 2), (issuance_id, -2)])
    db.session.commit()
    assert db.session.scalar(text("SELECT count(*) FROM ledger_transaction WHERE idempotency_key IN "
                                  "('one-sided', 'unbalanced', 'balanced')")) == 1


def test_hold_settle_and_release(town):
    """Held points leave the resident; settled ones reach the shop; released ones come back."""
    community, a, _ = town
    ledger.award(community.id, a.id, 100, idempotency_key="a")
    first = ledger.hold(community.id, a.id, 30, idempotency_key="o1:hold")
    second = ledger.hold(community.id, a.id, 20, idempotency_key="o2:hold")
    assert ledger.balance_of(community.id, a.id) == 50
    settled = ledger.settle_hold(community.id, first, 7, idempotency_key="o1:settle")
    ledger.release_hold(community.id, second, idempotency_key="o2:release")
    assert ledger.balance_of(community.id, a.id) == 70
    assert ledger.shop_account(community.id, 7).balance == 30
    assert ledger.hold_account(community.id).balance == 0
    assert settled.resolves_id == first.id
    assert ledger.settle_hold(community.id, first, 7, idempotency_key="o1:settle").id == settled.id  # a replay
    with pytest.raises(Conflict):  # a hold is resolved once: not settled again, nor released after
        ledger.settle_hold(community.id, first, 7, idempotency_key="o1:settle-again")
    with pytest.raises(Conflict):
        ledger.release_hold(community.id, first, idempotency_key="o1:release")


def test_a_settle_that_names_its_points_is_checked_against_the_hold(town):
    """The shop names the voucher's points when it settles: a hold of other points, an unknown hold or one
    closed by another key is refused and nothing moves; the right points settle, and a retry replays."""
    community, a, _ = town
    ledger.award(community.id, a.id, 30, idempotency_key="a")
    held = ledger.hold(community.id, a.id, 30, idempotency_key="h")
    ledger.shop_account(community.id, 7)
    with pytest.raises(Conflict) as wrong:
        ledger.settle_hold(community.id, held, 7, points=29, idempotency_key="s")
    assert wrong.value.params == {"held": 30, "named": 29}
    with pytest.raises(NotFound):
        ledger.settle_hold(community.id, held.id + 1000, 7, points=30, idempotency_key="s")
    assert ledger.shop_account(community.id, 7).balance == 0 and ledger.hold_account(community.id).balance == 30
    assert _existing_keys(community.id) == {"a", "h"}
    settled = ledger.settle_hold(community.id, held, 7, points=30, idempotency_key="s")
    assert ledger.settle_hold(community.id, held, 7, points=30, idempotency_key="s").id == settled.id
    with pytest.raises(Conflict) as again:
        ledger.settle_hold(community.id, held, 7, points=30, idempotency_key="s-again")
    assert again.value.reason == "hold_resolved"
    assert ledger.shop_account(community.id, 7).balance == 30 and ledger.hold_account(community.id).balance == 0
    assert ledger.verify()["breaches"] == []


def _existing_keys(community_id):
    return set(db.session.scalars(select(Transaction.idempotency_key).where(Transaction.community_id == community_id)))


def test_the_database_resolves_a_hold_once(town):
    """Whatever the code does, a second transaction naming the same hold is refused by the unique index."""
    community, a, _ = town
    ledger.award(community.id, a.id, 10, idempotency_key="a")
    held = ledger.hold(community.id, a.id, 10, idempotency_key="h")
    ledger.settle_hold(community.id, held, 7, idempotency_key="s")
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(text(
            "INSERT INTO ledger_transaction (community_id, idempotency_key, content_hash, kind, counts_as_merit, memo, "
            "resolves_id, created_at) VALUES (:c, 'again', 'raw', 'release', false, '', :h, :now)"),
            {"c": community.id, "h": held.id, "now": datetime(2026, 11, 1)})
    db.session.rollback()


@pytest.mark.postgres
def test_settle_and_release_of_one_hold_race_and_one_wins(app):
    """A shopkeeper settles and a cancel releases the same hold at the same moment: exactly one of them posts,
    the other is refused, and the points are counted once."""
    with app.app_context():
        community = factories.make_community()
        a = factories.make_member(community)
        ledger.award(community.id, a.id, 40, idempotency_key="seed")
        held = ledger.hold(community.id, a.id, 40, idempotency_key="h")
        ledger.shop_account(community.id, 3)
        db.session.commit()
        community_id, a_id, hold_id = community.id, a.id, held.id
    for round_ in range(3):
        results, errors = [], []
        threads = [_in_thread(app, lambda n=round_: ledger.settle_hold(community_id, hold_id, 3, points=40,
                                                                       idempotency_key=f"s{n}"), results, errors),
                   _in_thread(app, lambda n=round_: ledger.release_hold(community_id, hold_id, idempotency_key=f"r{n}"),
                              results, errors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if round_ == 0:
            assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], Conflict), (results, errors)
        else:  # already resolved: both refused
            assert results == [] and all(isinstance(e, Conflict) for e in errors), errors
    with app.app_context():
        assert ledger.shop_account(community_id, 3).balance + ledger.balance_of(community_id, a_id) == 40
        assert ledger.hold_account(community_id).balance == 0
        assert db.session.scalar(select(func.count()).select_from(Transaction).where(
            Transaction.resolves_id == hold_id)) == 1
        assert ledger.verify()["breaches"] == []


def test_reversal_restores_balances_tallies_and_budget_once(town):
    """A reversal mirrors the original, is linked to it, restores tallies and budget, and happens once."""
    community, a, _ = town
    original = ledger.award(community.id, a.id, 40, idempotency_key="a", category="moral")
    reversal = ledger.reverse(community.id, original.id, idempotency_key="a:reverse", memo="录错了")
    assert reversal.reverses_id == original.id
    assert ledger.balance_of(community.id, a.id) == 0
    all_time = db.session.scalar(
        select(Tally.points).where(Tally.user_id == a.id, Tally.period == "all", Tally.category == "*"))
    assert all_time == 0
    assert db.session.scalar(select(Budget.issued).where(Budget.community_id == community.id)) == 0
    with pytest.raises(Conflict):
        ledger.reverse(community.id, original.id, idempotency_key="a:reverse-2", memo="again")
    with pytest.raises(Conflict):
        ledger.reverse(community.id, reversal.id, idempotency_key="r:reverse", memo="no")
    assert ledger.verify()["breaches"] == []


def test_budget_cannot_be_exceeded(town):
    """Awards stop at the community's yearly budget; the database guards it too."""
    community, a, b = town
    now = datetime(2026, 6, 1, 4, 0)
    ledger.set_budget(community.id, 2026, 100)
    ledger.award(community.id, a.id, 60, idempotency_key="a", now=now)
    with pytest.raises(ledger.BudgetExceeded):
        ledger.award(community.id, b.id, 41, idempotency_key="b", now=now)
    ledger.award(community.id, b.id, 40, idempotency_key="c", now=now)
    with pytest.raises(Invalid):
        ledger.set_budget(community.id, 2026, 99)
    with pytest.raises(IntegrityError):
        db.session.execute(update(Budget).where(Budget.community_id == community.id).values(issued=101))
    db.session.rollback()


def test_tallies_follow_china_time_months(town):
    """Merit earned at 01:00 Beijing time on 1 December counts for December, not November."""
    community, a, _ = town
    ledger.award(community.id, a.id, 5, idempotency_key="late", category="moral", now=datetime(2026, 11, 30, 17, 0))
    periods = set(db.session.scalars(select(Tally.period).where(Tally.user_id == a.id)))
    assert periods == {"all", "y2026", "m2026-12"}


def test_spending_does_not_change_merit_tallies(town):
    """Holds and settlements move balances, not merit (levels never drop by spending)."""
    community, a, _ = town
    ledger.award(community.id, a.id, 50, idempotency_key="a", category="moral")
    held = ledger.hold(community.id, a.id, 50, idempotency_key="h")
    ledger.settle_hold(community.id, held, 1, idempotency_key="s")
    points = db.session.scalar(
        select(Tally.points).where(Tally.user_id == a.id, Tally.period == "all", Tally.category == "*"))
    assert points == 50


def test_invalid_transactions_are_refused(town):
    """Unbalanced, fractional, single-leg or cross-community transactions are refused."""
    community, a, b = town
    other = factories.make_community("曲水亭村")
    ra, rb = ledger.resident_account(community.id, a.id), ledger.resident_account(community.id, b.id)
    cases = [
        [(ra, 5), (rb, -4)],
        [(ra, 5)],
        [(ra, 1.5), (rb, -1.5)],
        [(ra, 0), (rb, 0)],
        [(ra, 5), (ledger.issuance_account(other.id), -5)],
    ]
    for legs in cases:
        with pytest.raises(Invalid):
            ledger.post_transaction(community.id, idempotency_key="x", kind="transfer", legs=legs)


def test_verify_detects_tampering(app, runner, town):
    """`ledger verify` is clean on a sound ledger and exits non-zero with a report after tampering."""
    community, a, _ = town
    ledger.award(community.id, a.id, 5, idempotency_key="a")
    db.session.commit()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "Ledger OK" in result.output
    db.session.execute(update(Account).where(Account.owner_id == a.id).values(balance=500))
    db.session.commit()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert "cached 500, postings 5" in result.output


OPERATIONS = st.lists(st.tuples(
    st.sampled_from(["award", "deduct", "hold", "settle", "release", "reverse", "replay"]),
    st.integers(min_value=0, max_value=2),     # which resident
    st.integers(min_value=1, max_value=60),    # amount
), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPERATIONS)
def test_any_sequence_of_operations_keeps_the_invariants(app, ops):
    """Whatever happens, balances match a simple model, nothing goes negative, and verify is clean."""
    with app.app_context():
        community = factories.make_community()
        people = [factories.make_member(community) for _ in range(3)]
        expected = {p.id: 0 for p in people}
        held = 0
        keys = []
        holds = []  # open holds, oldest first: (transaction, owner id, points)
        for step, (op, who, amount) in enumerate(ops):
            person = people[who]
            key = f"op{step}"
            try:
                if op == "award":
                    ledger.award(community.id, person.id, amount, idempotency_key=key, category="moral")
                    expected[person.id] += amount
                    keys.append((key, person.id, amount))
                elif op == "deduct":
                    ledger.deduct(community.id, person.id, amount, idempotency_key=key)
                    expected[person.id] -= amount
                elif op == "hold":
                    holds.append((ledger.hold(community.id, person.id, amount, idempotency_key=key), person.id,
                                  amount))
                    expected[person.id] -= amount
                    held += amount
                elif op == "settle" and holds:
                    txn, _owner, points = holds.pop(0)
                    ledger.settle_hold(community.id, txn, 1, idempotency_key=key)
                    held -= points
                elif op == "release" and holds:
                    txn, owner, points = holds.pop(0)
                    ledger.release_hold(community.id, txn, idempotency_key=key)
                    expected[owner] += points
                    held -= points
                elif op == "reverse" and keys:
                    original_key, owner, points = keys.pop()
                    txn = db.session.scalar(select(Transaction).where(Transaction.idempotency_key == original_key))
                    ledger.reverse(community.id, txn.id, idempotency_key=key, memo="fix")
                    expected[owner] -= points
                elif op == "replay" and keys:
                    original_key, owner, points = keys[-1]
                    ledger.award(community.id, owner, points, idempotency_key=original_key, category="moral")
            except ledger.InsufficientPoints:
                pass
            assert all(v >= 0 for v in expected.values()) and held >= 0
        for p in people:
            assert ledger.balance_of(community.id, p.id) == expected[p.id]
        assert ledger.hold_account(community.id).balance == held
        assert ledger.verify()["breaches"] == []
        db.session.rollback()


def _in_thread(app, fn, results, errors):
    def run():
        with app.app_context():
            try:
                results.append(fn())
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - collected and asserted on below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()
    return threading.Thread(target=run)


@pytest.mark.postgres
def test_twenty_threads_awarding_and_spending(app):
    """20 threads award and spend on the same accounts at once: exact balances, never negative, verify clean."""
    with app.app_context():
        community = factories.make_community()
        a, b = factories.make_member(community), factories.make_member(community)
        ledger.award(community.id, a.id, 100, idempotency_key="seed-a")
        db.session.commit()
        ids = community.id, a.id, b.id
    community_id, a_id, b_id = ids
    results, errors, threads = [], [], []
    for i in range(20):
        if i % 2 == 0:
            fn = partial(ledger.award, community_id, b_id, 7, idempotency_key=f"award-{i}")
        else:
            fn = partial(ledger.hold, community_id, a_id, 15, idempotency_key=f"hold-{i}")
        threads.append(_in_thread(app, fn, results, errors))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(e, ledger.InsufficientPoints) for e in errors), errors
    with app.app_context():
        holds = 10 - len(errors)
        assert holds == 6  # 100 points pay for six holds of 15
        assert ledger.balance_of(community_id, a_id) == 100 - 15 * holds
        assert ledger.balance_of(community_id, b_id) == 70
        assert ledger.verify()["breaches"] == []


@pytest.mark.postgres
def test_concurrent_replays_of_one_key_post_once(app):
    """Ten simultaneous retries of the same award post it exactly once, and all get the same transaction."""
    with app.app_context():
        community = factories.make_community()
        a = factories.make_member(community)
        db.session.commit()
        community_id, a_id = community.id, a.id
    results, errors = [], []
    threads = [_in_thread(app, lambda: ledger.award(community_id, a_id, 9, idempotency_key="retry").id, results, errors)
               for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    with app.app_context():
        assert ledger.balance_of(community_id, a_id) == 9
        assert ledger.verify()["breaches"] == []
