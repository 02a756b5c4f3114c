"""The audit log of security-relevant actions."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from civic.core import outbox
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
    """Append an audit entry. With a community it goes through the outbox (civic.core.outbox): written on the
    community's shard in the caller's transaction, moved into `audit_entry` after the commit. Without one
    (sign-ins, account closure, administrators' actions above the communities) it is written directly."""
    if community_id is not None:
        from civic.core.outbox import AUDIT, enqueue

        return enqueue(AUDIT, community_id, now, {
            "action": action, "actor_id": getattr(actor, "id", actor), "subject_id": getattr(subject, "id", subject),
            "address": address, "detail": detail or {}})
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


outbox.register_target(outbox.AUDIT, AuditEntry, "at")
