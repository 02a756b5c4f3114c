"""The passbook (存折): a resident's entries, newest first, with the running balance; households (户).

Read-only views of the ledger. Pages are cut with a keyset on the posting id (the index
ix_ledger_posting_account_id_id), never OFFSET, so the cost of a page does not grow with
the ledger or with a person's history; a cursor stays valid while new entries arrive.
"""
from datetime import datetime

from sqlalchemy import and_, bindparam, func, literal, select

from civic.core.clock import local as local_time
from civic.core.clock import to_utc
from civic.core.errors import Invalid, NotFound
from civic.core.i18n import N_
from civic.core.permissions import require
from civic.extensions import db
from civic.ledger import debt
from civic.ledger.gamification import level_for
from civic.ledger.models import Account, Posting, Tally, Transaction
from civic.ledger.service import category_names, check_category

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

# How each kind of transaction reads in a passbook.
KIND_LABELS = {
    "award": N_("Points awarded"),
    "deduction": N_("Points deducted"),
    "hold": N_("Exchanged in the points shop"),
    "release": N_("Exchange cancelled, points returned"),
    "settle": N_("Exchange collected"),
    "reversal": N_("Correction"),
    "transfer": N_("Transfer"),
}


def require_passbook(actor, community_id, user_id):
    """A resident sees their own passbook; the committee sees any resident's. The person must belong here."""
    from civic.communities.models import Membership

    if getattr(actor, "id", None) == user_id:
        require(actor, "passbook.view", community_id)  # an active member of the community, so no more to check
        return
    require(actor, "passbook.inspect", community_id)
    if db.session.scalar(select(Membership.id).where(
            Membership.community_id == community_id, Membership.user_id == user_id)) is None:
        raise NotFound(N_("This person is not a resident of this community."))


def account_id_of(community_id, user_id):
    """The id of a resident's account, or None before their first entry."""
    return db.session.scalar(select(Account.id).where(
        Account.community_id == community_id, Account.key == f"resident:{user_id}"))


# Parts that award points register a reader of what is on its way (the ledger knows nothing of them):
# fn(community_id, user_id) -> [{"points", "settles_at" (naive UTC or None while objected), "memo", "status"}].
_PENDING_READERS = []


def register_pending(reader):
    """Register a reader of a resident's points on their way (e.g. merit awards on the public notice)."""
    if reader not in _PENDING_READERS:
        _PENDING_READERS.append(reader)


def pending(community_id, user_id):
    """Points on their way to a resident, soonest first (those held by an objection last)."""
    items = [item for reader in _PENDING_READERS for item in reader(community_id, user_id)]
    return sorted(items, key=lambda i: (i["settles_at"] is None, i["settles_at"] or datetime.min))


# Core aliases, made once (an ORM aliased() per call configures mappers and costs a few ms per page).
_POSTING = Posting.__table__
_TXN = Transaction.__table__
_HOLD = Transaction.__table__.alias("hold_txn")


def _open_holds(community_id, account_id, *columns):
    """`columns` (default: transaction_id, amount) over the account's postings in holds neither settled nor
    released. Found from the account's own postings that take points away (a hold's resident leg is negative:
    a long history of awards is skipped before any join), each hold's closing by its `source` (indexed), so the
    cost follows the resident's own spending, never the community's history. `account_id` may be a column (a
    correlated subquery)."""
    closing = select(_TXN.c.id).where(
        _TXN.c.community_id == community_id, _TXN.c.source == _HOLD.c.source,
        _TXN.c.kind.in_(("settle", "release"))).exists()
    return (select(*(columns or (_POSTING.c.transaction_id, _POSTING.c.amount)))
            .select_from(_POSTING.join(_HOLD, and_(_HOLD.c.community_id == _POSTING.c.community_id,
                                                   _HOLD.c.id == _POSTING.c.transaction_id)))
            .where(_POSTING.c.community_id == community_id, _POSTING.c.account_id == account_id,
                   _POSTING.c.amount < 0, _HOLD.c.kind == "hold", _HOLD.c.source.is_not(None), ~closing))


def held_holds(community_id, user_id, *, account_id=None):
    """{transaction id: points} of the resident's holds (shop orders) neither collected nor cancelled yet.

    A hold, its settlement and its release share their `source` (e.g. "order:12"). `account_id` saves the
    look-up when the caller has the account already."""
    account_id = account_id or account_id_of(community_id, user_id)
    if account_id is None:
        return {}
    rows = db.session.execute(_open_holds(community_id, account_id)).all()
    return {txn_id: -amount for txn_id, amount in rows}


def _account_figures_statement(with_lifetime):
    """One row: the resident's account id and balance (None before their first entry), the points its open holds
    keep (None without an account) and, `with_lifetime`, their lifetime merit. Built once per process with bound
    parameters (community_id, key, user_id): building a statement costs more than running this one. The held
    points are the account's open holds (_open_holds, correlated on the account: starting from the community's
    open holds instead read every transaction of the community, 55 ms a page with 500 vouchers open)."""
    community_id = bindparam("community_id")
    account = Account.__table__
    held = _open_holds(community_id, account.c.id, func.coalesce(-func.sum(_POSTING.c.amount), 0)).scalar_subquery()
    columns = [account.c.id, account.c.balance, held.label("held")]
    if with_lifetime:
        tally = Tally.__table__
        columns.append(select(tally.c.points).where(
            tally.c.community_id == community_id, tally.c.user_id == bindparam("user_id"), tally.c.period == "all",
            tally.c.category == "*").scalar_subquery().label("lifetime"))
    one = select(literal(1).label("one")).subquery("one")
    return select(*columns).select_from(one.outerjoin(account, and_(account.c.community_id == community_id,
                                                                    account.c.key == bindparam("key"))))


_ACCOUNT_FIGURES = {flag: _account_figures_statement(flag) for flag in (False, True)}


def _account_figures(community_id, user_id, *, lifetime=False):
    return db.session.connection().execute(_ACCOUNT_FIGURES[lifetime], {
        "community_id": community_id, "user_id": user_id, "key": f"resident:{user_id}"}).one()


def summary(actor, community_id, user_id):
    """Balance (points one can use), points reserved by open shop orders, points on their way (on the
    public notice, with the day they settle), lifetime merit and star level of a resident."""
    require_passbook(actor, community_id, user_id)
    on_the_way = pending(community_id, user_id)
    row = _account_figures(community_id, user_id, lifetime=True)
    lifetime = row.lifetime or 0
    return {"community_id": community_id, "user_id": user_id, "balance": row.balance or 0, "held": row.held or 0,
            "pending": on_the_way, "pending_points": sum(i["points"] for i in on_the_way),
            "lifetime": lifetime, "level": level_for(lifetime), **debt.standing(community_id, user_id)}


def glance(actor, community_id, user_id):
    """What the home page's points card shows of `summary()`: the balance, points reserved by open shop orders
    and points on their way; two statements (summary() adds lifetime merit, debts and reservations)."""
    require_passbook(actor, community_id, user_id)
    row = _account_figures(community_id, user_id)
    on_the_way = pending(community_id, user_id)
    return {"community_id": community_id, "user_id": user_id, "balance": row.balance or 0, "held": row.held or 0,
            "pending": on_the_way, "pending_points": sum(i["points"] for i in on_the_way)}


def _entries_query(community_id, account_id, category):
    query = (
        select(Posting.id, Posting.amount, Posting.balance_after, Posting.created_at, Posting.transaction_id,
               Transaction.kind, Transaction.category, Transaction.memo, Transaction.reverses_id)
        .join(Transaction, and_(Transaction.community_id == Posting.community_id,
                                Transaction.id == Posting.transaction_id))
        .where(Posting.community_id == community_id, Posting.account_id == account_id)
    )
    if category:
        query = query.where(Transaction.category == category)
    return query


def _entry(row):
    return {"id": row.id, "amount": row.amount, "balance_after": row.balance_after, "created_at": row.created_at,
            "transaction_id": row.transaction_id, "kind": row.kind, "category": row.category, "memo": row.memo,
            "reverses_id": row.reverses_id}


def entries(actor, community_id, user_id, *, category=None, before=None, limit=PAGE_SIZE):
    """One page of a passbook, newest first: {"entries": [...], "next_cursor": id or None}.

    `before` is the cursor of the previous page (a posting id); entries older than it follow.
    """
    require_passbook(actor, community_id, user_id)
    category = check_category(community_id, category)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise Invalid(N_("A page holds 1 to %(n)s entries."), n=MAX_PAGE_SIZE)
    account_id = account_id_of(community_id, user_id)
    if account_id is None:
        return {"entries": [], "next_cursor": None}
    query = _entries_query(community_id, account_id, category)
    if before is not None:
        query = query.where(Posting.id < before)
    rows = db.session.execute(query.order_by(Posting.id.desc()).limit(limit + 1)).all()
    page = [_entry(r) for r in rows[:limit]]
    return {"entries": page, "next_cursor": page[-1]["id"] if len(rows) > limit else None}


def iter_entries(actor, community_id, user_id, *, category=None, since=None, until=None, batch=500):
    """Every entry of a passbook, newest first, fetched in keyset batches (for CSV and print)."""
    require_passbook(actor, community_id, user_id)
    category = check_category(community_id, category)
    account_id = account_id_of(community_id, user_id)
    if account_id is None:
        return
    before = None
    while True:
        query = _entries_query(community_id, account_id, category)
        if before is not None:
            query = query.where(Posting.id < before)
        if since is not None:
            query = query.where(Posting.created_at >= since)
        if until is not None:
            query = query.where(Posting.created_at < until)
        rows = db.session.execute(query.order_by(Posting.id.desc()).limit(batch)).all()
        for row in rows:
            yield _entry(row)
        if len(rows) < batch:
            return
        before = rows[-1].id


def by_month(items):
    """Group entries (newest first) into [((year, month), [entries])] by China-time month."""
    groups = []
    for item in items:
        local = local_time(item["created_at"])
        key = (local.year, local.month)
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append(item)
    return groups


def year_bounds(year):
    """[start, end) of a China-time year as naive UTC datetimes."""
    if not 2000 <= year <= 2100:
        raise Invalid(N_("Please choose a year between 2000 and 2100."))

    return to_utc(datetime(year, 1, 1)), to_utc(datetime(year + 1, 1, 1))


def csv_rows(actor, community_id, user_id, *, category=None, translate=lambda s: s):
    """The passbook as CSV text lines (header first), newest first; `translate` renders msgids."""
    from civic.core.csvfile import iter_csv_lines
    require_passbook(actor, community_id, user_id)
    category = check_category(community_id, category)
    names = category_names(community_id)

    def rows():
        yield [translate(h) for h in (N_("Date"), N_("Entry"), N_("Category"), N_("Note"), N_("Points"),
                                      N_("Balance"))]
        for item in iter_entries(actor, community_id, user_id, category=category):
            yield [local_time(item["created_at"]).strftime("%Y-%m-%d %H:%M"),
                   translate(KIND_LABELS.get(item["kind"], item["kind"])),
                   names.get(item["category"], item["category"] or ""),
                   item["memo"] or "", item["amount"], item["balance_after"]]

    return iter_csv_lines(rows())


# --- households ---------------------------------------------------------------------------------

def household_of(community_id, user_id):
    """The household id of a resident in a community (None when not set)."""
    from civic.communities.models import Membership

    return db.session.scalar(select(Membership.household_id).where(
        Membership.community_id == community_id, Membership.user_id == user_id))


def household(actor, community_id, household_id):
    """A household (户): its members with their balances and lifetime merit, and the totals.

    Members see their own household; the committee sees any household of the community.
    """
    from civic.accounts.models import User
    from civic.communities.models import Household, Membership
    from civic.core.permissions import can

    home = db.session.scalar(select(Household).where(
        Household.community_id == community_id, Household.id == household_id))
    if home is None:
        raise NotFound(N_("No such household."))
    if household_of(community_id, getattr(actor, "id", None)) == household_id:
        require(actor, "passbook.view", community_id)
    elif not can(actor, "passbook.inspect", community_id):
        raise NotFound(N_("No such household."))
    rows = db.session.execute(
        select(User.id, User.display_name, func.coalesce(Account.balance, 0), func.coalesce(Tally.points, 0))
        .join(Membership, Membership.user_id == User.id)
        .outerjoin(Account, and_(Account.community_id == Membership.community_id,
                                 Account.owner_id == User.id, Account.kind == "resident"))
        .outerjoin(Tally, and_(Tally.community_id == Membership.community_id, Tally.user_id == User.id,
                               Tally.period == "all", Tally.category == "*"))
        .where(Membership.community_id == community_id, Membership.household_id == household_id,
               Membership.status == "active")
        .order_by(User.display_name, User.id)
    ).all()
    members = [{"user_id": r[0], "display_name": r[1], "balance": r[2], "lifetime": r[3],
                "level": level_for(r[3])} for r in rows]
    return {"household": home, "members": members,
            "balance": sum(m["balance"] for m in members), "lifetime": sum(m["lifetime"] for m in members)}
