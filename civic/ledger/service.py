"""The merit bank's rules. Every change of points goes through post_transaction().

Guarantees, each enforced in code and guarded by the database:
- a transaction has two or more non-zero whole-point postings summing to zero;
- nothing is edited: corrections are reversal transactions linked to the original
  (one reversal at most, by a unique constraint);
- cached balances change in the same database transaction as the postings, under
  row locks taken in account-id order; residents, holds and shops never go below
  zero (CHECK constraint);
- an idempotency key is unique per community: the same key with the same content
  returns the first transaction, with different content it is refused;
- awards count against the community's yearly budget (CHECK issued <= amount);
- merit tallies for leaderboards and levels change with the postings.
"""
import hashlib
import json

from flask import current_app
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from civic.core.clock import LOCAL_TZ, local, local_year, resolve  # noqa: F401 - re-exported
from civic.core.errors import Conflict, DomainError, Invalid, NotFound
from civic.core.i18n import N_
from civic.extensions import db
from civic.ledger.models import Account, Budget, Posting, Tally, Transaction

MERIT_KINDS = ("award", "deduction")


class InsufficientPoints(DomainError):
    status = 409
    reason = "insufficient_points"
    default_message = N_("Not enough points.")


class BudgetExceeded(DomainError):
    status = 409
    reason = "budget_exceeded"
    default_message = N_("This award would exceed the community's points budget for the year.")


class IdempotencyConflict(DomainError):
    status = 409
    reason = "idempotency_conflict"
    default_message = N_("This request key was already used for a different operation.")


# --- categories ---------------------------------------------------------------------------------

# The five categories of seed 004, then those other parts award under.
DEFAULT_CATEGORIES = [
    ("moral", N_("Moral conduct")),            # 道德品行
    ("poverty", N_("Poverty relief")),         # 脱贫攻坚
    ("filial", N_("Filial piety and harmony")),  # 孝善和睦
    ("labour", N_("Public-welfare labour")),   # 公益劳动
    ("environment", N_("Living environment")),  # 人居环境
    ("patrol", N_("Volunteer patrols")),
    ("report", N_("Problem reports")),
    ("meeting", N_("Deliberation meetings")),
]


def ensure_categories(community_id):
    """Create the default categories of a community when missing; returns all of them in order."""
    from civic.ledger.models import Category

    have = set(db.session.scalars(select(Category.code).where(Category.community_id == community_id)))
    for sort, (code, name) in enumerate(DEFAULT_CATEGORIES):
        if code not in have:
            db.session.add(Category(community_id=community_id, code=code, name=name, sort=sort))
    db.session.flush()
    return categories_of(community_id)


def categories_of(community_id):
    """A community's categories in order (read only: the defaults were saved when it was created)."""
    from civic.ledger.models import Category

    return db.session.scalars(
        select(Category).where(Category.community_id == community_id).order_by(Category.sort, Category.id)).all()


def category_names(community_id):
    """{code: name in the current language} for a community's categories."""
    from flask_babel import gettext

    return {c.code: gettext(c.name) for c in categories_of(community_id)}


# --- accounts -----------------------------------------------------------------------------------

def _account(community_id, key, kind, owner_id=None):
    account = db.session.scalar(select(Account).where(Account.community_id == community_id, Account.key == key))
    if account is not None:
        return account
    try:
        with db.session.begin_nested():
            account = Account(community_id=community_id, key=key, kind=kind, owner_id=owner_id, balance=0)
            db.session.add(account)
    except IntegrityError:  # created concurrently: use that one
        account = db.session.scalar(select(Account).where(Account.community_id == community_id, Account.key == key))
    return account


def resident_account(community_id, user_id):
    """The resident's account in the community (created on first use)."""
    return _account(community_id, f"resident:{user_id}", "resident", user_id)


def issuance_account(community_id):
    """Where the community's points come from (its balance is minus what it has issued)."""
    return _account(community_id, "issuance", "issuance")


def hold_account(community_id):
    """Points held for pending shop orders."""
    return _account(community_id, "hold", "hold")


def shop_account(community_id, shop_id):
    """A shop's account: points residents spent there."""
    return _account(community_id, f"shop:{shop_id}", "shop")


def balance_of(community_id, user_id):
    """A resident's spendable balance (0 before their first posting)."""
    return db.session.scalar(
        select(Account.balance).where(Account.community_id == community_id, Account.key == f"resident:{user_id}")
    ) or 0


# --- posting ------------------------------------------------------------------------------------

def _content_hash(kind, legs, category, memo, source):
    payload = {
        "kind": kind, "legs": sorted([account.id, amount] for account, amount in legs),
        "category": category, "memo": memo, "source": source,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _periods(now):
    here = local(now)
    return ("all", f"y{here.year}", f"m{here.year}-{here.month:02d}")


def post_transaction(community_id, *, idempotency_key, kind, legs, memo="", category=None, source=None,
                     actor=None, reverses=None, counts_as_merit=None, now=None):
    """Record a balanced transaction and update balances, budget and tallies. Returns the Transaction.

    `legs` is a list of (Account, amount) with whole, non-zero amounts summing to zero.
    """
    now = resolve(now)
    if not idempotency_key or len(idempotency_key) > 120:
        raise Invalid(N_("A request key of 1 to 120 characters is required."))
    if len(legs) < 2:
        raise Invalid(N_("A transaction needs at least two postings."))
    for account, amount in legs:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
            raise Invalid(N_("Points must be whole, non-zero numbers."))
        if account.community_id != community_id:
            raise Invalid(N_("All accounts must belong to the same community."))
    if sum(amount for _account_, amount in legs) != 0:
        raise Invalid(N_("Postings must sum to zero."))
    memo = (memo or "")[:300]
    digest = _content_hash(kind, legs, category, memo, source)
    if counts_as_merit is None:
        counts_as_merit = kind in MERIT_KINDS

    if reverses is not None:
        # Rare: a second reversal is refused by a unique constraint, so this one keeps a savepoint to
        # leave the caller's transaction usable after that refusal (checked first, so that the refusal is
        # "already reversed" rather than whatever balance check the mirror image would fail).
        reverses_id = getattr(reverses, "id", reverses)
        done = db.session.scalar(select(Transaction).where(Transaction.community_id == community_id,
                                                           Transaction.reverses_id == reverses_id))
        if done is not None:
            if done.idempotency_key == idempotency_key:
                return _replay(done, digest)
            raise Conflict(N_("This transaction has already been reversed."))
        try:
            with db.session.begin_nested():
                return _apply(community_id, idempotency_key, digest, kind, legs, memo, category, source, actor,
                              reverses, counts_as_merit, now)
        except IntegrityError:
            existing = _existing(community_id, idempotency_key)
            if existing is not None:  # a concurrent twin committed first
                return _replay(existing, digest)
            raise Conflict(N_("This transaction has already been reversed.")) from None
    return _apply(community_id, idempotency_key, digest, kind, legs, memo, category, source, actor, reverses,
                  counts_as_merit, now)


def _existing(community_id, idempotency_key):
    return db.session.scalar(select(Transaction).where(
        Transaction.community_id == community_id, Transaction.idempotency_key == idempotency_key))


def _insert(table):
    """INSERT for this database's dialect (both support ON CONFLICT … RETURNING)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _apply(community_id, idempotency_key, digest, kind, legs, memo, category, source, actor, reverses,
           counts_as_merit, now):
    """The write path in set-based statements: lock and check, claim the key, post, move the totals.

    Every check runs before anything is written, so a refusal leaves no trace even if the caller
    carries on (no savepoint needed); a replayed key is recognised before a refusal is raised.
    """
    db.session.flush()  # the caller's pending changes go first (Core statements do not autoflush)
    totals = {}
    for account, amount in legs:
        totals[account.id] = totals.get(account.id, 0) + amount
    balances = _lock_accounts(community_id, totals)
    charges_budget = kind == "award" or (reverses is not None and _original_kind(reverses) == "award")
    issued = sum(amount for account, amount in legs if account.kind == "resident") if charges_budget else 0
    try:
        _check_balances(balances, totals)
        budget_id = _check_budget(community_id, issued, now) if charges_budget else None
    except (InsufficientPoints, BudgetExceeded):
        existing = _existing(community_id, idempotency_key)
        if existing is not None:
            return _replay(existing, digest)
        raise
    txn = _claim_key(community_id, idempotency_key, digest, kind, category, counts_as_merit, memo, source,
                     getattr(actor, "id", actor), getattr(reverses, "id", reverses), now)
    if txn is None:  # the key was used before (or by a concurrent twin that committed first)
        return _replay(_existing(community_id, idempotency_key), digest)
    _post(community_id, txn.id, legs, balances, totals, now)
    if budget_id is not None and issued:
        db.session.execute(update(Budget.__table__).where(Budget.__table__.c.community_id == community_id,
                                                          Budget.__table__.c.id == budget_id)
                           .values(issued=Budget.__table__.c.issued + issued))
        _expire_loaded(Budget, lambda b: b.id == budget_id)
    if counts_as_merit:
        _update_tallies(community_id, legs, category, now)
        _after_tallies(community_id, legs, now)
    return txn


def _lock_accounts(community_id, totals):
    """Lock the accounts in id order (no deadlocks) and read their kinds and balances: one statement (on the
    community's shard: every statement names the community)."""
    table = Account.__table__
    rows = db.session.execute(select(table.c.id, table.c.kind, table.c.balance)
                              .where(table.c.community_id == community_id, table.c.id.in_(sorted(totals)))
                              .order_by(table.c.id).with_for_update()).all()
    return {row.id: (row.kind, row.balance) for row in rows}


def _check_balances(balances, totals):
    for account_id in sorted(totals):
        kind, balance = balances[account_id]
        if kind in ("resident", "hold", "shop") and balance + totals[account_id] < 0:
            raise InsufficientPoints(N_("Not enough points: %(balance)s available, %(needed)s needed."),
                                     balance=balance, needed=-totals[account_id])


def _check_budget(community_id, issued, now):
    """Lock the year's budget and refuse an award beyond it (the CHECK guards it too); returns its id."""
    year = local_year(now)
    table = Budget.__table__
    query = select(table.c.id, table.c.amount, table.c.issued).where(
        table.c.community_id == community_id, table.c.year == year).with_for_update()
    row = db.session.execute(query).first()
    if row is None:
        budget_for(community_id, year)
        row = db.session.execute(query).first()
    if issued > 0 and row.issued + issued > row.amount:
        raise BudgetExceeded(N_("This award would exceed the community's points budget for %(year)s "
                                "(%(left)s points left)."), year=year, left=row.amount - row.issued)
    return row.id


def _claim_key(community_id, idempotency_key, digest, kind, category, counts_as_merit, memo, source, actor_id,
               reverses_id, now):
    """Claim the idempotency key with one INSERT … ON CONFLICT DO NOTHING RETURNING; None when it is taken.

    A concurrent twin waits on the unique index until the first commits, then finds the key taken."""
    values = dict(community_id=community_id, idempotency_key=idempotency_key, content_hash=digest, kind=kind,
                  category=category, counts_as_merit=counts_as_merit, memo=memo, source=source, actor_id=actor_id,
                  reverses_id=reverses_id, created_at=now)
    txn_id = db.session.execute(
        _insert(Transaction.__table__).values(**values)
        .on_conflict_do_nothing(index_elements=["community_id", "idempotency_key"])
        .returning(Transaction.__table__.c.id)).scalar()
    if txn_id is None:
        return None
    # The row as an ORM object without reading it back (its postings load lazily if asked for).
    txn = Transaction(id=txn_id, **values)
    make_transient_to_detached(txn)
    db.session.add(txn)
    return txn


def _post(community_id, txn_id, legs, balances, totals, now):
    """Insert the postings (running balances) and move the cached balances: two statements."""
    running = {account_id: balance for account_id, (_kind, balance) in balances.items()}
    rows = []
    for account, amount in legs:
        running[account.id] += amount
        rows.append({"community_id": community_id, "transaction_id": txn_id, "account_id": account.id,
                     "amount": amount, "balance_after": running[account.id], "created_at": now})
    db.session.execute(Posting.__table__.insert(), rows)
    table = Account.__table__
    moved = {account_id: delta for account_id, delta in totals.items() if delta}
    if moved:
        db.session.execute(update(table).where(table.c.community_id == community_id,
                                               table.c.id.in_(sorted(moved))).values(
            balance=table.c.balance + case(moved, value=table.c.id, else_=0)))
    _expire_loaded(Account, lambda a: a.id in totals)


def _expire_loaded(model, matches):
    """Objects of `model` already in the session are stale after a Core update: reload them when next read."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, model) and matches(obj):
            db.session.expire(obj)


def _after_tallies(community_id, legs, now):
    """Hook after tallies change: award the badges they reached (civic.ledger.gamification; idempotent)."""
    from civic.ledger.gamification import check_badges

    for user_id in sorted({account.owner_id for account, _amount in legs if account.kind == "resident"}):
        check_badges(community_id, user_id, now=now)


def _original_kind(reverses):
    if isinstance(reverses, Transaction):
        return reverses.kind
    return db.session.scalar(select(Transaction.kind).where(Transaction.id == reverses))  # reversals are rare


def _replay(existing, digest):
    if existing.content_hash != digest:
        raise IdempotencyConflict()
    return existing


def budget_for(community_id, year, *, lock=False):
    """The community's budget for a year, created with the default amount when first needed."""
    query = select(Budget).where(Budget.community_id == community_id, Budget.year == year)
    budget = db.session.scalar(query.with_for_update() if lock else query)
    if budget is None:
        try:
            with db.session.begin_nested():
                budget = Budget(community_id=community_id, year=year,
                                amount=current_app.config.get("LEDGER_DEFAULT_YEARLY_BUDGET", 1_000_000), issued=0)
                db.session.add(budget)
        except IntegrityError:
            budget = db.session.scalar(query.with_for_update() if lock else query)
    return budget


def _this_year():
    return local_year(resolve(None))


def _write_budget(community_id, amount):
    set_budget(community_id, _this_year(), amount)


def set_budget(community_id, year, amount):
    """Set a year's issuance budget (not below what has already been issued)."""
    budget = budget_for(community_id, year, lock=True)
    if amount < budget.issued:
        raise Invalid(N_("The budget cannot be less than the %(issued)s points already issued."), issued=budget.issued)
    budget.amount = amount
    db.session.flush()
    return budget


def _update_tallies(community_id, legs, category, now):
    """Add each resident's merit delta to their tallies in one upsert (one round trip, row-locked by the database)."""
    by_user = {}
    for account, amount in legs:
        if account.kind == "resident":
            by_user[account.owner_id] = by_user.get(account.owner_id, 0) + amount
    categories = ("*", category) if category else ("*",)
    rows = [
        {"community_id": community_id, "user_id": user_id, "period": period, "category": cat, "points": delta,
         "reached_at": now}
        for user_id, delta in sorted(by_user.items()) if delta != 0
        for period in _periods(now) for cat in categories
    ]
    if not rows:
        return
    statement = _insert(Tally).values(rows)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["community_id", "user_id", "period", "category"],
        set_={"points": Tally.points + statement.excluded.points, "reached_at": statement.excluded.reached_at},
    ))
    _expire_loaded(Tally, lambda t: t.community_id == community_id and t.user_id in by_user)


# --- the operations other parts call ------------------------------------------------------------

def award(community_id, user_id, amount, *, idempotency_key, category=None, memo="", source=None, actor=None, now=None):
    """Give a resident merit points from the community's issuance (counts against the budget)."""
    if amount <= 0:
        raise Invalid(N_("An award must be a positive number of points."))
    txn = post_transaction(
        community_id, idempotency_key=idempotency_key, kind="award", category=category, memo=memo, source=source,
        actor=actor, now=now,
        legs=[(issuance_account(community_id), -amount), (resident_account(community_id, user_id), amount)],
    )
    _after_credit(community_id, user_id, txn, now)
    return txn


def deduct(community_id, user_id, amount, *, idempotency_key, category=None, memo="", source=None, actor=None,
           now=None):
    """Take points back for conduct on the negative list (负面清单); refused beyond the balance."""
    if amount <= 0:
        raise Invalid(N_("A deduction must be a positive number of points."))
    return post_transaction(
        community_id, idempotency_key=idempotency_key, kind="deduction", category=category, memo=memo, source=source,
        actor=actor, now=now,
        legs=[(resident_account(community_id, user_id), -amount), (issuance_account(community_id), amount)],
    )


def hold(community_id, user_id, amount, *, idempotency_key, memo="", source=None, actor=None, now=None):
    """Move points from a resident to the hold account (a pending purchase)."""
    return post_transaction(
        community_id, idempotency_key=idempotency_key, kind="hold", memo=memo, source=source, actor=actor, now=now,
        legs=[(resident_account(community_id, user_id), -amount), (hold_account(community_id), amount)],
    )


def settle_hold(community_id, shop_id, amount, *, idempotency_key, memo="", source=None, actor=None, now=None):
    """A held purchase is collected: the points go to the shop."""
    return post_transaction(
        community_id, idempotency_key=idempotency_key, kind="settle", memo=memo, source=source, actor=actor, now=now,
        legs=[(hold_account(community_id), -amount), (shop_account(community_id, shop_id), amount)],
    )


def release_hold(community_id, user_id, amount, *, idempotency_key, memo="", source=None, actor=None, now=None):
    """A held purchase is cancelled or expired: the points go back to the resident."""
    txn = post_transaction(
        community_id, idempotency_key=idempotency_key, kind="release", memo=memo, source=source, actor=actor, now=now,
        legs=[(hold_account(community_id), -amount), (resident_account(community_id, user_id), amount)],
    )
    _after_credit(community_id, user_id, txn, now)
    return txn


def _after_credit(community_id, user_id, txn, now):
    """Hook after points reach a resident: open debts are paid first, in this transaction (civic.ledger.debt)."""
    from civic.ledger.debt import collect_debts

    collect_debts(community_id, user_id, txn, now=now)


def reverse(community_id, transaction_id, *, idempotency_key, memo, actor=None, now=None):
    """Correct a transaction with its mirror image, linked to it. A transaction is reversed at most once."""
    original = db.session.scalar(select(Transaction).where(
        Transaction.community_id == community_id, Transaction.id == transaction_id))
    if original is None:
        raise NotFound(N_("No such transaction."))
    if original.reverses_id is not None:
        raise Conflict(N_("A reversal cannot itself be reversed; record a new transaction instead."))
    accounts = {a.id: a for a in db.session.scalars(
        select(Account).where(Account.community_id == community_id,
                              Account.id.in_([p.account_id for p in original.postings])))}
    legs = [(accounts[p.account_id], -p.amount) for p in original.postings]
    return post_transaction(
        community_id, idempotency_key=idempotency_key, kind="reversal", category=original.category, memo=memo,
        source=original.source, actor=actor, reverses=original, counts_as_merit=original.counts_as_merit,
        legs=legs, now=now,
    )


# --- verification -------------------------------------------------------------------------------

def verify():
    """Check every invariant against the postings. Returns {"checked": {...}, "breaches": [...]}."""
    breaches = []
    checked = {
        "transactions": db.session.scalar(select(func.count()).select_from(Transaction)),
        "postings": db.session.scalar(select(func.count()).select_from(Posting)),
        "accounts": db.session.scalar(select(func.count()).select_from(Account)),
        "tallies": db.session.scalar(select(func.count()).select_from(Tally)),
    }
    for txn_id, total, count in db.session.execute(
        select(Transaction.id, func.coalesce(func.sum(Posting.amount), 0), func.count(Posting.id))
        .outerjoin(Posting,
                   (Posting.transaction_id == Transaction.id) & (Posting.community_id == Transaction.community_id))
        .group_by(Transaction.id)
        .having((func.coalesce(func.sum(Posting.amount), 0) != 0) | (func.count(Posting.id) < 2))
    ):
        breaches.append(f"transaction {txn_id}: {count} postings summing to {total}")
    sums = dict(db.session.execute(
        select(Posting.account_id, func.sum(Posting.amount)).group_by(Posting.account_id)).all())
    for account in db.session.scalars(select(Account)):
        expected = sums.get(account.id, 0)
        if account.balance != expected:
            breaches.append(f"account {account.id} ({account.key}): cached {account.balance}, postings {expected}")
        if account.kind in ("resident", "hold", "shop") and account.balance < 0:
            breaches.append(f"account {account.id} ({account.key}) is negative: {account.balance}")
    for community_id, community_total in db.session.execute(
        select(Posting.community_id, func.sum(Posting.amount)).group_by(Posting.community_id)
    ):
        if community_total != 0:
            breaches.append(f"community {community_id}: postings sum to {community_total}")
    breaches.extend(_verify_tallies())
    return {"checked": checked, "breaches": breaches}


def _verify_tallies():
    """The all-time tallies equal the merit postings on each resident's account."""
    rows = db.session.execute(
        select(Account.community_id, Account.owner_id, func.sum(Posting.amount))
        .join(Posting, (Posting.account_id == Account.id) & (Posting.community_id == Account.community_id))
        .join(Transaction,
              (Transaction.id == Posting.transaction_id) & (Transaction.community_id == Posting.community_id))
        .where(Account.kind == "resident", Transaction.counts_as_merit.is_(True))
        .group_by(Account.community_id, Account.owner_id)
    ).all()
    expected = {(c, u): total for c, u, total in rows}
    actual = {(t.community_id, t.user_id): t.points for t in db.session.scalars(
        select(Tally).where(Tally.period == "all", Tally.category == "*"))}
    problems = []
    for key in set(expected) | set(actual):
        if expected.get(key, 0) != actual.get(key, 0):
            problems.append(f"tally community {key[0]} user {key[1]}: {actual.get(key, 0)}, "
                            f"postings {expected.get(key, 0)}")
    return problems


def _seed_badges(community_id):
    from civic.ledger.gamification import ensure_badges

    ensure_badges(community_id)


def _register():
    from civic.communities.service import register_seeder
    from civic.rules.service import register_point_setting

    register_seeder(ensure_categories)
    register_seeder(_seed_badges)
    register_point_setting("ledger", "yearly_budget", N_("Yearly points budget"),
                           read=lambda community_id: budget_for(community_id, _this_year()).amount,
                           write=_write_budget, maximum=100_000_000)


_register()
