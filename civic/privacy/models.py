"""Privacy settings: how long a community keeps raw patrol GPS points."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from civic.core.clock import utcnow
from civic.extensions import db

DEFAULT_GPS_RETENTION_DAYS = 180
MIN_GPS_RETENTION_DAYS = 7
MAX_GPS_RETENTION_DAYS = 3650


class PrivacySettings(db.Model):
    """A community's privacy rules: raw GPS points of finished patrols are deleted after this many days."""

    __tablename__ = "privacy_settings"
    __table_args__ = (
        CheckConstraint(f"gps_retention_days BETWEEN {MIN_GPS_RETENTION_DAYS} AND {MAX_GPS_RETENTION_DAYS}",
                        name="retention_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), unique=True, index=True)
    gps_retention_days: Mapped[int] = mapped_column(default=DEFAULT_GPS_RETENTION_DAYS)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
