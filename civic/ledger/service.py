"""The merit bank's rules. Every change of points goes through post_transaction().

Guarantees, each enforced in code and guarded by the database:
- a transaction has two or more non-zero whole-point postings summing to zero (PostgreSQL refuses an
  unbalanced one at COMMIT: a deferred constraint trigger, migration 0022_ledger_balanced; SQLite has no
  deferred triggers, so there the code and `ledger verify` guard it);
- nothing is edited: corrections are reversal transactions linked to the original
  (one reversal at most, by a unique constraint);
- a hold is settled or released at most once: the settlement names it (resolves_id, unique per community);
- cached balances change in the same database transaction as the postings, under
  row locks taken in account-id order; residents, holds and shops never go below
  zero (CHECK constraint);
- an idempotency key is unique per community: the same key with the same content
  returns the first transaction, with different content it is refused;
- awards count against the community's yearly budget (CHECK issued <= amount);
- merit tallies for leaderboards and levels change with the postings.

Posting does only that. Who reacts to merit (badges, in civic.ledger.gamification) listens to
`merit_changed`, sent once the posting's database transaction has committed; a rollback sends nothing.
Other areas never touch the ledger's tables: they call the functions here (lock_spendable,
require_spendable, check_budget, balances_by_kind, issued_and_redeemed, hold_of …).
"""
import hashlib
import json
import secrets

from flask import current_app
from flask.signals import Namespace
from sqlalchemy import and_, bindparam, case, event, func, select, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from civic.core.clock import local_year, period_keys, resolve
from civic.core.errors import Conflict, DomainError, Invalid, NotFound
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
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


def get_category(community_id, category_id):
    """A category of the community, or NotFound."""
    from civic.ledger.models import Category

    return get_in_community(Category, community_id, category_id, missing=N_("No such category."))


def add_category(community_id, name):
    """A category of the community's own, after its defaults (the caller checks who may and cleans the name)."""
    from civic.ledger.models import Category

    existing = categories_of(community_id)
    category = Category(community_id=community_id, code=f"custom-{secrets.token_hex(4)}", name=name,
                        sort=max((c.sort for c in existing), default=0) + 1)
    db.session.add(category)
    db.session.flush()
    return category


def rename_category(category, name):
    """Rename a category found by get_category (its code stays the same)."""
    category.name = name
    db.session.flush()
    return category


def category_names(community_id):
    """{code: name in the current language} for a community's categories."""
    from flask_babel import gettext

    return {c.code: gettext(c.name) for c in categories_of(community_id)}


def check_category(community_id, category):
    """None for all categories, else a known category code of the community."""
    if not category:
        return None
    if category not in category_names(community_id):
        raise Invalid(N_("There is no such category."))
    return category


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


class _Ref:
    """An account as the write path needs it (id, community, kind, owner, key), read in the statement that locks
    it (the id is None until then)."""

    __slots__ = ("id", "community_id", "kind", "owner_id", "key")

    def __init__(self, id, community_id, kind, owner_id, key):  # noqa: A002 - the column's name
        self.id, self.community_id, self.kind, self.owner_id, self.key = id, community_id, kind, owner_id, key


def _lock_by_key_statement(held=None):
    """SELECT ... FOR UPDATE of a community's accounts by key, in id order, with whether each owner has a debt
    open: built once (Core, bound parameters), so a posting spends no time building or adapting it. `held`: a
    subquery of one row (a hold's points and who closed it, _held_statement) read in the same statement."""
    from civic.ledger.models import Debt

    table, debt = Account.__table__, Debt.__table__
    community = bindparam("community_id")
    owes = select(debt.c.id).where(debt.c.community_id == community, debt.c.user_id == table.c.owner_id,
                                   debt.c.amount_outstanding > 0).exists()
    query = select(table.c.id, table.c.key, table.c.kind, table.c.owner_id, table.c.balance, owes.label("owes"))
    if held is not None:
        query = query.add_columns(*held.c).select_from(table.outerjoin(held, true()))
    return (query.where(table.c.community_id == community, table.c.key.in_(bindparam("keys", expanding=True)))
            .order_by(table.c.id).with_for_update(of=table))


_LOCK_BY_KEY = _lock_by_key_statement()


def _locked_by_key(community_id, wanted, *, statement=_LOCK_BY_KEY, **params):
    """Find and lock the accounts named by key, creating missing ones. Returns {key: _Ref},
    {id: (kind, balance)}, the owners among them with a debt open (civic.ledger.debt) and the rows read.

    One statement when they exist: locked in id order (as every posting locks), read in the same round trip."""
    if db.session.new or db.session.dirty or db.session.deleted:
        db.session.flush()  # the caller's pending changes (a debt just made, say) go first
    params.update(community_id=community_id, keys=sorted(wanted))
    rows = db.session.connection().execute(statement, params).all()
    if len(rows) < len(wanted):  # a first posting: create what is missing, then lock
        for key, (kind, owner_id) in wanted.items():
            _account(community_id, key, kind, owner_id)
        rows = db.session.connection().execute(statement, params).all()
    return ({r.key: _Ref(r.id, community_id, r.kind, r.owner_id, r.key) for r in rows},
            {r.id: (r.kind, r.balance) for r in rows}, {r.owner_id for r in rows if r.owes}, rows)


def _post_between(community_id, debit, credit, amount, **fields):
    """post_transaction from one account (by key: (key, kind, owner_id)) to another, found and locked at once.
    Returns the transaction and the owners of the two accounts who have a debt open.

    PostgreSQL: locked, checked and written in one statement (_post_at_once) once both accounts exist."""
    if db.session.get_bind().dialect.name == "postgresql":
        posted = _post_at_once(community_id, [(debit, -amount), (credit, amount)], **fields)
        if posted is not None:
            return posted
    refs, balances, owing, _rows = _locked_by_key(community_id, {debit[0]: debit[1:], credit[0]: credit[1:]})
    txn = post_transaction(community_id, legs=[(refs[debit[0]], -amount), (refs[credit[0]], amount)],
                           _locked=balances, **fields)
    return txn, owing


def balance_of(community_id, user_id):
    """A resident's spendable balance (0 before their first posting)."""
    return db.session.scalar(
        select(Account.balance).where(Account.community_id == community_id, Account.key == f"resident:{user_id}")
    ) or 0


def lock_spendable(community_id, user_id):
    """Lock the resident's account (made on first use) and return their spendable balance. Another part calls
    this before it decides on a spend (the shop's orders and cancels), so one resident's spends happen one at a
    time and the balance stays true until its transaction ends. One statement."""
    key = f"resident:{user_id}"
    refs, balances, _owing, _rows = _locked_by_key(community_id, {key: ("resident", user_id)})
    return balances[refs[key].id][1]


def require_spendable(balance, points):
    """The ledger's rule for a spend: not beyond the balance (InsufficientPoints, with the ledger's message)."""
    if balance < points:
        raise InsufficientPoints(N_("Not enough points: %(balance)s available, %(needed)s needed."),
                                 balance=balance, needed=points)


def balances_by_kind(community_id):
    """{account kind: total balance} of a community's residents, holds and shops (for reports)."""
    return dict(db.session.execute(
        select(Account.kind, func.coalesce(func.sum(Account.balance), 0))
        .where(Account.community_id == community_id, Account.kind.in_(("resident", "hold", "shop")))
        .group_by(Account.kind)).all())


def issued_and_redeemed(community_id, since):
    """[(kind, created_at, points)] since a time: points awarded to residents ("award") and points settled to
    shops ("settle"), for reports of the points economy."""
    return db.session.execute(
        select(Transaction.kind, Transaction.created_at, Posting.amount)
        .join(Posting, (Posting.transaction_id == Transaction.id) & (Posting.community_id == Transaction.community_id))
        .join(Account, (Account.id == Posting.account_id) & (Account.community_id == Posting.community_id))
        .where(Transaction.community_id == community_id, Transaction.created_at >= since,
               ((Transaction.kind == "award") & (Account.kind == "resident"))
               | ((Transaction.kind == "settle") & (Account.kind == "shop")))).all()


def credited_people(ids, since, until):
    """A Select of (community_id, user_id) for each point credited to a resident of the communities in
    [since, until), for another part to put in a union (the people active in a period)."""
    return select(Posting.community_id, Account.owner_id).join(Account, and_(
        Account.community_id == Posting.community_id, Account.id == Posting.account_id)).where(
        Posting.community_id.in_(ids), Account.kind == "resident", Posting.amount > 0,
        Posting.created_at >= since, Posting.created_at < until)


def community_points_figures(ids, since, until):
    """(outstanding, issued, redeemed): {community_id: points} of the communities, three grouped statements
    whatever their number. Outstanding is the residents' balance now; issued the points awarded to residents and
    redeemed the points credited to shops in [since, until)."""
    def grouped(query):
        return {cid: int(points or 0) for cid, points in db.session.execute(query)}

    def in_range(col):
        return and_(col >= since, col < until)

    outstanding = grouped(select(Account.community_id, func.sum(Account.balance)).where(
        Account.community_id.in_(ids), Account.kind == "resident").group_by(Account.community_id))
    issued = grouped(select(Posting.community_id, func.sum(Posting.amount)).join(Account, and_(
        Account.community_id == Posting.community_id, Account.id == Posting.account_id)).join(
        Transaction, and_(Transaction.community_id == Posting.community_id, Transaction.id == Posting.transaction_id))
        .where(Posting.community_id.in_(ids), Account.kind == "resident", Transaction.kind == "award",
               in_range(Posting.created_at)).group_by(Posting.community_id))
    redeemed = grouped(select(Posting.community_id, func.sum(Posting.amount)).join(Account, and_(
        Account.community_id == Posting.community_id, Account.id == Posting.account_id)).where(
        Posting.community_id.in_(ids), Account.kind == "shop", Posting.amount > 0, in_range(Posting.created_at))
        .group_by(Posting.community_id))
    return outstanding, issued, redeemed


def check_budget(community_id, points, now=None):
    """Refuse an award of `points` the year's budget could not pay now (BudgetExceeded, the ledger's rule and
    message); posting checks it again under the budget's lock."""
    year = local_year(resolve(now))
    _refuse_beyond(budget_for(community_id, year), points, year)


# --- posting ------------------------------------------------------------------------------------

def _content_hash(kind, legs, category, memo, source, resolves_id=None, *, by_id=False):
    """What an idempotency key promises: the same key again must carry the same content. Accounts are named by
    key (known before they are locked); `by_id`: as transactions recorded before 2026-12 named them."""
    payload = {
        "kind": kind, "legs": sorted([account.id if by_id else account.key, amount] for account, amount in legs),
        "category": category, "memo": memo, "source": source,
    }
    if resolves_id is not None:
        payload["resolves"] = resolves_id
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def post_transaction(community_id, *, idempotency_key, kind, legs, memo="", category=None, source=None,
                     actor=None, reverses=None, resolves=None, counts_as_merit=None, now=None, _locked=None):
    """Record a balanced transaction and update balances, budget and tallies. Returns the Transaction.

    `legs` is a list of (Account, amount) with whole, non-zero amounts summing to zero. `resolves`: the hold
    (transaction or id) a settle or release closes, at most once (a unique index). (`_locked`: the legs'
    accounts already locked in id order by this transaction, {id: (kind, balance)}.)
    """
    now = resolve(now)
    _validate(community_id, idempotency_key, legs)
    memo = (memo or "")[:300]
    resolves_id = getattr(resolves, "id", resolves)
    digest = _Digest(kind, legs, category, memo, source, resolves_id)
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
                              reverses, counts_as_merit, now, _locked, resolves_id)
        except IntegrityError:
            existing = _existing(community_id, idempotency_key)
            if existing is not None:  # a concurrent twin committed first
                return _replay(existing, digest)
            raise Conflict(N_("This transaction has already been reversed.")) from None
    return _apply(community_id, idempotency_key, digest, kind, legs, memo, category, source, actor, reverses,
                  counts_as_merit, now, _locked, resolves_id)


def _validate(community_id, idempotency_key, legs):
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


class _Digest(str):
    """A transaction's content hash (by account key), able to give the hash by account id of a transaction
    recorded before 2026-12 (_replay compares with both) once the legs' ids are known."""

    def __new__(cls, kind, legs, category, memo, source, resolves_id):
        digest = super().__new__(cls, _content_hash(kind, legs, category, memo, source, resolves_id))
        digest.args = (kind, legs, category, memo, source, resolves_id)
        return digest

    def by_id(self):
        return _content_hash(*self.args, by_id=True)


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
           counts_as_merit, now, locked=None, resolves_id=None):
    """The write path in set-based statements: lock and check, claim the key, post, move the totals.

    Every check runs before anything is written, so a refusal leaves no trace even if the caller
    carries on (no savepoint needed); a replayed key is recognised before a refusal is raised.
    """
    if db.session.new or db.session.dirty or db.session.deleted:
        db.session.flush()  # the caller's pending changes go first (Core statements do not autoflush)
    totals = {}
    for account, amount in legs:
        totals[account.id] = totals.get(account.id, 0) + amount
    balances = locked if locked is not None and set(locked) == set(totals) else _lock_accounts(community_id, totals)
    charges_budget = kind == "award" or (reverses is not None and _original_kind(reverses) == "award")
    issued = sum(amount for account, amount in legs if account.kind == "resident") if charges_budget else 0
    try:
        _check_balances(balances, totals)
    except InsufficientPoints:
        replayed = _replay_refused(community_id, idempotency_key, digest, resolves_id)
        if replayed is not None:
            return replayed
        raise
    values = dict(community_id=community_id, idempotency_key=idempotency_key, content_hash=str(digest), kind=kind,
                  category=category, counts_as_merit=counts_as_merit, memo=memo, source=source,
                  actor_id=getattr(actor, "id", actor), reverses_id=getattr(reverses, "id", reverses),
                  resolves_id=resolves_id, created_at=now)
    postings = _postings(legs, balances)
    moved = {account_id: delta for account_id, delta in totals.items() if delta}
    by_user, tallies = _tally_rows(community_id, legs, category, now) if counts_as_merit else ({}, [])
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            txn_id, budget, lifetime = _write_at_once(values, postings, moved, tallies, issued)
        else:
            budget = _lock_budget(community_id, issued, now) if issued else None
            txn_id, lifetime = _write_one_by_one(community_id, values, postings, moved, tallies, budget, issued)
    except BudgetExceeded:
        replayed = _replay_refused(community_id, idempotency_key, digest, resolves_id)
        if replayed is not None:
            return replayed
        raise
    if txn_id is None:  # the key was used before (or by a concurrent twin that committed first)
        return _key_taken(community_id, idempotency_key, digest, resolves_id, budget, issued)
    return _written(values, txn_id, set(totals), budget, by_user if tallies else {}, lifetime)


def _replay_refused(community_id, idempotency_key, digest, resolves_id):
    """A posting refused by its checks may be the retry of one already made: that one (replayed), else None.
    A hold closed meanwhile by another key is refused as such (Conflict)."""
    existing = _existing(community_id, idempotency_key)
    if existing is not None:
        return _replay(existing, digest)
    if resolves_id is not None and db.session.scalar(select(Transaction.id).where(
            Transaction.community_id == community_id, Transaction.resolves_id == resolves_id)):
        raise Conflict(N_("This hold has already been settled or released."), reason="hold_resolved")
    return None


def _key_taken(community_id, idempotency_key, digest, resolves_id, budget_id, issued):
    """Nothing was posted because a unique index refused the transaction: its key was used before (or by a
    concurrent twin that committed first), or the hold it closes was closed, or the transaction it reverses
    was reversed. Gives back the budget's charge (its row is still locked by this transaction)."""
    if budget_id is not None:
        _move_budget(community_id, budget_id, -issued)
    existing = _existing(community_id, idempotency_key)
    if existing is not None:
        return _replay(existing, digest)
    if resolves_id is not None:
        raise Conflict(N_("This hold has already been settled or released."), reason="hold_resolved")
    raise Conflict(N_("This transaction has already been reversed."))


def _written(values, txn_id, account_ids, budget_id, by_user, lifetime):
    """After a posting's statements: what the session holds of its accounts, budget and tallies is stale;
    merit_changed is queued for the residents whose tallies moved. Returns the transaction as an ORM object,
    without reading it back (its postings load lazily if asked for)."""
    community_id = values["community_id"]
    _expire_loaded(Account, lambda a: a.id in account_ids)
    if budget_id is not None:
        _expire_loaded(Budget, lambda b: b.id == budget_id)
    if by_user:
        _expire_loaded(Tally, lambda t: t.community_id == community_id and t.user_id in by_user)
        _after_commit_send(community_id, by_user, lifetime, values["created_at"])
    txn = Transaction(id=txn_id, **values)
    make_transient_to_detached(txn)
    db.session.add(txn)
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


def _lock_budget(community_id, issued, now):
    """Lock the year's budget (created when missing) and refuse an award beyond it; returns its id."""
    year = local_year(now)
    table = Budget.__table__
    query = select(table.c.id, table.c.amount, table.c.issued).where(
        table.c.community_id == community_id, table.c.year == year).with_for_update()
    row = db.session.execute(query).first()
    if row is None:
        budget_for(community_id, year)
        row = db.session.execute(query).first()
    _refuse_beyond(row, issued, year)
    return row.id


def _refuse_beyond(row, issued, year):
    """The budget rule (the CHECK issued <= amount guards it too)."""
    if row.issued + issued > row.amount:
        raise BudgetExceeded(N_("This award would exceed the community's points budget for %(year)s "
                                "(%(left)s points left)."), year=year, left=row.amount - row.issued)


def _move_budget(community_id, budget_id, points):
    """Add to (or give back from) what a budget has issued."""
    table = Budget.__table__
    db.session.execute(update(table).where(table.c.community_id == community_id, table.c.id == budget_id)
                       .values(issued=table.c.issued + points))


def _postings(legs, balances):
    """[(account id, amount, balance after)] in the order of the legs (running balances from the locked ones)."""
    running = {account_id: balance for account_id, (_kind, balance) in balances.items()}
    rows = []
    for account, amount in legs:
        running[account.id] += amount
        rows.append((account.id, amount, running[account.id]))
    return rows


def _claim_key(values):
    """Claim the idempotency key with one INSERT … ON CONFLICT DO NOTHING RETURNING; None when it is taken.

    A concurrent twin waits on the unique index until the first commits, then finds the key taken."""
    return db.session.execute(
        _insert(Transaction.__table__).values(**values)
        .on_conflict_do_nothing()  # the key, or a hold already resolved (uq_ledger_transaction_resolves)
        .returning(Transaction.__table__.c.id)).scalar()


def _write_one_by_one(community_id, values, postings, moved, tallies, budget_id, issued):
    """Claim the key, then the postings, the cached balances, the budget and the tallies, one statement each
    (SQLite: no round trips to save). Returns (transaction id or None, {(user id, category): all-time points})."""
    txn_id = _claim_key(values)
    if txn_id is None:
        return None, {}
    now = values["created_at"]
    db.session.execute(Posting.__table__.insert(), [
        {"community_id": community_id, "transaction_id": txn_id, "account_id": account_id, "amount": amount,
         "balance_after": after, "created_at": now} for account_id, amount, after in postings])
    table = Account.__table__
    if moved:
        db.session.execute(update(table).where(table.c.community_id == community_id,
                                               table.c.id.in_(sorted(moved))).values(
            balance=table.c.balance + case(moved, value=table.c.id, else_=0)))
    if budget_id is not None:
        _move_budget(community_id, budget_id, issued)
    if not tallies:
        return txn_id, {}
    statement = _insert(Tally).values(tallies)
    rows = db.session.execute(statement.on_conflict_do_update(
        index_elements=["community_id", "user_id", "period", "category"],
        set_={"points": Tally.points + statement.excluded.points, "reached_at": statement.excluded.reached_at},
    ).returning(Tally.user_id, Tally.period, Tally.category, Tally.points)).all()
    return txn_id, {(r.user_id, r.category): r.points for r in rows if r.period == "all"}


_AT_ONCE = {}  # statement text by shape (postings, balances, tallies)


def _write_at_once(values, postings, moved, tallies, issued, *, retry=True):
    """PostgreSQL: charge the budget, claim the key, insert the postings, move the balances and the tallies in
    ONE statement (one round trip; data-modifying CTEs on the community's rows only, so a distributed database
    routes it to one shard). When the budget has no room nothing is written and BudgetExceeded is raised; when
    the key is taken only the budget's charge is (the caller gives it back). Returns (transaction id or None,
    budget id or None, {(user id, category): all-time points})."""
    shape = (len(postings), len(moved), len(tallies), bool(issued))
    sql = _AT_ONCE.get(shape)
    if sql is None:
        sql = _AT_ONCE[shape] = text(_at_once_sql(*shape))
    year = local_year(values["created_at"])
    params = dict(values, issued=issued, year=year)
    for i, (account_id, amount, after) in enumerate(postings):
        params.update({f"pa{i}": account_id, f"pm{i}": amount, f"pb{i}": after})
    for i, (account_id, delta) in enumerate(sorted(moved.items())):
        params.update({f"ma{i}": account_id, f"md{i}": delta})
    rows = db.session.connection().execute(sql, _tally_params(params, tallies)).all()
    if issued and rows[0].charged is None:  # no budget for the year yet, or no room: nothing was written
        _no_room(values["community_id"], year, issued, retry)
        return _write_at_once(values, postings, moved, tallies, issued, retry=False)
    return rows[0].id, rows[0].charged, {(r.user_id, r.category): r.points for r in rows if r.user_id is not None}


def _no_room(community_id, year, issued, retry):
    """A write charged no budget (no row for the year yet, or no room): BudgetExceeded when there is no room;
    else the row now exists and the caller writes again, once (`retry`)."""
    budget = budget_for(community_id, year, lock=True)
    db.session.refresh(budget)
    _refuse_beyond(budget, issued, year)
    if not retry:
        raise BudgetExceeded()


def _at_once_sql(n_postings, n_moved, n_tallies, charges_budget):
    sql = "WITH "
    gate = ""
    if charges_budget:
        sql += ("charged AS (UPDATE ledger_budget SET issued = issued + :issued WHERE community_id = :community_id"
                " AND year = :year AND issued + :issued <= amount RETURNING id), ")
        gate = " WHERE EXISTS (SELECT 1 FROM charged)"
    postings = ", ".join(f"({i}, CAST(:pa{i} AS INTEGER), CAST(:pm{i} AS INTEGER), CAST(:pb{i} AS INTEGER))"
                         for i in range(n_postings))
    # ON CONFLICT DO NOTHING for any unique index: the key, a reversal or a hold's resolution done before
    sql += ("txn AS (INSERT INTO ledger_transaction (community_id, idempotency_key, content_hash, kind, category,"
            " counts_as_merit, memo, source, actor_id, reverses_id, resolves_id, created_at) SELECT :community_id,"
            " :idempotency_key, :content_hash, :kind, :category, :counts_as_merit, :memo, :source, :actor_id,"
            f" :reverses_id, :resolves_id, :created_at{gate} ON CONFLICT DO NOTHING RETURNING id),"
            " posted AS (INSERT INTO ledger_posting (community_id, transaction_id, account_id, amount, balance_after,"
            " created_at) SELECT :community_id, txn.id, v.account_id, v.amount, v.balance_after, :created_at"
            f" FROM txn CROSS JOIN (VALUES {postings}) AS v(n, account_id, amount, balance_after) ORDER BY v.n)")
    if n_moved:
        moved = ", ".join(f"(CAST(:ma{i} AS INTEGER), CAST(:md{i} AS INTEGER))" for i in range(n_moved))
        sql += (", moved AS (UPDATE ledger_account SET balance = ledger_account.balance + v.delta"
                f" FROM (VALUES {moved}) AS v(id, delta) WHERE ledger_account.community_id = :community_id"
                " AND ledger_account.id = v.id AND EXISTS (SELECT 1 FROM txn))")
    return sql + _tallied_and_result_sql(n_tallies, charges_budget)


def _tallied_and_result_sql(n_tallies, charges_budget, extra=""):
    """The tallies' CTE (when the transaction was written) and the statement's result: one row when nothing
    was written (id NULL), else one per all-time tally (or one); `extra` columns on every row."""
    sql = ""
    lifetime = "CAST(NULL AS INTEGER) AS user_id, CAST(NULL AS VARCHAR) AS category, CAST(NULL AS INTEGER) AS points"
    tallied = ""
    if n_tallies:
        rows = ", ".join(f"(CAST(:tu{i} AS INTEGER), CAST(:tp{i} AS VARCHAR), CAST(:tc{i} AS VARCHAR),"
                         f" CAST(:tn{i} AS INTEGER))" for i in range(n_tallies))
        sql += (", tallied AS (INSERT INTO ledger_tally (community_id, user_id, period, category, points, reached_at)"
                f" SELECT :community_id, v.user_id, v.period, v.category, v.points, :created_at FROM txn CROSS JOIN"
                f" (VALUES {rows}) AS v(user_id, period, category, points) ON CONFLICT (community_id, user_id,"
                " period, category) DO UPDATE SET points = ledger_tally.points + excluded.points,"
                " reached_at = excluded.reached_at RETURNING user_id, period, category, points)")
        lifetime = "t.user_id, t.category, t.points"
        tallied = " LEFT JOIN tallied t ON t.period = 'all'"
    charged = "(SELECT id FROM charged)" if charges_budget else "CAST(NULL AS INTEGER)"
    return (sql + f" SELECT txn.id, {charged} AS charged, {lifetime}{extra} FROM (SELECT 1) AS one"
            f" LEFT JOIN txn ON true{tallied}")


def _tally_params(params, tallies):
    for i, row in enumerate(tallies):
        params.update({f"tu{i}": row["user_id"], f"tp{i}": row["period"], f"tc{i}": row["category"],
                       f"tn{i}": row["points"]})
    return params


_BY_KEY = {}  # statement text by shape (legs, tallies, budget)


def _by_key_sql(n_legs, n_tallies, charges_budget, resolves):
    """Lock the legs' accounts by key in id order, check them, then (only if every account exists and none that
    must not would go below zero) charge the budget, claim the key, post, move the balances and the tallies:
    one statement. Every write waits on `ok`, which reads the locks, so the accounts are locked first, in id
    order, as in every other posting. `resolves`: the hold being closed (:resolves_id) must exist, hold
    :held points and be open (or closed by this key: a replay)."""
    keys = ", ".join(f":k{i}" for i in range(n_legs))
    legs = ", ".join(f"({i}, CAST(:k{i} AS VARCHAR), CAST(:a{i} AS INTEGER))" for i in range(n_legs))
    held = held_ok = ""
    if resolves:  # the hold's resident leg, and what closed it
        held = ("held AS (SELECT p.amount AS held, closing.id AS closed_by, closing.idempotency_key AS closing_key"
                " FROM ledger_posting p JOIN ledger_transaction t ON t.community_id = p.community_id"
                " AND t.id = p.transaction_id JOIN ledger_account a ON a.community_id = p.community_id"
                " AND a.id = p.account_id LEFT JOIN ledger_transaction closing ON closing.community_id ="
                " p.community_id AND closing.resolves_id = :resolves_id WHERE p.community_id = :community_id"
                " AND p.transaction_id = :resolves_id AND t.kind = 'hold' AND a.kind = 'resident'), ")
        held_ok = (" AND EXISTS (SELECT 1 FROM held WHERE held = :held AND (closed_by IS NULL"
                   " OR closing_key = :idempotency_key))")
    sql = (f"WITH {held}locked AS (SELECT a.id, a.key, a.kind, a.owner_id, a.balance, EXISTS (SELECT 1"
           " FROM ledger_debt d WHERE d.community_id = :community_id AND d.user_id = a.owner_id"
           " AND d.amount_outstanding > 0) AS owes"
           f" FROM ledger_account a WHERE a.community_id = :community_id AND a.key IN ({keys})"
           " ORDER BY a.id FOR UPDATE OF a),"
           f" v AS (SELECT * FROM (VALUES {legs}) AS v(n, key, amount)),"
           " legs AS (SELECT v.n, l.id AS account_id, v.amount,"
           " l.balance + sum(v.amount) OVER (PARTITION BY l.id ORDER BY v.n) AS balance_after"
           " FROM v JOIN locked l ON l.key = v.key),"
           " totals AS (SELECT l.id, l.kind, l.balance + sum(v.amount) AS after, sum(v.amount) AS delta"
           " FROM v JOIN locked l ON l.key = v.key GROUP BY l.id, l.kind, l.balance),"
           " ok AS (SELECT count(*) = :n_accounts AND coalesce(bool_and(kind NOT IN ('resident', 'hold', 'shop')"
           f" OR after >= 0), true){held_ok} AS ok FROM totals),")
    gate = "(SELECT ok FROM ok)"
    if charges_budget:
        sql += ("charged AS (UPDATE ledger_budget SET issued = issued + :issued WHERE (SELECT ok FROM ok)"
                " AND community_id = :community_id AND year = :year AND issued + :issued <= amount RETURNING id),")
        gate += " AND EXISTS (SELECT 1 FROM charged)"
    sql += ("txn AS (INSERT INTO ledger_transaction (community_id, idempotency_key, content_hash, kind, category,"
            " counts_as_merit, memo, source, actor_id, reverses_id, resolves_id, created_at) SELECT :community_id,"
            " :idempotency_key, :content_hash, :kind, :category, :counts_as_merit, :memo, :source, :actor_id,"
            f" :reverses_id, :resolves_id, :created_at WHERE {gate} ON CONFLICT DO NOTHING RETURNING id),"
            " posted AS (INSERT INTO ledger_posting (community_id, transaction_id, account_id, amount, balance_after,"
            " created_at) SELECT :community_id, txn.id, legs.account_id, legs.amount, legs.balance_after,"
            " :created_at FROM txn CROSS JOIN legs ORDER BY legs.n),"
            " moved AS (UPDATE ledger_account SET balance = ledger_account.balance + t.delta FROM totals t"
            " WHERE EXISTS (SELECT 1 FROM txn) AND ledger_account.community_id = :community_id"
            " AND ledger_account.id = t.id AND t.delta <> 0)")
    extra = (", (SELECT ok FROM ok) AS ok, ARRAY(SELECT id FROM locked ORDER BY id) AS locked_ids,"
             " ARRAY(SELECT key FROM locked ORDER BY id) AS locked_keys,"
             " ARRAY(SELECT kind FROM locked ORDER BY id) AS locked_kinds,"
             " ARRAY(SELECT balance FROM locked ORDER BY id) AS locked_balances,"
             " ARRAY(SELECT owner_id FROM locked WHERE owes ORDER BY id) AS owing")
    if resolves:
        extra += (", (SELECT held FROM held) AS held, (SELECT closed_by FROM held) AS closed_by,"
                  " (SELECT closing_key FROM held) AS closing_key")
    return sql + _tallied_and_result_sql(n_tallies, charges_budget, extra)


def _post_at_once(community_id, legs, *, idempotency_key, kind, memo="", category=None, source=None, actor=None,
                  resolves=None, now=None, retry=True):
    """PostgreSQL: post between accounts named by key ([((key, kind, owner id), amount)]) in one statement
    (_by_key_sql): the same rules, checks and answers as post_transaction. Returns (transaction, owners of its
    accounts who have a debt open), or None when an account does not exist yet (nothing written; the caller
    takes the path that creates it)."""
    now = resolve(now)
    refs = [(_Ref(None, community_id, account_kind, owner_id, key), amount)
            for (key, account_kind, owner_id), amount in legs]
    _validate(community_id, idempotency_key, refs)
    memo = (memo or "")[:300]
    resolves_id = getattr(resolves, "id", resolves)
    digest = _Digest(kind, refs, category, memo, source, resolves_id)
    counts_as_merit = kind in MERIT_KINDS
    issued = sum(amount for ref, amount in refs if ref.kind == "resident") if kind == "award" else 0
    by_user, tallies = _tally_rows(community_id, refs, category, now) if counts_as_merit else ({}, [])
    values = dict(community_id=community_id, idempotency_key=idempotency_key, content_hash=str(digest), kind=kind,
                  category=category, counts_as_merit=counts_as_merit, memo=memo, source=source,
                  actor_id=getattr(actor, "id", actor), reverses_id=None, resolves_id=resolves_id, created_at=now)
    if db.session.new or db.session.dirty or db.session.deleted:
        db.session.flush()  # the caller's pending changes go first (Core statements do not autoflush)
    shape = (len(refs), len(tallies), bool(issued), resolves_id is not None)
    sql = _BY_KEY.get(shape)
    if sql is None:
        sql = _BY_KEY[shape] = text(_by_key_sql(*shape))
    year = local_year(now)
    params = dict(values, issued=issued, year=year, n_accounts=len({ref.key for ref, _ in refs}),
                  held=sum(amount for ref, amount in refs if ref.key == "hold"))
    for i, (ref, amount) in enumerate(refs):
        params.update({f"k{i}": ref.key, f"a{i}": amount})
    rows = db.session.connection().execute(sql, _tally_params(params, tallies)).all()
    first = rows[0]
    if len(first.locked_ids) < params["n_accounts"]:
        return None
    ids = dict(zip(first.locked_keys, first.locked_ids, strict=True))
    for ref, _amount in refs:
        ref.id = ids[ref.key]
    if not first.ok:  # a balance would go below zero, or the hold is not as named: nothing was written
        if resolves_id is not None:
            _open_hold(first, idempotency_key, params["held"])
        replayed = _replay_refused(community_id, idempotency_key, digest, resolves_id)
        if replayed is not None:
            return replayed, set()
        totals = {}
        for ref, amount in refs:
            totals[ref.id] = totals.get(ref.id, 0) + amount
        _check_balances({i: (k, b) for i, k, b in zip(first.locked_ids, first.locked_kinds,
                                                                    first.locked_balances, strict=True)}, totals)
    if issued and first.charged is None:  # no budget for the year yet, or no room: nothing was written
        try:
            _no_room(community_id, year, issued, retry)
        except BudgetExceeded:
            replayed = _replay_refused(community_id, idempotency_key, digest, resolves_id)
            if replayed is not None:
                return replayed, set()
            raise
        return _post_at_once(community_id, legs, idempotency_key=idempotency_key, kind=kind, memo=memo,
                             category=category, source=source, actor=actor, resolves=resolves, now=now, retry=False)
    if first.id is None:
        return _key_taken(community_id, idempotency_key, digest, resolves_id, first.charged, issued), set()
    lifetime = {(r.user_id, r.category): r.points for r in rows if r.user_id is not None}
    txn = _written(values, first.id, set(first.locked_ids), first.charged, by_user if tallies else {}, lifetime)
    return txn, set(first.owing)


def _expire_loaded(model, matches):
    """Objects of `model` already in the session are stale after a Core update: reload them when next read."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, model) and matches(obj):
            db.session.expire(obj)


def _original_kind(reverses):
    if isinstance(reverses, Transaction):
        return reverses.kind
    return db.session.scalar(select(Transaction.kind).where(Transaction.id == reverses))  # reversals are rare


def _replay(existing, digest):
    if existing.content_hash != digest and existing.content_hash != digest.by_id():
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


def _tally_rows(community_id, legs, category, now):
    """Each resident's merit delta ({user id: delta}) and the tally rows it adds to (all, year, month; all
    categories and this one)."""
    by_user = {}
    for account, amount in legs:
        if account.kind == "resident":
            by_user[account.owner_id] = by_user.get(account.owner_id, 0) + amount
    categories = ("*", category) if category else ("*",)
    rows = [
        {"community_id": community_id, "user_id": user_id, "period": period, "category": cat, "points": delta,
         "reached_at": now}
        for user_id, delta in sorted(by_user.items()) if delta != 0
        for period in period_keys(now) for cat in categories
    ]
    return by_user, rows


# --- after commit: merit_changed ---------------------------------------------------------------

signals = Namespace()
merit_changed = signals.signal("ledger.merit-changed")
merit_changed.__doc__ = """Sent with community_id, user_id, now and lifetime ({category or "*": (all-time points
before, after)}) after a transaction that changed a resident's merit tallies has committed (once per resident
and commit). Receivers run in a new database transaction,
committed after them; what they do cannot undo the points."""

_QUEUED, _COMMITTED = "ledger.merit_changed.queued", "ledger.merit_changed.committed"


def _after_commit_send(community_id, by_user, lifetime, now):
    """Queue merit_changed for each resident whose tallies move in this database transaction, with their
    all-time tallies before and after it: {category ("*" for all): (before, after)}."""
    queued = db.session.info.setdefault(_QUEUED, {})
    for user_id, delta in sorted(by_user.items()):
        if not delta:
            continue
        change = queued.setdefault((community_id, user_id), {"now": now, "lifetime": {}})
        change["now"] = now
        for (owner, category), after in lifetime.items():
            if owner == user_id:
                before = change["lifetime"].get(category, (after - delta, None))[0]
                change["lifetime"][category] = (before, after)


@event.listens_for(db.session, "after_commit")
def _committed(session):
    """The queued changes are now durable (no SQL can run here: they are sent when the transaction ends)."""
    queued = session.info.pop(_QUEUED, None)
    if queued:
        session.info.setdefault(_COMMITTED, {}).update(queued)


@event.listens_for(db.session, "after_transaction_end")
def _send_committed(session, transaction):
    """Once the committed transaction has ended, send merit_changed and commit what the receivers did.

    What is still queued when the outermost transaction ends was not committed (rolled back, or the session
    closed): it is dropped, never sent. (A savepoint rolled back inside a committed transaction leaves its
    entries queued; receivers read the committed tallies, so a check then finds nothing new.)"""
    if transaction.parent is not None:
        return
    session.info.pop(_QUEUED, None)
    if _COMMITTED not in session.info:
        return
    committed = session.info.pop(_COMMITTED)
    try:
        for (community_id, user_id), change in committed.items():
            merit_changed.send(current_app._get_current_object(), community_id=community_id, user_id=user_id,
                               now=change["now"], lifetime=change["lifetime"])
        if session.in_transaction() or session.new or session.dirty or session.deleted:  # a receiver did something
            session.commit()
    except Exception:  # the points are committed: a failed reaction is logged, never raised at the caller
        session.rollback()
        current_app.logger.exception("ledger: a receiver of merit_changed failed")


# --- the operations other parts call ------------------------------------------------------------

def award(community_id, user_id, amount, *, idempotency_key, category=None, memo="", source=None, actor=None, now=None):
    """Give a resident merit points from the community's issuance (counts against the budget)."""
    if amount <= 0:
        raise Invalid(N_("An award must be a positive number of points."))
    txn, owing = _post_between(community_id, ("issuance", "issuance", None),
                               (f"resident:{user_id}", "resident", user_id), amount, idempotency_key=idempotency_key,
                               kind="award", category=category, memo=memo, source=source, actor=actor, now=now)
    _after_credit(community_id, user_id, txn, now, owes=user_id in owing)
    return txn


def deduct(community_id, user_id, amount, *, idempotency_key, category=None, memo="", source=None, actor=None,
           now=None):
    """Take points back for conduct on the negative list (负面清单); refused beyond the balance."""
    if amount <= 0:
        raise Invalid(N_("A deduction must be a positive number of points."))
    return _post_between(community_id, (f"resident:{user_id}", "resident", user_id), ("issuance", "issuance", None),
                         amount, idempotency_key=idempotency_key, kind="deduction", category=category, memo=memo,
                         source=source, actor=actor, now=now)[0]


def hold(community_id, user_id, amount, *, idempotency_key, memo="", source=None, actor=None, now=None):
    """Move points from a resident to the hold account (a pending purchase)."""
    return _post_between(community_id, (f"resident:{user_id}", "resident", user_id), ("hold", "hold", None), amount,
                         idempotency_key=idempotency_key, kind="hold", memo=memo, source=source, actor=actor,
                         now=now)[0]


def hold_of(community_id, idempotency_key):
    """The hold transaction recorded with this key (e.g. "order:12:hold"), or NotFound."""
    txn = _existing(community_id, idempotency_key)
    if txn is None or txn.kind != "hold":
        raise NotFound(N_("No such hold."))
    return txn


def _held_statement(account=Account.__table__):
    """(points, owner, closed by, its key) of a hold's resident leg: built once (Core, bound parameters)."""
    posting, txn = Posting.__table__, Transaction.__table__
    closing = txn.alias("closing")
    hold_id = bindparam("hold_id")
    return (select(posting.c.amount.label("held"), account.c.owner_id.label("held_by"),
                   closing.c.id.label("closed_by"), closing.c.idempotency_key.label("closing_key"))
            .select_from(posting.join(txn, (txn.c.community_id == posting.c.community_id)
                                      & (txn.c.id == posting.c.transaction_id))
                         .join(account, (account.c.community_id == posting.c.community_id)
                               & (account.c.id == posting.c.account_id))
                         .outerjoin(closing, (closing.c.community_id == posting.c.community_id)
                                    & (closing.c.resolves_id == hold_id)))
            .where(posting.c.community_id == bindparam("community_id"), posting.c.transaction_id == hold_id,
                   txn.c.kind == "hold", account.c.kind == "resident"))


_HELD = _held_statement()
# A settle's two accounts locked and its hold read in one statement (the hold's leg through another alias).
_LOCK_FOR_SETTLE = _lock_by_key_statement(_held_statement(Account.__table__.alias("held_account")).subquery("held"))


def _open_hold(row, idempotency_key, held=None):
    """(points held, resident id) from a row of _HELD; a hold closed by another key is refused (Conflict),
    closed by this key it replays; `held`: the points the caller names (as the hold's resident leg), if any."""
    if row is None or row.held is None:
        raise NotFound(N_("No such hold."))
    if row.closed_by is not None and row.closing_key != idempotency_key:
        raise Conflict(N_("This hold has already been settled or released."), reason="hold_resolved")
    if held is not None and row.held != held:
        raise Conflict(N_("This hold is of %(held)s points, not %(named)s."), held=-row.held, named=-held)
    return -row.held, getattr(row, "held_by", None)


def _held(community_id, hold, idempotency_key):
    """(points held, resident id) of a hold transaction (or its id), in one query."""
    row = db.session.connection().execute(
        _HELD, {"community_id": community_id, "hold_id": getattr(hold, "id", hold)}).first()
    return _open_hold(row, idempotency_key)


def settle_hold(community_id, hold, shop_id, *, points=None, idempotency_key, memo="", source=None, actor=None,
                now=None):
    """A held purchase is collected: the hold's points go to the shop. `hold` is the hold transaction (or its
    id); a hold is settled or released once (Conflict after that, refused by the database too). `points`: what
    the caller knows the hold to be (Conflict if it is not); then, on PostgreSQL, the hold is checked, the
    accounts locked and the points moved in one statement. Otherwise the two accounts are locked and the
    hold read in one statement, and the points moved in a second."""
    shop = f"shop:{shop_id}"
    fields = dict(idempotency_key=idempotency_key, kind="settle", memo=memo, source=source, actor=actor,
                  resolves=hold, now=now)
    if points is not None and db.session.get_bind().dialect.name == "postgresql":
        posted = _post_at_once(community_id, [(("hold", "hold", None), -points), ((shop, "shop", None), points)],
                               **fields)
        if posted is not None:
            return posted[0]
    refs, balances, _owing, rows = _locked_by_key(community_id, {"hold": ("hold", None), shop: ("shop", None)},
                                                  statement=_LOCK_FOR_SETTLE, hold_id=getattr(hold, "id", hold))
    amount, _owner = _open_hold(rows[0], idempotency_key, None if points is None else -points)
    return post_transaction(community_id, legs=[(refs["hold"], -amount), (refs[shop], amount)], _locked=balances,
                            **fields)


def release_hold(community_id, hold, *, idempotency_key, memo="", source=None, actor=None, now=None):
    """A held purchase is cancelled or expired: the hold's points go back to its resident (debts first). A hold
    is settled or released once."""
    amount, user_id = _held(community_id, hold, idempotency_key)
    txn, owing = _post_between(community_id, ("hold", "hold", None), (f"resident:{user_id}", "resident", user_id),
                               amount, idempotency_key=idempotency_key, kind="release", memo=memo, source=source,
                               actor=actor, resolves=hold, now=now)
    _after_credit(community_id, user_id, txn, now, owes=user_id in owing)
    return txn


def _after_credit(community_id, user_id, txn, now, *, owes=True):
    """Hook after points reach a resident: open debts are paid first, in this transaction (civic.ledger.debt).

    `owes` False: the account lock's statement saw no open debt, and none can be made while that lock is held."""
    from civic.ledger.debt import collect_debts

    if owes:
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


def _register():
    from civic.communities.service import register_seeder
    from civic.rules.service import register_point_setting

    register_seeder(ensure_categories)
    register_point_setting("ledger", "yearly_budget", N_("Yearly points budget"),
                           read=lambda community_id: budget_for(community_id, _this_year()).amount,
                           write=_write_budget, maximum=100_000_000)


_register()
