"""What the worker writes so that /healthz and /metrics can tell whether it is alive."""
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from civic.extensions import db


class JobRun(db.Model):
    """The last run of one scheduled job (one row per job name; `heartbeat` is the worker itself)."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    last_result: Mapped[str] = mapped_column(String(200), default="")
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
