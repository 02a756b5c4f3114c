"""Ledger models: accounts with cached balances, transactions, postings, budgets, tallies, badges."""
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.clock import utcnow
from civic.extensions import db

ACCOUNT_KINDS = ("resident", "issuance", "hold", "shop")
BADGE_KINDS = ("first_award", "category", "milestone", "manual")


class Category(db.Model):
    """A category of merit (道德品行, 公益劳动 …). Default names are msgids, translated when shown;
    a committee may rename them or add its own."""

    __tablename__ = "ledger_category"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(60))
    sort: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class Account(db.Model):
    """A point account. Residents' and holds' balances can never go below zero."""

    __tablename__ = "ledger_account"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "key"),
        CheckConstraint("kind IN ('resident', 'issuance', 'hold', 'shop')", name="kind"),
        CheckConstraint("kind NOT IN ('resident', 'hold', 'shop') OR balance >= 0", name="not_negative"),
        CheckConstraint("kind != 'resident' OR owner_id IS NOT NULL", name="resident_has_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # "resident:12", "issuance", "hold", "shop:3"
    kind: Mapped[str] = mapped_column(String(10))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    balance: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transaction(db.Model):
    """One movement of points: two or more postings that sum to zero. Never edited."""

    __tablename__ = "ledger_transaction"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "idempotency_key"),
        UniqueConstraint("community_id", "reverses_id"),
        ForeignKeyConstraint(["community_id", "reverses_id"],
                             ["ledger_transaction.community_id", "ledger_transaction.id"]),
        # a hold is settled or released at most once (migration 0023_ledger_resolves)
        Index("uq_ledger_transaction_resolves", "community_id", "resolves_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(120))
    content_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # award, deduction, hold, settle, release, reversal, transfer
    category: Mapped[str | None] = mapped_column(String(40))
    counts_as_merit: Mapped[bool] = mapped_column(default=False)
    memo: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str | None] = mapped_column(String(80), index=True)  # e.g. "claim:12", "order:7"
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reverses_id: Mapped[int | None] = mapped_column()
    resolves_id: Mapped[int | None] = mapped_column()  # the hold a settle or release closes
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    postings: Mapped[list["Posting"]] = relationship(
        primaryjoin="and_(Posting.transaction_id == Transaction.id, Posting.community_id == Transaction.community_id)",
        foreign_keys="[Posting.transaction_id, Posting.community_id]",
        order_by="Posting.id", viewonly=True,
    )


class Posting(db.Model):
    """One leg of a transaction on one account, with the account's balance after it."""

    __tablename__ = "ledger_posting"
    __table_args__ = (
        CheckConstraint("amount != 0", name="not_zero"),
        ForeignKeyConstraint(["community_id", "transaction_id"],
                             ["ledger_transaction.community_id", "ledger_transaction.id"]),
        ForeignKeyConstraint(["community_id", "account_id"], ["ledger_account.community_id", "ledger_account.id"]),
        Index("ix_ledger_posting_account_id_id", "account_id", "id"),
        # a transaction's postings (joins, the balance check at COMMIT): migration 0024_ledger_posting_index
        Index("ix_ledger_posting_community_id_transaction_id", "community_id", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    transaction_id: Mapped[int] = mapped_column()
    account_id: Mapped[int] = mapped_column()
    amount: Mapped[int]
    balance_after: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Budget(db.Model):
    """A community's yearly issuance budget; the database refuses awards past it."""

    __tablename__ = "ledger_budget"
    __table_args__ = (
        UniqueConstraint("community_id", "year"),
        CheckConstraint("issued <= amount", name="within_budget"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    year: Mapped[int]
    amount: Mapped[int]
    issued: Mapped[int] = mapped_column(default=0)


class Tally(db.Model):
    """Merit earned per person, period and category, kept with each posting (for leaderboards and levels).

    period: "all", "y2026" or "m2026-11" (China time); category: "*" for all categories.
    """

    __tablename__ = "ledger_tally"
    __table_args__ = (
        UniqueConstraint("community_id", "user_id", "period", "category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    period: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(default=0)
    reached_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the current score was reached (tie-break)


# Leaderboards read this index in their exact order (points desc, then reached_at, then user id), so a
# top-N is a short index walk with no sort, however many residents tie (migration 0003_gamification).
Index("ix_ledger_tally_board", Tally.community_id, Tally.period, Tally.category, Tally.points.desc(),
      Tally.reached_at, Tally.user_id)


# --- debts and daily digests (issue 10; civic/ledger/debt.py and civic/ledger/digest.py) ----------

class Debt(db.Model):
    """The unpaid part of a deduction that exceeded the balance: collected first from released holds and
    from later awards, in the same database transaction as those postings. Shop orders wait until it is paid."""

    __tablename__ = "ledger_debt"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "key"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("amount_outstanding >= 0 AND amount_outstanding <= amount", name="outstanding_in_range"),
        Index("ix_ledger_debt_open", "community_id", "user_id", "amount_outstanding"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    key: Mapped[str] = mapped_column(String(120))  # the deduction's idempotency key, e.g. "claim:12:post"
    category: Mapped[str | None] = mapped_column(String(40))
    memo: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str | None] = mapped_column(String(80))
    amount: Mapped[int]
    amount_outstanding: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column()


class Digest(db.Model):
    """A community's ledger digest for one local day: SHA-256 over the day's transactions, chained to the day before."""

    __tablename__ = "ledger_digest"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    tx_count: Mapped[int]
    digest: Mapped[str] = mapped_column(String(64))
    prev_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- badges (civic/ledger/gamification.py) ------------------------------------------------------

class Badge(db.Model):
    """A badge a community's residents can earn. `name` is a msgid (translated when shown).

    first_award, category and milestone badges are earned when the lifetime tally of `category`
    ("*" when empty) reaches `threshold`; manual badges are granted by the part that defines them.
    """

    __tablename__ = "ledger_badge"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "code"),
        CheckConstraint("kind IN ('first_award', 'category', 'milestone', 'manual')", name="kind"),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(12))
    threshold: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(String(40))
    sort: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class BadgeAward(db.Model):
    """A badge earned by a person; at most once per person and badge."""

    __tablename__ = "ledger_badge_award"
    __table_args__ = (
        UniqueConstraint("community_id", "badge_id", "user_id"),
        ForeignKeyConstraint(["community_id", "badge_id"], ["ledger_badge.community_id", "ledger_badge.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    badge_id: Mapped[int] = mapped_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    awarded_at: Mapped[datetime] = mapped_column(default=utcnow)

    badge: Mapped[Badge] = relationship(
        primaryjoin="and_(Badge.id == foreign(BadgeAward.badge_id), Badge.community_id == BadgeAward.community_id)",
        viewonly=True,
    )
