"""Four eyes on the rules: proposed changes to point-deciding settings and ceilings.

Area administrators (AreaAdmin) live in civic.communities.models with the other roles, since permission checks
read them; it is importable from here for rules' own code and tests.
"""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.communities.models import AreaAdmin  # noqa: F401 - see the docstring
from civic.core.clock import utcnow
from civic.extensions import db

CHANGE_STATUSES = ("pending", "confirmed", "declined", "withdrawn")


class RuleChange(db.Model):
    """A proposed change to a setting that decides how many points are issued; in effect once confirmed."""

    __tablename__ = "rule_change"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint("status IN ('pending', 'confirmed', 'declined', 'withdrawn')", name="status"),
        CheckConstraint("decided_by_id IS NULL OR status = 'withdrawn' OR decided_by_id <> proposed_by_id",
                        name="four_eyes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    area: Mapped[str] = mapped_column(String(30))
    field: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[dict | list | int | None] = mapped_column(JSON)
    new_value: Mapped[dict | list | int | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None]

    proposed_by = relationship("User", foreign_keys=[proposed_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])


class SettingCeiling(db.Model):
    """The most a street's or district's communities may set a point-deciding setting to."""

    __tablename__ = "setting_ceiling"
    __table_args__ = (
        UniqueConstraint("street_id", "district_id", "area", "field"),
        CheckConstraint("(street_id IS NULL) <> (district_id IS NULL)", name="one_area"),
        CheckConstraint("maximum >= 0", name="maximum"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"), index=True)
    area: Mapped[str] = mapped_column(String(30))
    field: Mapped[str] = mapped_column(String(60))
    maximum: Mapped[int]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
