"""Grid governance tables.

Community-owned (carry community_id): grid roles (the GridRole model lives in civic.communities.models with the
other roles, since permission checks read it), each grid's visiting cycle, visits, and the dispatch case of a
problem report. Street-owned (carry street_id, listed as global in the tenancy test): departments, their staff,
the deadlines by category, and the weekly/monthly summaries.
"""
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.communities.models import GridRole  # noqa: F401 - grid's own code and tests import it from here
from civic.core.clock import utcnow
from civic.extensions import db

GRID_ROLES = ("grid_leader", "grid_worker", "building_head")


class GridCycle(db.Model):
    """How often every household of a grid is visited (e.g. 30 days), set by the committee."""

    __tablename__ = "grid_cycle"
    __table_args__ = (
        UniqueConstraint("community_id", "grid_id"),
        CheckConstraint("days BETWEEN 1 AND 366", name="days"),
        ForeignKeyConstraint(["community_id", "grid_id"], ["grid.community_id", "grid.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int] = mapped_column(index=True)
    days: Mapped[int] = mapped_column(default=30)


class GridSettings(db.Model):
    """A community's grid settings: the points a household visit earns (0 by default: visits are duty and earn
    service hours). A point-deciding setting: changed only through the four-eyes gate (civic.rules)."""

    __tablename__ = "grid_settings"
    __table_args__ = (
        UniqueConstraint("community_id"),
        CheckConstraint("visit_points BETWEEN 0 AND 10000", name="visit_points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    visit_points: Mapped[int] = mapped_column(default=0)


class Visit(db.Model):
    """日走访: a grid worker's visit to a household. Earns service hours; points only if the community decides so."""

    __tablename__ = "grid_visit"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint("minutes BETWEEN 0 AND 480", name="minutes"),
        ForeignKeyConstraint(["community_id", "household_id"], ["household.community_id", "household.id"]),
        ForeignKeyConstraint(["community_id", "report_id"], ["patrol_report.community_id", "patrol_report.id"]),
        Index("ix_grid_visit_community_id_household_id_visited_at", "community_id", "household_id", "visited_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    household_id: Mapped[int] = mapped_column(index=True)
    grid_id: Mapped[int | None] = mapped_column(index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    visited_at: Mapped[datetime] = mapped_column(index=True)
    met: Mapped[str] = mapped_column(String(80), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    photo: Mapped[str | None] = mapped_column(String(60))
    follow_up: Mapped[bool] = mapped_column(default=False)
    minutes: Mapped[int] = mapped_column(default=15)
    report_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    worker = relationship("User", foreign_keys=[worker_id])


class Department(db.Model):
    """A department of a street or district (城管, 市场监管, 派出所, 物业, 供水) that answers the grid's whistle."""

    __tablename__ = "department"
    __table_args__ = (
        UniqueConstraint("street_id", "district_id", "name"),
        CheckConstraint("(street_id IS NULL) <> (district_id IS NULL)", name="one_area"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    active: Mapped[bool] = mapped_column(default=True)


class DepartmentStaff(db.Model):
    """A person who works for a department and handles what is dispatched to it."""

    __tablename__ = "department_staff"
    __table_args__ = (UniqueConstraint("department_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)

    user = relationship("User")


class CategoryDeadline(db.Model):
    """Hours a department has to resolve a kind of problem, set by the street (by category name)."""

    __tablename__ = "category_deadline"
    __table_args__ = (
        UniqueConstraint("street_id", "category"),
        CheckConstraint("hours BETWEEN 1 AND 2160", name="hours"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    hours: Mapped[int]


CASE_LEVELS = ("community", "street", "district")


class Case(db.Model):
    """A problem report escalated above its community: the street dispatches it to a department with a deadline."""

    __tablename__ = "grid_case"
    __table_args__ = (
        UniqueConstraint("community_id", "report_id"),
        CheckConstraint("level IN ('community', 'street', 'district')", name="level"),
        ForeignKeyConstraint(["community_id", "report_id"], ["patrol_report.community_id", "patrol_report.id"]),
        Index("ix_grid_case_street_id_closed", "street_id", "closed"),
        Index("ix_grid_case_department_id_closed", "department_id", "closed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    report_id: Mapped[int] = mapped_column(index=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    level: Mapped[str] = mapped_column(String(10), default="street")
    escalated_at: Mapped[datetime] = mapped_column(default=utcnow)
    escalated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    dispatched_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    overdue: Mapped[bool] = mapped_column(default=False)  # red everywhere once a deadline passed
    closed: Mapped[bool] = mapped_column(default=False)

    department = relationship(Department)
    report = relationship(
        "Report", primaryjoin="and_(Report.id == foreign(Case.report_id), Report.community_id == Case.community_id)",
        viewonly=True)


class Summary(db.Model):
    """周分析 / 月汇总: the figures of one period for a street, one of its communities, or one grid."""

    __tablename__ = "grid_summary"
    __table_args__ = (
        UniqueConstraint("street_id", "community_id", "grid_id", "period", "starts_on"),
        CheckConstraint("period IN ('week', 'month')", name="period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    # a plain number: the summary is placed by street, the grid by community (no cross-placement key)
    grid_id: Mapped[int | None]
    period: Mapped[str] = mapped_column(String(5))
    starts_on: Mapped[datetime]
    ends_on: Mapped[datetime]
    figures: Mapped[dict] = mapped_column(JSON)
    made_at: Mapped[datetime] = mapped_column(default=utcnow)


DISPUTE_STATUSES = ("open", "agreed", "failed", "closed")


class Dispute(db.Model):
    """矛盾纠纷: a neighbour dispute handled by a mediator (调解员): parties, sessions, agreement, follow-up."""

    __tablename__ = "grid_dispute"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint("status IN ('open', 'agreed', 'failed', 'closed')", name="status"),
        ForeignKeyConstraint(["community_id", "report_id"], ["patrol_report.community_id", "patrol_report.id"]),
        ForeignKeyConstraint(["community_id", "mediator_id"], ["membership.community_id", "membership.user_id"]),
        Index("ix_grid_dispute_community_id_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(120))
    parties: Mapped[str] = mapped_column(String(300))
    mediator_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="open")
    agreement: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None]
    follow_up_due_at: Mapped[datetime | None]
    followed_up_at: Mapped[datetime | None]
    follow_up_note: Mapped[str] = mapped_column(String(500), default="")
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    mediator = relationship("User", foreign_keys=[mediator_id])


class DisputeSession(db.Model):
    """One mediation session of a dispute: when, who came, what was said."""

    __tablename__ = "grid_dispute_session"
    __table_args__ = (
        ForeignKeyConstraint(["community_id", "dispute_id"], ["grid_dispute.community_id", "grid_dispute.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    dispute_id: Mapped[int] = mapped_column(index=True)
    held_at: Mapped[datetime]
    attendees: Mapped[str] = mapped_column(String(300), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
