"""Ledger debts (civic/ledger/debt.py): the unpaid part of a deduction is owed and paid first from later
credits, in the credit's own transaction, once."""
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from civic.extensions import db
from civic.ledger import debt as debts
from civic.ledger import gamification
from civic.ledger import service as ledger
from civic.ledger.models import Debt, Transaction
from tests import factories


@pytest.fixture
def town(app_ctx):
    community = factories.make_community("芙蓉社区")
    a = factories.make_member(community, name="刘阿姨")
    return community, a


def test_a_deduction_beyond_the_balance_is_owed_and_paid_from_later_awards(town):
    """5 points and a 15-point deduction: 5 now, 10 owed; a 4-point award pays 4, a 20-point award pays the rest."""
    community, a = town
    ledger.award(community.id, a.id, 5, idempotency_key="seed", category="labour")
    txn, posted, debt = debts.deduct_or_owe(community.id, a.id, 15, idempotency_key="claim:1:post",
                                            category="environment", memo="乱堆乱放", source="claim:1")
    assert (posted, debt.amount, debt.amount_outstanding, txn.kind) == (5, 10, 10, "deduction")
    assert ledger.balance_of(community.id, a.id) == 0 and debts.owed(community.id, a.id) == 10

    ledger.award(community.id, a.id, 4, idempotency_key="award-2", category="labour")
    assert ledger.balance_of(community.id, a.id) == 0 and debts.owed(community.id, a.id) == 6
    ledger.award(community.id, a.id, 20, idempotency_key="award-3", category="labour")
    assert ledger.balance_of(community.id, a.id) == 14 and debts.owed(community.id, a.id) == 0
    db.session.refresh(debt)
    assert debt.settled_at is not None
    # The payments count as merit deductions, like the deduction they complete: lifetime = 29 - 15.
    assert gamification.lifetime_merit(community.id, a.id) == 14
    payments = db.session.scalars(select(Transaction).where(Transaction.idempotency_key.like("debt:%"))).all()
    assert sorted(-p.postings[0].amount for p in payments) == [4, 6]
    assert all(p.kind == "deduction" and p.source == "claim:1" for p in payments)
    assert ledger.verify()["breaches"] == [] and debts.verify_debts() == []
    db.session.execute(update(Debt).where(Debt.id == debt.id).values(amount_outstanding=3))
    assert debts.verify_debts() == [f"debt {debt.id} (community {community.id}): 3 outstanding, 0 by the ledger"]


def test_replays_pay_once(town):
    """The same award replayed (a retried job) and the same deduction replayed collect and owe once."""
    community, a = town
    first = debts.deduct_or_owe(community.id, a.id, 10, idempotency_key="claim:2:post", memo="x")
    again = debts.deduct_or_owe(community.id, a.id, 10, idempotency_key="claim:2:post", memo="x")
    assert first[2].id == again[2].id and (first[1], again[1]) == (0, 0)
    assert db.session.scalar(select(db.func.count(Debt.id))) == 1
    award = ledger.award(community.id, a.id, 3, idempotency_key="award-1")
    assert ledger.award(community.id, a.id, 3, idempotency_key="award-1").id == award.id
    debts.collect_debts(community.id, a.id, award)  # the hook run a second time for the same credit
    assert debts.owed(community.id, a.id) == 7 and ledger.balance_of(community.id, a.id) == 0
    assert ledger.verify()["breaches"] == []


def test_released_holds_pay_the_debt_first(town):
    """Points back from a cancelled order go to the debt before they can be spent."""
    community, a = town
    ledger.award(community.id, a.id, 30, idempotency_key="seed")
    held = ledger.hold(community.id, a.id, 30, idempotency_key="order:1:hold")
    debts.deduct_or_owe(community.id, a.id, 15, idempotency_key="claim:3:post", memo="乱堆乱放")
    assert debts.owed(community.id, a.id) == 15
    ledger.release_hold(community.id, held, idempotency_key="order:1:release")
    assert ledger.balance_of(community.id, a.id) == 15 and debts.owed(community.id, a.id) == 0


def test_the_database_refuses_a_negative_or_excess_outstanding_amount(town):
    """CHECK 0 <= amount_outstanding <= amount, whatever the code does."""
    community, a = town
    _txn, _posted, debt = debts.deduct_or_owe(community.id, a.id, 10, idempotency_key="claim:4:post")
    db.session.commit()
    for value in (-1, 11):
        with pytest.raises(IntegrityError):
            db.session.execute(update(Debt).where(Debt.id == debt.id).values(amount_outstanding=value))
            db.session.flush()
        db.session.rollback()


def test_spending_is_refused_while_owed_or_beyond_points_kept_for_a_deduction(town):
    """require_free_to_spend: refused with an open debt; with a reservation only the points above it are free."""
    community, a = town
    kept = {"points": 0}
    reservation = debts.register_reservation(lambda community_id, user_id: kept["points"] if user_id == a.id else 0)
    try:
        debts.require_free_to_spend(community.id, a.id, 30, 30)
        kept["points"] = 15
        debts.require_free_to_spend(community.id, a.id, 30, 15)
        with pytest.raises(debts.PointsReserved):
            debts.require_free_to_spend(community.id, a.id, 30, 16)
        kept["points"] = 0
        debts.deduct_or_owe(community.id, a.id, 10, idempotency_key="claim:5:post")
        with pytest.raises(debts.DebtOpen):
            debts.require_free_to_spend(community.id, a.id, 30, 1)
    finally:
        debts._reservations.remove(reservation)
