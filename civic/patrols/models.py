"""Patrol models: routes, shifts and sign-ups, patrols with their GPS points, service hours,
problem reports (随手拍) with their timeline, and each community's patrol rules."""
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.clock import utcnow
from civic.extensions import db

# BIGINT on PostgreSQL (points add up quickly); INTEGER on SQLite so that it autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class PatrolSettings(db.Model):
    """A community's patrol rules: points per km and per hour of a verified patrol, points per confirmed report,
    the most points and service hours one person earns from patrols in a day, and the community's area
    (a boundary, or a centre and radius) outside which a patrol is flagged."""

    __tablename__ = "patrol_settings"
    __table_args__ = (
        CheckConstraint("points_per_km >= 0 AND points_per_hour >= 0 AND report_points >= 0", name="not_negative"),
        CheckConstraint("max_points_per_patrol > 0", name="max_positive"),
        CheckConstraint("max_points_per_day > 0 AND max_hours_per_day > 0", name="day_caps_positive"),
        CheckConstraint("area_radius_m IS NULL OR area_radius_m > 0", name="radius_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), unique=True, index=True)
    points_per_km: Mapped[int] = mapped_column(default=10)
    points_per_hour: Mapped[int] = mapped_column(default=10)
    max_points_per_patrol: Mapped[int] = mapped_column(default=100)
    report_points: Mapped[int] = mapped_column(default=5)
    max_points_per_day: Mapped[int] = mapped_column(default=200, server_default="200")
    max_hours_per_day: Mapped[int] = mapped_column(default=8, server_default="8")
    area_lat: Mapped[float | None] = mapped_column(Float)
    area_lon: Mapped[float | None] = mapped_column(Float)
    area_radius_m: Mapped[int | None]
    area_boundary: Mapped[list | None] = mapped_column(JSON)  # [[lat, lon], ...], a closed shape

    @property
    def has_area(self):
        return bool(self.area_boundary) or (self.area_lat is not None and self.area_lon is not None
                                             and bool(self.area_radius_m))


class PatrolRoute(db.Model):
    """A patrol route or area: waypoints drawn on the map or taken from a GPX file."""

    __tablename__ = "patrol_route"
    __table_args__ = (UniqueConstraint("community_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(500), default="")
    waypoints: Mapped[list] = mapped_column(JSON, default=list)  # [[lat, lon], ...]
    is_area: Mapped[bool] = mapped_column(default=False)  # a closed area rather than a line
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShiftSeries(db.Model):
    """A weekly recurring shift (e.g. Tuesday and Friday 19:00–21:00); its shifts are made up front."""

    __tablename__ = "patrol_shift_series"
    __table_args__ = (UniqueConstraint("community_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    weekdays: Mapped[str] = mapped_column(String(20))  # "1,4": Monday=0 … Sunday=6
    local_start: Mapped[str] = mapped_column(String(5))  # "19:00", China time
    minutes: Mapped[int]
    first_date: Mapped[str] = mapped_column(String(10))
    last_date: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


SHIFT_STATUSES = ("scheduled", "cancelled")


class Shift(db.Model):
    """One patrol shift with a capacity. `taken` counts active sign-ups; the database keeps it within capacity."""

    __tablename__ = "patrol_shift"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("taken >= 0 AND taken <= capacity", name="within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status"),
        ForeignKeyConstraint(["community_id", "route_id"], ["patrol_route.community_id", "patrol_route.id"]),
        ForeignKeyConstraint(["community_id", "series_id"],
                             ["patrol_shift_series.community_id", "patrol_shift_series.id"]),
        Index("ix_patrol_shift_community_id_starts_at", "community_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    route_id: Mapped[int | None] = mapped_column(index=True)
    series_id: Mapped[int | None] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(80))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    taken: Mapped[int] = mapped_column(default=0)
    meeting_point: Mapped[str] = mapped_column(String(120), default="")
    notes: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attendance_closed_at: Mapped[datetime | None]

    route: Mapped[PatrolRoute | None] = relationship(
        primaryjoin="and_(PatrolRoute.id == foreign(Shift.route_id), PatrolRoute.community_id == Shift.community_id)",
        viewonly=True,
    )

    @property
    def places_left(self):
        return max(self.capacity - self.taken, 0)


SIGNUP_STATUSES = ("signed_up", "withdrawn", "attended", "no_show")


class Signup(db.Model):
    """A volunteer's place on a shift: signed up, withdrawn, attended, or a no-show."""

    __tablename__ = "patrol_signup"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "shift_id", "user_id"),
        CheckConstraint("status IN ('signed_up', 'withdrawn', 'attended', 'no_show')", name="status"),
        ForeignKeyConstraint(["community_id", "shift_id"], ["patrol_shift.community_id", "patrol_shift.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    shift_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="signed_up")
    signed_up_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminded_at: Mapped[datetime | None]

    user = relationship("User")
    shift: Mapped[Shift] = relationship(
        primaryjoin="and_(Shift.id == foreign(Signup.shift_id), Shift.community_id == Signup.community_id)",
        viewonly=True,
    )


PATROL_STATUSES = ("active", "ended", "approved", "rejected")


class Patrol(db.Model):
    """One patrol walked by a volunteer, free or in a shift; reviewed by a coordinator once ended."""

    __tablename__ = "patrol"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint("status IN ('active', 'ended', 'approved', 'rejected')", name="status"),
        CheckConstraint("point_count >= 0 AND distance_m >= 0 AND moving_seconds >= 0", name="not_negative"),
        ForeignKeyConstraint(["community_id", "shift_id"], ["patrol_shift.community_id", "patrol_shift.id"]),
        Index("ix_patrol_community_id_status", "community_id", "status"),
        Index("ix_patrol_community_id_user_id", "community_id", "user_id"),
        # One patrol under way per person, whatever races the phone or a script makes. The index is per
        # community (tenancy: unique keys include community_id); start_patrol refuses one open elsewhere.
        Index("ux_patrol_one_active_per_user", "community_id", "user_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        CheckConstraint("dropped_points >= 0", name="dropped_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    shift_id: Mapped[int | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    last_point_at: Mapped[datetime | None]
    ended_by: Mapped[str] = mapped_column(String(10), default="")  # "volunteer" or "timeout"
    point_count: Mapped[int] = mapped_column(default=0)
    distance_m: Mapped[float] = mapped_column(Float, default=0.0)
    moving_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    flags: Mapped[str] = mapped_column(String(60), default="")  # comma separated: vehicle,teleport
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str] = mapped_column(String(500), default="")
    points_awarded: Mapped[int] = mapped_column(default=0)
    dropped_points: Mapped[int] = mapped_column(default=0, server_default="0")  # fixes outside start..end
    fingerprint: Mapped[str] = mapped_column(String(400), default="", server_default="")  # track.fingerprint()

    user = relationship("User", foreign_keys=[user_id])
    shift: Mapped[Shift | None] = relationship(
        primaryjoin="and_(Shift.id == foreign(Patrol.shift_id), Shift.community_id == Patrol.community_id)",
        viewonly=True,
    )

    @property
    def flag_list(self):
        return [f for f in (self.flags or "").split(",") if f]


class TrackPoint(db.Model):
    """One GPS fix of a patrol. The phone names each fix, so a resent batch adds nothing.

    Kept narrow; on PostgreSQL partitioned by month on `t` (civic.patrols.partitions), so `t` is part of
    the primary key and of the resend key (a resent fix carries the same time).
    """

    __tablename__ = "patrol_track_point"
    __table_args__ = (
        UniqueConstraint("community_id", "patrol_id", "client_id", "t"),
        ForeignKeyConstraint(["community_id", "patrol_id"], ["patrol.community_id", "patrol.id"]),
        Index("ix_patrol_track_point_patrol_id_t", "patrol_id", "t"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="in_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    patrol_id: Mapped[int] = mapped_column()
    client_id: Mapped[str] = mapped_column(String(40))
    t: Mapped[datetime] = mapped_column(primary_key=True)  # when the phone took the fix (naive UTC)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)


class ServiceRecord(db.Model):
    """Verified volunteer service time (志愿服务时长), one row per cause (e.g. "patrol:12")."""

    __tablename__ = "patrol_service_record"
    __table_args__ = (
        UniqueConstraint("community_id", "source"),
        CheckConstraint("seconds >= 0", name="not_negative"),
        Index("ix_patrol_service_record_community_id_user_id", "community_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    source: Mapped[str] = mapped_column(String(40))
    seconds: Mapped[int]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportCategory(db.Model):
    """A kind of problem a resident can report (违法线索, 不文明 …). Default names are msgids."""

    __tablename__ = "patrol_report_category"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    sort: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


REPORT_STATUSES = ("submitted", "accepted", "assigned", "resolved", "confirmed", "closed", "merged")


class Report(db.Model):
    """A problem reported from the street (随手拍), handled through to the reporter's confirmation."""

    __tablename__ = "patrol_report"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint(
            "status IN ('submitted', 'accepted', 'assigned', 'resolved', 'confirmed', 'closed', 'merged')",
            name="status"),
        CheckConstraint("status != 'merged' OR merged_into_id IS NOT NULL", name="merged_has_target"),
        ForeignKeyConstraint(["community_id", "category_id"],
                             ["patrol_report_category.community_id", "patrol_report_category.id"]),
        ForeignKeyConstraint(["community_id", "patrol_id"], ["patrol.community_id", "patrol.id"]),
        ForeignKeyConstraint(["community_id", "merged_into_id"], ["patrol_report.community_id", "patrol_report.id"]),
        Index("ix_patrol_report_community_id_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    category_id: Mapped[int] = mapped_column(index=True)
    patrol_id: Mapped[int | None] = mapped_column(index=True)
    description: Mapped[str] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(60))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    department: Mapped[str] = mapped_column(String(80), default="")
    resolution_photo: Mapped[str | None] = mapped_column(String(60))
    merged_into_id: Mapped[int | None] = mapped_column(index=True)
    points_awarded: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    reporter = relationship("User", foreign_keys=[reporter_id])
    assignee = relationship("User", foreign_keys=[assignee_id])
    category: Mapped[ReportCategory] = relationship(
        primaryjoin="and_(ReportCategory.id == foreign(Report.category_id), "
        "ReportCategory.community_id == Report.community_id)",
        viewonly=True,
    )


class ReportEvent(db.Model):
    """One step of a report's timeline, shown to the reporter. Append-only."""

    __tablename__ = "patrol_report_event"
    __table_args__ = (
        ForeignKeyConstraint(["community_id", "report_id"], ["patrol_report.community_id", "patrol_report.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    report_id: Mapped[int] = mapped_column(index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    action: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(500), default="")
    photo: Mapped[str | None] = mapped_column(String(60))

    actor = relationship("User")
