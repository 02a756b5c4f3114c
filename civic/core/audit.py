"""The audit log of security-relevant actions."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from civic.core.clock import resolve, utcnow
from civic.extensions import db


class AuditEntry(db.Model):
    """Who did what, to whom, from where. Append-only."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


def record(action, *, actor=None, subject=None, community_id=None, address=None, detail=None, now=None):
    """Append an audit entry (flushed with the caller's transaction)."""
    entry = AuditEntry(
        action=action,
        actor_id=getattr(actor, "id", actor),
        subject_id=getattr(subject, "id", subject),
        community_id=community_id,
        address=address,
        detail=detail or {},
        at=resolve(now),
    )
    db.session.add(entry)
    db.session.flush()
    return entry
