"""Debts: a deduction is paid in full, now or later (issue 10, "deductions cannot be dodged").

A deduction larger than the balance deducts what there is and the rest becomes a `Debt` (same key as
the deduction). Every later credit of the resident's account pays open debts first, oldest first:

- a released hold (a cancelled or expired shop order) and an award call `collect_debts()` right after
  their posting, in the same database transaction and under the resident's account lock, so the points
  are never spendable in between;
- each payment is a "deduction" transaction (counts as merit, like the deduction it completes) with the
  key "debt:<debt id>:after:<credit transaction id>", so running the hook twice pays once;
- the database refuses `amount_outstanding < 0` or above the debt's amount (CHECK).

While a debt is open, new shop orders are refused and vouchers cannot be collected: the points held
for a pending order are the resident's only means to pay it, and cancelling the order pays the debt.

Deductions approved but not yet posted (on public notice, or under objection) reserve their points: a new
order may use only the balance above them (`require_free_to_spend`). The part that decides which
deductions are pending is registered by that part (`register_reservation`), so the ledger knows nothing
of merit claims. Why reserve: a deduction on notice has been approved by the committee; letting its
points be spent during the notice period is exactly the dodge of issue 10. An objection that is upheld
cancels the deduction and the reservation with it.

Locks are taken in one order everywhere: the resident's account, then their debts.
"""
from sqlalchemy import func, select

from civic.core.clock import resolve
from civic.core.errors import DomainError
from civic.core.i18n import N_
from civic.extensions import db
from civic.ledger.models import Account, Debt, Transaction

_reservations = []  # functions (community_id, user_id) -> points kept for deductions not yet posted


class DebtOpen(DomainError):
    status = 409
    reason = "debt_open"
    default_message = N_("You still owe points from a deduction. The shop is open to you again once it is paid.")


class PointsReserved(DomainError):
    status = 409
    reason = "points_reserved"
    default_message = N_("Some of your points are kept for a deduction on public notice.")


def register_reservation(func):
    """Register a function (community_id, user_id) -> points kept back for approved, unposted deductions."""
    if func not in _reservations:
        _reservations.append(func)
    return func


def reserved_points(community_id, user_id):
    """Points of the resident kept back for deductions approved but not yet posted."""
    return sum(func(community_id, user_id) or 0 for func in _reservations)


def owed(community_id, user_id):
    """What the resident still owes from deductions (0 when nothing is open)."""
    return db.session.scalar(select(func.coalesce(func.sum(Debt.amount_outstanding), 0)).where(
        Debt.community_id == community_id, Debt.user_id == user_id, Debt.amount_outstanding > 0)) or 0


def open_debts(community_id, user_id):
    """The resident's open debts, oldest first (for the passbook)."""
    return db.session.scalars(select(Debt).where(
        Debt.community_id == community_id, Debt.user_id == user_id, Debt.amount_outstanding > 0)
        .order_by(Debt.id)).all()


def standing(community_id, user_id):
    """What the passbook shows: points owed (and the open debts), points kept for deductions on notice."""
    debts = open_debts(community_id, user_id)
    return {"owed": sum(d.amount_outstanding for d in debts), "debts": debts,
            "reserved": reserved_points(community_id, user_id)}


def _locked_balance(account):
    return db.session.scalar(select(Account.balance).where(Account.community_id == account.community_id,
                                                           Account.id == account.id).with_for_update()
                             .execution_options(populate_existing=True)) or 0


def deduct_or_owe(community_id, user_id, amount, *, idempotency_key, category=None, memo="", source=None,
                  actor=None, now=None):
    """Deduct up to the balance; the rest becomes a debt under the same key. Returns (transaction or None,
    points deducted now, debt or None). Idempotent: a second call with the key returns what the first did."""
    from civic.ledger import service

    now = resolve(now)
    account = service.resident_account(community_id, user_id)
    balance = _locked_balance(account)
    txn = db.session.scalar(select(Transaction).where(
        Transaction.community_id == community_id, Transaction.idempotency_key == idempotency_key))
    debt = db.session.scalar(select(Debt).where(Debt.community_id == community_id, Debt.key == idempotency_key))
    if txn is not None or debt is not None:  # already done
        posted = amount - (debt.amount if debt is not None else 0)
        return txn, posted, debt
    posted = min(amount, max(balance, 0))
    if posted > 0:
        txn = service.deduct(community_id, user_id, posted, idempotency_key=idempotency_key, category=category,
                             memo=memo, source=source, actor=actor, now=now)
    if posted < amount:
        debt = Debt(community_id=community_id, user_id=user_id, key=idempotency_key, category=category,
                    memo=(memo or "")[:300], source=source, amount=amount - posted,
                    amount_outstanding=amount - posted, created_at=now)
        db.session.add(debt)
        db.session.flush()
    return txn, posted, debt


def collect_debts(community_id, user_id, credit, *, now=None):
    """Pay the resident's open debts from the credit just posted (an award or a released hold). Called by the
    ledger in the same transaction as the credit; returns the payment transactions (none when nothing is owed)."""
    from civic.ledger import service

    if credit is None:
        return []
    # Most credits find nothing owed: one indexed look, no locks. It cannot miss a debt being made: the
    # credit's posting holds the resident's account lock, which deduct_or_owe takes before making one.
    if not db.session.scalar(select(Debt.id).where(
            Debt.community_id == community_id, Debt.user_id == user_id, Debt.amount_outstanding > 0).limit(1)):
        return []
    account = service.resident_account(community_id, user_id)
    balance = _locked_balance(account)  # the account lock first, as everywhere, then the debts
    debts = db.session.scalars(select(Debt).where(
        Debt.community_id == community_id, Debt.user_id == user_id, Debt.amount_outstanding > 0)
        .order_by(Debt.id).with_for_update().execution_options(populate_existing=True)).all()
    now = resolve(now)
    payments = []
    for debt in debts:
        if balance <= 0:
            break
        key = f"debt:{debt.id}:after:{credit.id}"
        if db.session.scalar(select(Transaction.id).where(
                Transaction.community_id == community_id, Transaction.idempotency_key == key)):
            continue  # this credit already paid this debt
        take = min(debt.amount_outstanding, balance)
        payments.append(service.deduct(community_id, user_id, take, idempotency_key=key, category=debt.category,
                                       memo=debt.memo, source=debt.source, now=now))
        debt.amount_outstanding -= take
        if debt.amount_outstanding == 0:
            debt.settled_at = now
        balance -= take
    db.session.flush()
    return payments


def require_free_to_spend(community_id, user_id, balance, points):
    """Refuse a new order while a debt is open, or when it would use points kept for a pending deduction.
    The caller holds the resident's account lock."""
    debt = owed(community_id, user_id)
    if debt:
        raise DebtOpen(N_("You still owe %(owed)s points from a deduction. Orders are possible again once it "
                          "is paid (new points and cancelled orders pay it first)."), owed=debt)
    reserved = reserved_points(community_id, user_id)
    if reserved and balance - reserved < points:
        raise PointsReserved(N_("%(reserved)s of your %(balance)s points are kept for a deduction on public "
                                "notice, so %(free)s can be spent now and this order needs %(needed)s."),
                             reserved=reserved, balance=balance, free=max(balance - reserved, 0), needed=points)


def require_no_debt_to_collect(community_id, user_id):
    """Refuse handing over goods while the resident owes points (the held points would pay the debt)."""
    debt = owed(community_id, user_id)
    if debt:
        raise DebtOpen(N_("This resident owes %(owed)s points from a deduction, so the voucher cannot be used "
                          "now. If the order is cancelled, its points pay the debt first."), owed=debt)



def verify_debts():
    """Each debt's outstanding amount equals its amount less the payments recorded in the ledger."""
    from civic.ledger.models import Posting

    paid = {}
    for key, amount in db.session.execute(
        select(Transaction.idempotency_key, Posting.amount)
        .join(Posting, (Posting.transaction_id == Transaction.id) & (Posting.community_id == Transaction.community_id))
        .join(Account, (Account.id == Posting.account_id) & (Account.community_id == Posting.community_id))
        .where(Transaction.idempotency_key.like("debt:%:after:%"), Account.kind == "resident")
    ):
        debt_id = int(key.split(":")[1])
        paid[debt_id] = paid.get(debt_id, 0) - amount
    return [f"debt {d.id} (community {d.community_id}): {d.amount_outstanding} outstanding, "
            f"{d.amount - paid.get(d.id, 0)} by the ledger"
            for d in db.session.scalars(select(Debt).order_by(Debt.id))
            if d.amount_outstanding != d.amount - paid.get(d.id, 0)]
