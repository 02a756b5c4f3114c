"""District → street/township → community/village → grid, and who belongs where.

Who may act where lives here too, because every area's permission checks read it (civic.core.permissions and
docs/architecture.md): memberships, community roles, grid roles and street/district administrators.
"""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.clock import utcnow
from civic.extensions import db


class District(db.Model):
    """区县."""

    __tablename__ = "district"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Street(db.Model):
    """街道 / 乡镇."""

    __tablename__ = "street"
    __table_args__ = (UniqueConstraint("district_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))

    district: Mapped[District] = relationship()


class Community(db.Model):
    """社区 / 村: the unit that owns almost everything."""

    __tablename__ = "community"
    __table_args__ = (
        UniqueConstraint("street_id", "name"),
        CheckConstraint("kind IN ('community', 'village')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(10), default="community")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    street: Mapped[Street] = relationship()

    @property
    def full_name(self):
        return f"{self.street.district.name} {self.street.name} {self.name}"


class Grid(db.Model):
    """网格: a cell of households looked after by a grid worker."""

    __tablename__ = "grid"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))


class Household(db.Model):
    """户: a household, whose members' passbooks can be summed."""

    __tablename__ = "household"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "label"),
        ForeignKeyConstraint(["community_id", "grid_id"], ["grid.community_id", "grid.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(index=True)
    label: Mapped[str] = mapped_column(String(80))


MEMBERSHIP_STATUSES = ("pending", "active", "rejected", "left")


class Membership(db.Model):
    """A person's residency in a community, confirmed by its committee."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "user_id"),
        CheckConstraint("status IN ('pending', 'active', 'rejected', 'left')", name="status"),
        ForeignKeyConstraint(["community_id", "grid_id"], ["grid.community_id", "grid.id"]),
        ForeignKeyConstraint(["community_id", "household_id"], ["household.community_id", "household.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    grid_id: Mapped[int | None] = mapped_column(index=True)
    household_id: Mapped[int | None] = mapped_column(index=True)
    address: Mapped[str] = mapped_column(String(120), default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    community: Mapped[Community] = relationship()
    user = relationship("User", foreign_keys=[user_id])
    grid: Mapped[Grid | None] = relationship(
        primaryjoin="and_(Grid.id == foreign(Membership.grid_id), Grid.community_id == Membership.community_id)",
        viewonly=True,
    )
    household: Mapped[Household | None] = relationship(
        primaryjoin="and_(Household.id == foreign(Membership.household_id), "
        "Household.community_id == Membership.community_id)",
        viewonly=True,
    )


ROLES = ("committee", "coordinator", "shopkeeper")


class MemberRole(db.Model):
    """A role held in one community, on top of being a resident there."""

    __tablename__ = "member_role"
    __table_args__ = (
        UniqueConstraint("community_id", "user_id", "role"),
        CheckConstraint("role IN ('committee', 'coordinator', 'shopkeeper')", name="role"),
        ForeignKeyConstraint(["community_id", "user_id"], ["membership.community_id", "membership.user_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class GridRole(db.Model):
    """网格长 / 网格员 / 信息员(楼长): a member's role in one grid of their community (managed by civic.grid)."""

    __tablename__ = "grid_role"
    __table_args__ = (
        UniqueConstraint("community_id", "grid_id", "user_id", "role"),
        CheckConstraint("role IN ('grid_leader', 'grid_worker', 'building_head')", name="role"),
        ForeignKeyConstraint(["community_id", "grid_id"], ["grid.community_id", "grid.id"]),
        ForeignKeyConstraint(["community_id", "user_id"], ["membership.community_id", "membership.user_id"]),
        Index("ix_grid_role_community_id_user_id", "community_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    user = relationship("User", foreign_keys=[user_id])


class AreaAdmin(db.Model):
    """A person who administers one street (街道) or one district (区县); assigned by a site administrator
    (civic.rules)."""

    __tablename__ = "area_admin"
    __table_args__ = (
        UniqueConstraint("user_id", "street_id", "district_id"),
        CheckConstraint("(street_id IS NULL) <> (district_id IS NULL)", name="one_area"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    user = relationship("User", foreign_keys=[user_id])
