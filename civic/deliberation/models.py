"""Deliberation (议事) models: topics, sessions (Meeting), attendance, agenda items, votes,
residents' objections (一票否决), implementation progress and ratings.

Every table belongs to a community: it carries an indexed community_id, its unique constraints
include it, and its foreign keys to other community-owned tables are composite.
"""
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.clock import utcnow
from civic.core.i18n import N_
from civic.extensions import db

TOPIC_STATUSES = ("proposed", "committee", "scheduled", "merged", "declined")
MEETING_KINDS = {
    "council": N_("Democratic deliberation council"),  # 民主议事会
    "hall": N_("Residents' deliberation hall"),         # 居民议事厅
    "chat": N_("Building heads' chat"),                 # 楼院长杂谈会
    "custom": N_("Other meeting"),
}
MEETING_STATUSES = ("planned", "closed", "cancelled")
SCOPES = ("community", "grid", "invited")
MAJORITIES = ("simple", "two_thirds")
ITEM_STATUSES = ("pending", "voting", "adopted", "rejected", "no_quorum", "evaluating", "vetoed")
CHOICES = ("for", "against", "abstain")
CHECKIN_METHODS = ("scan", "card", "name")


class DeliberationSettings(db.Model):
    """A community's deliberation rules, set by its committee."""

    __tablename__ = "delib_settings"
    __table_args__ = (
        CheckConstraint("support_threshold >= 1", name="support_threshold"),
        CheckConstraint("points_per_attendance >= 0", name="points_per_attendance"),
        CheckConstraint("veto_percent BETWEEN 1 AND 100", name="veto_percent"),
        CheckConstraint("evaluation_days BETWEEN 1 AND 60", name="evaluation_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True, unique=True)
    support_threshold: Mapped[int] = mapped_column(default=5)     # supporters that send a topic to the committee
    points_per_attendance: Mapped[int] = mapped_column(default=2)  # merit points for attending a session
    veto_percent: Mapped[int] = mapped_column(default=30)          # objections, as % of active residents, that veto
    evaluation_days: Mapped[int] = mapped_column(default=7)        # residents' evaluation period of a major item


class Topic(db.Model):
    """议题: proposed by a resident (or the committee); supported; reviewed by the committee."""

    __tablename__ = "delib_topic"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint("status IN ('proposed', 'committee', 'scheduled', 'merged', 'declined')", name="status"),
        CheckConstraint("support_count >= 0", name="support_count"),
        ForeignKeyConstraint(["community_id", "merged_into_id"], ["delib_topic.community_id", "delib_topic.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list] = mapped_column(JSON, default=list)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="proposed")
    support_count: Mapped[int] = mapped_column(default=0)
    merged_into_id: Mapped[int | None] = mapped_column(index=True)
    decline_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    proposer = relationship("User", foreign_keys=[proposer_id])


class TopicSupport(db.Model):
    """One resident's support (附议) for a topic; once each."""

    __tablename__ = "delib_topic_support"
    __table_args__ = (
        UniqueConstraint("community_id", "topic_id", "user_id"),
        ForeignKeyConstraint(["community_id", "topic_id"], ["delib_topic.community_id", "delib_topic.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    topic_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Meeting(db.Model):
    """A deliberation session (议事会): kind, time, place, who is expected, quorum and majority rules."""

    __tablename__ = "delib_meeting"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint("kind IN ('council', 'hall', 'chat', 'custom')", name="kind"),
        CheckConstraint("status IN ('planned', 'closed', 'cancelled')", name="status"),
        CheckConstraint("scope IN ('community', 'grid', 'invited')", name="scope"),
        CheckConstraint("scope != 'grid' OR grid_id IS NOT NULL", name="grid_scope_has_grid"),
        CheckConstraint("majority IN ('simple', 'two_thirds')", name="majority"),
        CheckConstraint("quorum_count >= 0 AND quorum_percent BETWEEN 0 AND 100", name="quorum"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        ForeignKeyConstraint(["community_id", "grid_id"], ["grid.community_id", "grid.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="council")
    custom_kind: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(String(120))
    place: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    scope: Mapped[str] = mapped_column(String(10), default="community")
    grid_id: Mapped[int | None] = mapped_column(index=True)
    quorum_count: Mapped[int] = mapped_column(default=0)     # at least this many present (0: no minimum)
    quorum_percent: Mapped[int] = mapped_column(default=50)  # and at least this % of those expected
    majority: Mapped[str] = mapped_column(String(12), default="simple")
    status: Mapped[str] = mapped_column(String(10), default="planned")
    minutes: Mapped[str] = mapped_column(Text, default="")
    organiser_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    invited_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    organiser = relationship("User", foreign_keys=[organiser_id])
    items = relationship("AgendaItem", order_by="(AgendaItem.position, AgendaItem.id)", viewonly=True,
                         primaryjoin="and_(foreign(AgendaItem.meeting_id) == Meeting.id, "
                                     "foreign(AgendaItem.community_id) == Meeting.community_id)")


class Invitee(db.Model):
    """A person invited to a session whose scope is 'invited'."""

    __tablename__ = "delib_invitee"
    __table_args__ = (
        UniqueConstraint("community_id", "meeting_id", "user_id"),
        ForeignKeyConstraint(["community_id", "meeting_id"], ["delib_meeting.community_id", "delib_meeting.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)


class Attendance(db.Model):
    """签到: one per person per session (the unique constraint makes a second check-in impossible)."""

    __tablename__ = "delib_attendance"
    __table_args__ = (
        UniqueConstraint("community_id", "meeting_id", "user_id"),
        CheckConstraint("method IN ('scan', 'card', 'name')", name="method"),
        ForeignKeyConstraint(["community_id", "meeting_id"], ["delib_meeting.community_id", "delib_meeting.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    method: Mapped[str] = mapped_column(String(6))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    checked_in_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User", foreign_keys=[user_id])


class AgendaItem(db.Model):
    """An item on a session's agenda, voted on, then (if major) evaluated by residents, then implemented."""

    __tablename__ = "delib_agenda_item"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        CheckConstraint(
            "status IN ('pending', 'voting', 'adopted', 'rejected', 'no_quorum', 'evaluating', 'vetoed')",
            name="status"),
        CheckConstraint("votes_for >= 0 AND votes_against >= 0 AND votes_abstain >= 0", name="votes"),
        ForeignKeyConstraint(["community_id", "meeting_id"], ["delib_meeting.community_id", "delib_meeting.id"]),
        ForeignKeyConstraint(["community_id", "topic_id"], ["delib_topic.community_id", "delib_topic.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(index=True)
    topic_id: Mapped[int | None] = mapped_column(index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    is_major: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # The count of each choice and of those present, fixed when the vote closes.
    votes_for: Mapped[int] = mapped_column(default=0)
    votes_against: Mapped[int] = mapped_column(default=0)
    votes_abstain: Mapped[int] = mapped_column(default=0)
    present: Mapped[int] = mapped_column(default=0)
    expected: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[datetime | None]
    evaluation_ends_at: Mapped[datetime | None]
    objections: Mapped[int] = mapped_column(default=0)
    veto_needed: Mapped[int] = mapped_column(default=0)  # objections that veto, fixed when evaluation opens
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    completed_at: Mapped[datetime | None]

    meeting = relationship(Meeting, viewonly=True,
                           primaryjoin="and_(Meeting.id == foreign(AgendaItem.meeting_id), "
                                       "Meeting.community_id == AgendaItem.community_id)")
    responsible = relationship("User", foreign_keys=[responsible_id])


class Vote(db.Model):
    """One vote per checked-in participant per agenda item."""

    __tablename__ = "delib_vote"
    __table_args__ = (
        UniqueConstraint("community_id", "item_id", "user_id"),
        CheckConstraint("choice IN ('for', 'against', 'abstain')", name="choice"),
        ForeignKeyConstraint(["community_id", "item_id"], ["delib_agenda_item.community_id", "delib_agenda_item.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    item_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    choice: Mapped[str] = mapped_column(String(8))
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)


class Objection(db.Model):
    """A resident's objection during the evaluation of a major item; once each."""

    __tablename__ = "delib_objection"
    __table_args__ = (
        UniqueConstraint("community_id", "item_id", "user_id"),
        ForeignKeyConstraint(["community_id", "item_id"], ["delib_agenda_item.community_id", "delib_agenda_item.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    item_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProgressUpdate(db.Model):
    """A progress report on an adopted item, with photos, visible to residents."""

    __tablename__ = "delib_progress"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        ForeignKeyConstraint(["community_id", "item_id"], ["delib_agenda_item.community_id", "delib_agenda_item.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    item_id: Mapped[int] = mapped_column(index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    text: Mapped[str] = mapped_column(Text)
    photos: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author = relationship("User", foreign_keys=[author_id])


class Rating(db.Model):
    """A resident's satisfaction (1–5) with a completed item; once each."""

    __tablename__ = "delib_rating"
    __table_args__ = (
        UniqueConstraint("community_id", "item_id", "user_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
        ForeignKeyConstraint(["community_id", "item_id"], ["delib_agenda_item.community_id", "delib_agenda_item.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    item_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
