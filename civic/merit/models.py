"""Merit claims: rules per community, claims with their review, objections on the public notice."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.clock import utcnow
from civic.extensions import db

RULE_KINDS = ("award", "deduction")
CAP_PERIODS = ("none", "month", "year")
CLAIM_STATUSES = ("pending", "second", "rejected", "notice", "objected", "cancelled", "posted")
OBJECTION_STATUSES = ("open", "upheld", "dismissed")
# Where an award that was not claimed from the catalogue comes from (one gate for every point issued).
SOURCE_KINDS = ("patrol", "report", "meeting")


class MeritSettings(db.Model):
    """A community's settings for claims: how long the public notice lasts, when two approvers are needed."""

    __tablename__ = "merit_settings"
    __table_args__ = (
        UniqueConstraint("community_id"),
        CheckConstraint("notice_days BETWEEN 1 AND 30", name="notice_days"),
        CheckConstraint("second_approval_above >= 0", name="threshold"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    notice_days: Mapped[int] = mapped_column(default=3)
    # Claims worth more points than this need a second, different committee member.
    second_approval_above: Mapped[int] = mapped_column(default=20)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class MeritRule(db.Model):
    """An item of the catalogue: an award (fixed points or a range) or a deduction (负面清单)."""

    __tablename__ = "merit_rule"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        ForeignKeyConstraint(["community_id", "category_id"], ["ledger_category.community_id", "ledger_category.id"]),
        CheckConstraint("kind IN ('award', 'deduction')", name="kind"),
        CheckConstraint("points_min >= 1 AND points_max >= points_min", name="points_range"),
        CheckConstraint("cap_period IN ('none', 'month', 'year')", name="cap_period"),
        CheckConstraint("cap_times IS NULL OR cap_times >= 1", name="cap_times"),
        CheckConstraint("cap_points IS NULL OR cap_points >= 1", name="cap_points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    category_id: Mapped[int] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(10), default="award")
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(500), default="")
    points_min: Mapped[int]
    points_max: Mapped[int]
    cap_period: Mapped[str] = mapped_column(String(10), default="none")
    cap_times: Mapped[int | None]
    cap_points: Mapped[int | None]
    evidence_required: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    sort: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    category = relationship(
        "Category",
        primaryjoin="and_(Category.id == foreign(MeritRule.category_id), "
                    "Category.community_id == MeritRule.community_id)",
        viewonly=True,
    )

    @property
    def fixed(self):
        return self.points_min == self.points_max


class Claim(db.Model):
    """A claim for an award, or a recorded deduction, with its review and public notice.

    The rule is copied onto the claim when it is made (name, kind, category, points), so later
    edits of the catalogue never change what was claimed or granted.
    """

    __tablename__ = "merit_claim"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "created_by_id", "request_key"),
        # one pending award per cause and beneficiary: a retried patrol approval or check-in adds nothing
        UniqueConstraint("community_id", "source_kind", "source_id", "resident_id"),
        CheckConstraint("source_kind IS NULL OR (source_kind IN ('patrol', 'report', 'meeting') "
                        "AND source_id IS NOT NULL AND kind = 'award')", name="source"),
        CheckConstraint("rule_id IS NOT NULL OR source_kind IS NOT NULL", name="rule_or_source"),
        ForeignKeyConstraint(["community_id", "rule_id"], ["merit_rule.community_id", "merit_rule.id"]),
        ForeignKeyConstraint(["community_id", "transaction_id"],
                             ["ledger_transaction.community_id", "ledger_transaction.id"]),
        CheckConstraint("status IN ('pending', 'second', 'rejected', 'notice', 'objected', 'cancelled', 'posted')",
                        name="status"),
        CheckConstraint("kind IN ('award', 'deduction')", name="kind"),
        CheckConstraint("points IS NULL OR (points >= points_min AND points <= points_max)", name="points_in_range"),
        CheckConstraint("second_approver_id IS NULL OR second_approver_id != first_approver_id", name="two_approvers"),
        CheckConstraint("first_approver_id IS NULL OR (first_approver_id != resident_id "
                        "AND first_approver_id != created_by_id)", name="not_own_first"),
        CheckConstraint("second_approver_id IS NULL OR (second_approver_id != resident_id "
                        "AND second_approver_id != created_by_id)", name="not_own_second"),
        Index("ix_merit_claim_status_notice", "status", "notice_ends_at"),
        Index("ix_merit_claim_community_status", "community_id", "status"),
        Index("ix_merit_claim_cap", "community_id", "resident_id", "rule_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    rule_id: Mapped[int | None] = mapped_column(index=True)  # None for an award from another part (source_kind)
    # An award from a patrol, a confirmed report or a meeting's attendance: what caused it (else None).
    source_kind: Mapped[str | None] = mapped_column(String(10))
    source_id: Mapped[int | None]
    resident_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    request_key: Mapped[str | None] = mapped_column(String(80))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # The rule as it was when claimed.
    kind: Mapped[str] = mapped_column(String(10))
    rule_name: Mapped[str] = mapped_column(String(80))
    category_code: Mapped[str] = mapped_column(String(40))
    category_name: Mapped[str] = mapped_column(String(60))
    points_min: Mapped[int]
    points_max: Mapped[int]
    evidence_required: Mapped[bool] = mapped_column(default=False)

    description: Mapped[str] = mapped_column(String(500), default="")
    photos: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    points: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    first_approver_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    first_approved_at: Mapped[datetime | None]
    second_approver_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    second_approved_at: Mapped[datetime | None]
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    rejected_at: Mapped[datetime | None]
    reject_reason: Mapped[str] = mapped_column(String(500), default="")

    notice_starts_at: Mapped[datetime | None]
    notice_ends_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")

    posted_at: Mapped[datetime | None]
    posted_points: Mapped[int | None]  # a deduction larger than the balance takes what there is
    transaction_id: Mapped[int | None]
    post_error: Mapped[str] = mapped_column(String(300), default="")

    resident = relationship("User", foreign_keys=[resident_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    first_approver = relationship("User", foreign_keys=[first_approver_id])
    second_approver = relationship("User", foreign_keys=[second_approver_id])
    objections: Mapped[list["MeritObjection"]] = relationship(
        primaryjoin="and_(MeritObjection.claim_id == Claim.id, MeritObjection.community_id == Claim.community_id)",
        foreign_keys="[MeritObjection.claim_id, MeritObjection.community_id]",
        order_by="MeritObjection.id", viewonly=True,
    )

    @property
    def signed_points(self):
        """Points as they will move a balance: negative for a deduction."""
        points = self.posted_points if self.posted_points is not None else self.points
        if points is None:
            return None
        return -points if self.kind == "deduction" else points


class MeritObjection(db.Model):
    """A resident's objection to an item on the public notice; one per resident and item."""

    __tablename__ = "merit_objection"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "claim_id", "user_id"),
        ForeignKeyConstraint(["community_id", "claim_id"], ["merit_claim.community_id", "merit_claim.id"]),
        CheckConstraint("status IN ('open', 'upheld', 'dismissed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    claim_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(String(500), default="")

    user = relationship("User", foreign_keys=[user_id])


class RequestKey(db.Model):
    """An API request key (Idempotency-Key): a replay returns the first answer, other content is refused."""

    __tablename__ = "merit_request_key"
    __table_args__ = (UniqueConstraint("community_id", "user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    key: Mapped[str] = mapped_column(String(80))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None]
    response_body: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestSent(db.Model):
    """The daily digest of pending approvals sent to one committee member on one day (China time)."""

    __tablename__ = "merit_digest"
    __table_args__ = (UniqueConstraint("community_id", "user_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    day: Mapped[str] = mapped_column(String(10))  # "2026-11-23"
    pending: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
