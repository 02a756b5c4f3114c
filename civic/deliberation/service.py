"""Deliberation rules: the five steps (topics → review → session → decision → implementation),
QR check-in, votes under quorum and majority rules, and the residents' veto (一票否决).

Rules, stated exactly:
- A topic goes to the committee when its supporters reach the community's support threshold
  (the proposer does not count; each resident supports once).
- Check-in is open from CHECKIN_OPENS_BEFORE before a session starts until it ends.
- The rotating check-in code: time is cut into 30-second windows (unix time // 30). The code shown
  in window w is accepted while the current window is w or w + 1, so it works for at least 30 and
  at most 60 seconds after it first appeared (a scan at the boundary still works; a photo passed
  around later does not). The token is signed for the purpose "delib-checkin" and names the session.
- Quorum: at least `quorum_count` present AND present * 100 >= quorum_percent * expected.
- Majority over votes cast (for + against + abstain): simple = for * 2 > cast;
  two thirds = for * 3 >= cast * 2. No votes cast: not adopted.
- A major item that passes opens a residents' evaluation for the community's evaluation_days;
  it is vetoed as soon as objections reach ceil(veto_percent% of the active residents at that
  moment), at least 1; otherwise it is adopted when the period ends.
"""
import logging
import math
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from civic.accounts.models import User
from civic.communities.models import Grid, Membership
from civic.communities.service import committee_of, register_settings_seeder
from civic.core import audit, qr, uploads
from civic.core.clock import local_text as local_time
from civic.core.clock import resolve
from civic.core.db import add_once, lock_due
from civic.core.errors import Conflict, Invalid, PermissionDenied
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import can, require
from civic.deliberation.models import (
    CHOICES,
    MAJORITIES,
    MEETING_KINDS,
    SCOPES,
    AgendaItem,
    Attendance,
    DeliberationSettings,
    Invitee,
    Meeting,
    Objection,
    ProgressUpdate,
    Rating,
    Topic,
    TopicSupport,
    Vote,
)
from civic.extensions import db
from civic.notifications import service as notices
from civic.rules import service as rules
from civic.rules.service import register_settings_field

log = logging.getLogger("civic.deliberation")

CHECKIN_PURPOSE = "delib-checkin"
PERSON_PURPOSE = "person"
WINDOW_SECONDS = 30
CHECKIN_OPENS_BEFORE = timedelta(minutes=30)
REMIND_BEFORE = timedelta(hours=2)
MAX_PHOTOS = 6


# --- settings -----------------------------------------------------------------------------------

def settings_for(community_id):
    """The community's deliberation settings (saved when the community was created; reading never writes)."""
    found = db.session.scalar(select(DeliberationSettings).where(DeliberationSettings.community_id == community_id))
    return found or DeliberationSettings(
        community_id=community_id, support_threshold=5, points_per_attendance=2, veto_percent=30, evaluation_days=7)


register_settings_seeder(DeliberationSettings, settings_for)
register_settings_field("deliberation", "points_per_attendance", N_("Points for attending a meeting"),
                        row=settings_for, maximum=1000)


def update_settings(actor, community_id, *, support_threshold, points_per_attendance, veto_percent, evaluation_days,
                    now=None):
    """The committee sets the support threshold, veto threshold and evaluation period; attendance points are
    proposed (four eyes)."""
    require(actor, "deliberation.manage", community_id)
    if not 1 <= support_threshold <= 10000:
        raise Invalid(N_("The support threshold must be between 1 and 10000."))
    if not 0 <= points_per_attendance <= 1000:
        raise Invalid(N_("Points per attendance must be between 0 and 1000."))
    if not 1 <= veto_percent <= 100:
        raise Invalid(N_("The veto threshold must be between 1 and 100 percent."))
    if not 1 <= evaluation_days <= 60:
        raise Invalid(N_("The evaluation period must be between 1 and 60 days."))
    settings = settings_for(community_id)
    settings.support_threshold = support_threshold
    settings.veto_percent = veto_percent
    settings.evaluation_days = evaluation_days
    db.session.add(settings)
    db.session.flush()
    audit.record("deliberation.settings", actor=actor, community_id=community_id,
                 detail={"support_threshold": support_threshold, "points": points_per_attendance,
                         "veto_percent": veto_percent, "evaluation_days": evaluation_days})
    rules.propose_changes(actor, community_id, "deliberation", {"points_per_attendance": points_per_attendance},
                          now=now)
    return settings


# --- helpers ------------------------------------------------------------------------------------

def _text(value, message, max_length):
    value = (value or "").strip()
    if not value:
        raise Invalid(message)
    if len(value) > max_length:
        raise Invalid(N_("Please keep it under %(n)s characters."), n=max_length)
    return value


def _is_active_member(community_id, user_id):
    return db.session.scalar(select(Membership.id).where(
        Membership.community_id == community_id, Membership.user_id == user_id,
        Membership.status == "active")) is not None


def active_resident_ids(community_id):
    """Ids of the community's active residents."""
    return set(db.session.scalars(select(Membership.user_id).where(
        Membership.community_id == community_id, Membership.status == "active")))


def _notify_many(user_ids, kind, title, body, *, params, community_id, link, now):
    for user_id in sorted(user_ids):
        notices.notify(user_id, kind, title, body, params=params, community_id=community_id, link=link, now=now)


def _tell_committee(community_id, kind, title, body, params, page, *, now):
    """Notify the community's committee, linking to `page` (e.g. "items/7") of its deliberation."""
    _notify_many({u.id for u in committee_of(community_id)}, kind, title, body, params=params,
                 community_id=community_id, link=f"/c/{community_id}/deliberation/{page}", now=now)


def _locked_in(statuses, message, actor, permission, get, community_id, row_id, **error):
    """After the permission check, the topic, meeting or item `get` finds, locked; Conflict(message) unless its
    status is one of `statuses`."""
    require(actor, permission, community_id)
    row = get(community_id, row_id, lock=True)
    if row.status not in statuses:
        raise Conflict(message, **error)
    return row


# --- step 1: topics -----------------------------------------------------------------------------

def get_topic(community_id, topic_id, *, lock=False):
    """A topic of the community, or NotFound."""
    return get_in_community(Topic, community_id, topic_id, lock=lock, missing=N_("No such topic."))


def list_topics(community_id, statuses=None):
    """Topics of a community, newest first, optionally only those in `statuses`."""
    query = select(Topic).where(Topic.community_id == community_id)
    if statuses:
        query = query.where(Topic.status.in_(statuses))
    return db.session.scalars(query.order_by(Topic.created_at.desc(), Topic.id.desc())).all()


def propose_topic(actor, community_id, title, description="", photos=(), *, now=None):
    """A resident proposes a topic (议题); a topic the committee adds goes straight to the committee."""
    require(actor, "deliberation.participate", community_id)
    now = resolve(now)
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise Invalid(N_("At most %(n)s photos."), n=MAX_PHOTOS)
    uploads.check_own(actor, community_id, photos)
    by_committee = can(actor, "deliberation.manage", community_id)
    topic = Topic(
        community_id=community_id, title=_text(title, N_("Please enter a title."), 120),
        description=(description or "").strip()[:5000], photos=photos, proposer_id=actor.id,
        status="committee" if by_committee else "proposed", support_count=0, created_at=now,
    )
    db.session.add(topic)
    db.session.flush()
    uploads.attach(actor, community_id, photos, "topic", topic.id, now=now)
    return topic


def has_supported(user, topic):
    """True when `user` has supported the topic."""
    return db.session.scalar(select(TopicSupport.id).where(
        TopicSupport.community_id == topic.community_id, TopicSupport.topic_id == topic.id,
        TopicSupport.user_id == user.id)) is not None


def support_topic(actor, community_id, topic_id, *, now=None):
    """A resident supports (附议) a topic, once; at the threshold it goes to the committee."""
    topic = _locked_in(("proposed", "committee"), N_("This topic is no longer open for support."),
                       actor, "deliberation.participate", get_topic, community_id, topic_id)
    now = resolve(now)
    if topic.proposer_id == actor.id:
        raise Conflict(N_("You proposed this topic; ask your neighbours to support it."))
    add_once(TopicSupport(community_id=community_id, topic_id=topic.id, user_id=actor.id, created_at=now),
             N_("You have already supported this topic."), "already_supported")
    topic.support_count += 1
    if topic.status == "proposed" and topic.support_count >= settings_for(community_id).support_threshold:
        topic.status = "committee"
        _tell_committee(community_id, "deliberation.topic_ready", N_("Topic ready for review: %(title)s"),
                        N_("%(n)s residents support it. Please put it on an agenda, merge or decline it."),
                        {"title": topic.title, "n": topic.support_count}, f"topics/{topic.id}", now=now)
    db.session.flush()
    return topic


# --- step 2: review -----------------------------------------------------------------------------

def _reviewable(actor, community_id, topic_id):
    return _locked_in(("proposed", "committee"), N_("This topic has already been reviewed."),
                      actor, "deliberation.manage", get_topic, community_id, topic_id)


def schedule_topic(actor, community_id, topic_id, meeting_id, *, is_major=False, now=None):
    """The committee puts a topic on a session's agenda."""
    topic = _reviewable(actor, community_id, topic_id)
    now = resolve(now)
    item = add_agenda_item(actor, community_id, meeting_id, topic.title, topic.description,
                           is_major=is_major, topic_id=topic.id)
    topic.status = "scheduled"
    topic.reviewed_at, topic.reviewed_by_id = now, actor.id
    db.session.flush()
    notices.notify(topic.proposer_id, "deliberation.topic_scheduled", N_("Your topic is on the agenda: %(title)s"),
                   N_("It will be discussed at %(meeting)s."),
                   params={"title": topic.title, "meeting": item.meeting.title}, community_id=community_id,
                   link=f"/c/{community_id}/deliberation/meetings/{meeting_id}", now=now)
    return item


def merge_topic(actor, community_id, topic_id, into_topic_id, *, now=None):
    """The committee merges a topic into another; its supporters are carried over."""
    if topic_id == into_topic_id:
        raise Invalid(N_("A topic cannot be merged into itself."))
    topic = _reviewable(actor, community_id, topic_id)
    target = get_topic(community_id, into_topic_id, lock=True)
    if target.status in ("merged", "declined"):
        raise Conflict(N_("Choose a topic that is still open."))
    now = resolve(now)
    carried = set(db.session.scalars(select(TopicSupport.user_id).where(
        TopicSupport.community_id == community_id, TopicSupport.topic_id == topic.id))) | {topic.proposer_id}
    already = set(db.session.scalars(select(TopicSupport.user_id).where(
        TopicSupport.community_id == community_id, TopicSupport.topic_id == target.id)))
    for user_id in sorted(carried - already - {target.proposer_id}):
        db.session.add(TopicSupport(community_id=community_id, topic_id=target.id, user_id=user_id, created_at=now))
        target.support_count += 1
    topic.status, topic.merged_into_id = "merged", target.id
    topic.reviewed_at, topic.reviewed_by_id = now, actor.id
    db.session.flush()
    notices.notify(topic.proposer_id, "deliberation.topic_merged", N_("Your topic was merged: %(title)s"),
                   N_("It will be handled together with \"%(into)s\"."),
                   params={"title": topic.title, "into": target.title}, community_id=community_id,
                   link=f"/c/{community_id}/deliberation/topics/{target.id}", now=now)
    return topic


def decline_topic(actor, community_id, topic_id, reason, *, now=None):
    """The committee declines a topic with a reason that is published."""
    topic = _reviewable(actor, community_id, topic_id)
    now = resolve(now)
    topic.decline_reason = _text(reason, N_("Please give the reason, which residents will see."), 500)
    topic.status = "declined"
    topic.reviewed_at, topic.reviewed_by_id = now, actor.id
    db.session.flush()
    notices.notify(topic.proposer_id, "deliberation.topic_declined", N_("Your topic was declined: %(title)s"),
                   N_("Reason: %(reason)s"), params={"title": topic.title, "reason": topic.decline_reason},
                   community_id=community_id, link=f"/c/{community_id}/deliberation/topics/{topic.id}", now=now)
    return topic


def review_topic(actor, community_id, topic_id, action, *, meeting_id=None, is_major=False, into_topic_id=None,
                 reason="", now=None):
    """The committee's review of a topic, for the page and the API alike: put it on a session's agenda
    ("agenda"), merge it into another topic ("merge"), or decline it with a reason ("decline"). Returns the topic."""
    if action == "agenda":
        if not meeting_id:
            raise Invalid(N_("Please choose a meeting."))
        schedule_topic(actor, community_id, topic_id, meeting_id, is_major=is_major, now=now)
    elif action == "merge":
        if not into_topic_id:
            raise Invalid(N_("Please choose the topic to merge into."))
        merge_topic(actor, community_id, topic_id, into_topic_id, now=now)
    elif action == "decline":
        decline_topic(actor, community_id, topic_id, reason, now=now)
    else:
        raise Invalid()
    return get_topic(community_id, topic_id)


# --- step 3: sessions ---------------------------------------------------------------------------

def get_meeting(community_id, meeting_id, *, lock=False):
    """A session of the community, or NotFound."""
    return get_in_community(Meeting, community_id, meeting_id, lock=lock, missing=N_("No such meeting."))


def list_meetings(community_id, *, upcoming=None, now=None):
    """Sessions of a community: all, or only those still planned (upcoming=True) or closed (False)."""
    query = select(Meeting).where(Meeting.community_id == community_id)
    if upcoming is True:
        query = query.where(Meeting.status == "planned").order_by(Meeting.starts_at, Meeting.id)
    elif upcoming is False:
        query = query.where(Meeting.status == "closed").order_by(Meeting.starts_at.desc(), Meeting.id.desc())
    else:
        query = query.order_by(Meeting.starts_at.desc(), Meeting.id.desc())
    return db.session.scalars(query).all()


def kind_label(meeting):
    """The kind's msgid (or the custom name) of a session."""
    return meeting.custom_kind if meeting.kind == "custom" else MEETING_KINDS[meeting.kind]


def create_meeting(actor, community_id, *, title, kind, place, starts_at, ends_at, scope="community",
                   custom_kind="", grid_id=None, invitee_ids=(), quorum_count=0, quorum_percent=50,
                   majority="simple", now=None):
    """The committee plans a session; invitations go out from the scheduled job."""
    require(actor, "deliberation.manage", community_id)
    now = resolve(now)
    if kind not in MEETING_KINDS:
        raise Invalid(N_("Please choose the kind of meeting."))
    custom_kind = (custom_kind or "").strip()[:40]
    if kind == "custom" and not custom_kind:
        raise Invalid(N_("Please name the kind of meeting."))
    if scope not in SCOPES:
        raise Invalid(N_("Please choose who is expected."))
    if majority not in MAJORITIES:
        raise Invalid(N_("Please choose the majority rule."))
    if not isinstance(starts_at, datetime) or not isinstance(ends_at, datetime) or ends_at <= starts_at:
        raise Invalid(N_("The meeting must end after it starts."))
    if ends_at - starts_at > timedelta(hours=24):
        raise Invalid(N_("A meeting lasts at most one day."))
    if not 0 <= (quorum_count or 0) <= 100000 or not 0 <= (quorum_percent or 0) <= 100:
        raise Invalid(N_("The quorum must be a number of people and a percentage between 0 and 100."))
    if scope == "grid":
        if grid_id is None or db.session.scalar(
                select(Grid.id).where(Grid.community_id == community_id, Grid.id == grid_id)) is None:
            raise Invalid(N_("Please choose a grid of this community."))
    else:
        grid_id = None
    invitee_ids = sorted(set(invitee_ids or ()))
    if scope == "invited":
        if not invitee_ids:
            raise Invalid(N_("Please choose at least one person to invite."))
        residents = active_resident_ids(community_id)
        if any(uid not in residents for uid in invitee_ids):
            raise Invalid(N_("Only residents of this community can be invited."))
    meeting = Meeting(
        community_id=community_id, title=_text(title, N_("Please enter a title."), 120), kind=kind,
        custom_kind=custom_kind if kind == "custom" else "", place=_text(place, N_("Please enter the place."), 120),
        starts_at=starts_at, ends_at=ends_at, scope=scope, grid_id=grid_id, quorum_count=quorum_count or 0,
        quorum_percent=quorum_percent or 0, majority=majority, status="planned", minutes="",
        organiser_id=actor.id, created_at=now,
    )
    db.session.add(meeting)
    db.session.flush()
    if scope == "invited":
        db.session.add_all([Invitee(community_id=community_id, meeting_id=meeting.id, user_id=uid)
                            for uid in invitee_ids])
        db.session.flush()
    audit.record("deliberation.meeting_created", actor=actor, community_id=community_id, detail={"meeting": meeting.id})
    return meeting


def expected_ids(meeting):
    """Ids of the people expected at a session (应到)."""
    if meeting.scope == "invited":
        return set(db.session.scalars(select(Invitee.user_id).where(
            Invitee.community_id == meeting.community_id, Invitee.meeting_id == meeting.id)))
    query = select(Membership.user_id).where(
        Membership.community_id == meeting.community_id, Membership.status == "active")
    if meeting.scope == "grid":
        query = query.where(Membership.grid_id == meeting.grid_id)
    return set(db.session.scalars(query))


def _expected_query(meeting, column):
    if meeting.scope == "invited":
        return select(column(Invitee)).where(Invitee.community_id == meeting.community_id,
                                             Invitee.meeting_id == meeting.id)
    query = select(column(Membership)).where(
        Membership.community_id == meeting.community_id, Membership.status == "active")
    if meeting.scope == "grid":
        query = query.where(Membership.grid_id == meeting.grid_id)
    return query


def is_expected(meeting, user_id):
    """True when the person is expected at the session."""
    model = Invitee if meeting.scope == "invited" else Membership
    return db.session.scalar(_expected_query(meeting, lambda m: m.id).where(model.user_id == user_id)) is not None


def expected_count(meeting):
    """How many are expected (应到)."""
    return db.session.scalar(_expected_query(meeting, lambda m: func.count(m.id)))


def present_count(meeting):
    """How many have checked in (实到)."""
    return db.session.scalar(select(func.count()).select_from(Attendance).where(
        Attendance.community_id == meeting.community_id, Attendance.meeting_id == meeting.id))


def attendance_counts(meeting):
    """(expected, present) for a session."""
    return expected_count(meeting), present_count(meeting)


def add_agenda_item(actor, community_id, meeting_id, title, description="", *, is_major=False, topic_id=None):
    """The committee adds an item to a session's agenda."""
    meeting = _locked_in(("planned",), N_("This meeting is over; its agenda cannot change."),
                         actor, "deliberation.manage", get_meeting, community_id, meeting_id)
    position = (db.session.scalar(select(func.max(AgendaItem.position)).where(
        AgendaItem.community_id == community_id, AgendaItem.meeting_id == meeting.id)) or 0) + 1
    item = AgendaItem(community_id=community_id, meeting_id=meeting.id, topic_id=topic_id, position=position,
                      title=_text(title, N_("Please enter a title."), 120),
                      description=(description or "").strip()[:5000],
                      is_major=bool(is_major), status="pending")
    db.session.add(item)
    db.session.flush()
    return item


def record_minutes(actor, community_id, meeting_id, text):
    """The committee records the minutes (会议记录) during or after the session."""
    require(actor, "deliberation.manage", community_id)
    meeting = get_meeting(community_id, meeting_id, lock=True)
    if meeting.status == "cancelled":
        raise Conflict(N_("This meeting was cancelled."))
    meeting.minutes = (text or "").strip()[:20000]
    db.session.flush()
    return meeting


def close_meeting(actor, community_id, meeting_id, *, now=None):
    """The committee closes a session and publishes its results and minutes on the notice board."""
    meeting = _locked_in(("planned",), N_("This meeting is already closed."),
                         actor, "deliberation.manage", get_meeting, community_id, meeting_id)
    now = resolve(now)
    if any(item.status == "voting" for item in meeting.items):
        raise Conflict(N_("Close the open vote first."))
    meeting.status, meeting.closed_at = "closed", now
    db.session.flush()
    _notify_many(active_resident_ids(community_id), "deliberation.published", N_("Results published: %(title)s"),
                 N_("The results and minutes of the meeting are on the notice board."),
                 params={"title": meeting.title}, community_id=community_id,
                 link=f"/c/{community_id}/deliberation/meetings/{meeting.id}/notice", now=now)
    audit.record("deliberation.meeting_closed", actor=actor, community_id=community_id, detail={"meeting": meeting.id})
    return meeting


# --- QR check-in --------------------------------------------------------------------------------

def _window(now):
    return int(qr.unix_seconds(now) // WINDOW_SECONDS)


def checkin_token(meeting, *, now=None):
    """The check-in code of the current 30-second window: (token, seconds until the next code)."""
    now = resolve(now)
    window = _window(now)
    start = datetime(1970, 1, 1) + timedelta(seconds=window * WINDOW_SECONDS)
    token = qr.make_token(CHECKIN_PURPOSE, {"c": meeting.community_id, "m": meeting.id, "w": window},
                          ttl_seconds=2 * WINDOW_SECONDS, now=start)
    return token, (start + timedelta(seconds=WINDOW_SECONDS) - now).total_seconds()


def read_checkin_token(token, *, now=None):
    """Verify a scanned check-in code; returns (community_id, meeting_id) or raises Invalid."""
    now = resolve(now)
    data = qr.read_token(CHECKIN_PURPOSE, token, now=now)
    try:
        window, community_id, meeting_id = int(data["w"]), int(data["c"]), int(data["m"])
    except (KeyError, TypeError, ValueError):
        raise Invalid(N_("This code is not valid."), reason="bad_token") from None
    if _window(now) - window not in (0, 1):
        raise Invalid(N_("This code has expired. Please scan the current one."), reason="expired_token")
    return community_id, meeting_id


def meeting_named_by(token):
    """(community_id, meeting_id) that a genuine check-in code names even when it is out of date, else None:
    the way back to the meeting after a refused scan, never a way to check in."""
    try:
        data = qr.read_token(CHECKIN_PURPOSE, token, ignore_expiry=True)
        return int(data["c"]), int(data["m"])
    except (Invalid, KeyError, TypeError, ValueError):
        return None


def person_token(user):
    """The long-lived token on a resident's personal QR card (signed for the purpose "person")."""
    return qr.make_token(PERSON_PURPOSE, {"u": user.id})


def read_person_token(token):
    """The user id on a personal QR card, or Invalid."""
    data = qr.read_token(PERSON_PURPOSE, (token or "").strip())
    try:
        return int(data["u"])
    except (KeyError, TypeError, ValueError):
        raise Invalid(N_("This code is not valid."), reason="bad_token") from None


def checkin_open(meeting, now):
    """Raise Conflict with a clear message unless check-in is open for the session now."""
    if meeting.status == "cancelled":
        raise Conflict(N_("This meeting was cancelled."), reason="outside_window")
    if meeting.status == "closed" or now > meeting.ends_at:
        raise Conflict(N_("This meeting has ended; check-in is closed."), reason="outside_window")
    if now < meeting.starts_at - CHECKIN_OPENS_BEFORE:
        raise Conflict(N_("Check-in opens 30 minutes before the meeting starts."), reason="outside_window")


class CheckIn:
    """The outcome of a check-in: the attendance and whether it was new."""

    def __init__(self, attendance, created, meeting, user):
        self.attendance, self.created, self.meeting, self.user = attendance, created, meeting, user

    @property
    def already(self):
        return not self.created


def _check_in(meeting, user_id, method, recorded_by=None, *, now):
    checkin_open(meeting, now)
    user = db.session.get(User, user_id)
    if user is None or not is_expected(meeting, user_id):
        raise PermissionDenied(N_("You are not on the list for this meeting. Please ask the organiser."),
                               reason="not_expected")
    query = select(Attendance).where(Attendance.community_id == meeting.community_id,
                                     Attendance.meeting_id == meeting.id, Attendance.user_id == user_id)
    existing = db.session.scalar(query)
    if existing is not None:
        if recorded_by is not None and recorded_by.id != user_id:
            _attendance_award(meeting, user_id, recorded_by, now)  # another organiser vouches for a self-record
        return CheckIn(existing, False, meeting, user)
    try:
        with db.session.begin_nested():
            attendance = Attendance(community_id=meeting.community_id, meeting_id=meeting.id, user_id=user_id,
                                    method=method, recorded_by_id=getattr(recorded_by, "id", None), checked_in_at=now)
            db.session.add(attendance)
    except IntegrityError:  # a concurrent twin (double tap) committed first
        return CheckIn(db.session.scalar(query), False, meeting, user)
    if recorded_by is None or recorded_by.id != user_id:
        _attendance_award(meeting, user_id, recorded_by, now)
    db.session.flush()
    return CheckIn(attendance, True, meeting, user)


def _attendance_award(meeting, user_id, recorded_by, now):
    """Attendance points go on the public notice board (one award per meeting and person). An organiser
    who records their own attendance by name or card is counted present but earns nothing until a
    different organiser records them too; a resident scanning the rotating code earns them (the code
    proves presence)."""
    from civic.merit.service import put_award_on_notice

    points = settings_for(meeting.community_id).points_per_attendance
    return put_award_on_notice(meeting.community_id, user_id, points, source_kind="meeting", source_id=meeting.id,
                               category="meeting", reason=meeting.title[:80], decided_by=recorded_by, now=now)


def self_recorded_without_points(check_in):
    """True when an organiser recorded their own attendance: present, but no points until someone else records it."""
    attendance = check_in.attendance
    return (attendance.recorded_by_id == attendance.user_id
            and not _has_attendance_award(check_in.meeting, attendance.user_id))


def _has_attendance_award(meeting, user_id):
    from civic.merit.service import sourced_award

    return sourced_award(meeting.community_id, "meeting", meeting.id, user_id) is not None


def check_in_by_scan(actor, token, *, now=None):
    """A signed-in resident checks in with the rotating code they scanned."""
    now = resolve(now)
    community_id, meeting_id = read_checkin_token(token, now=now)
    require(actor, "deliberation.participate", community_id)
    return _check_in(get_meeting(community_id, meeting_id), actor.id, "scan", now=now)


def check_in_by_card(actor, community_id, meeting_id, card_token, *, now=None):
    """The organiser scans a resident's personal QR card."""
    require(actor, "deliberation.manage", community_id)
    user_id = read_person_token(card_token)
    if not _is_active_member(community_id, user_id):
        raise PermissionDenied(N_("This card belongs to someone who is not a resident here."), reason="not_expected")
    return _check_in(get_meeting(community_id, meeting_id), user_id, "card", actor, now=resolve(now))


def check_in_by_name(actor, community_id, meeting_id, user_id, *, now=None):
    """The organiser checks in someone on the expected list by name."""
    require(actor, "deliberation.manage", community_id)
    return _check_in(get_meeting(community_id, meeting_id), user_id, "name", actor, now=resolve(now))


def attendance_list(meeting):
    """[(user, membership, attendance or None)] for everyone expected, present first, then by name."""
    expected = expected_ids(meeting)
    present = {a.user_id: a for a in db.session.scalars(select(Attendance).where(
        Attendance.community_id == meeting.community_id, Attendance.meeting_id == meeting.id))}
    rows = db.session.execute(select(User, Membership).join(Membership, Membership.user_id == User.id).where(
        Membership.community_id == meeting.community_id, User.id.in_(expected | set(present)))).all()
    result = [(user, membership, present.get(user.id)) for user, membership in rows]
    result.sort(key=lambda r: (r[2] is None, r[2].checked_in_at if r[2] else datetime.min, r[0].display_name, r[0].id))
    return result


def figures(community_ids, since, until):
    """Meetings closed and decisions taken in [since, until), for the area command page (civic.grid.command):
    ({community_id: meetings}, {community_id: {"adopted" | "rejected" | "vetoed": items}}). Two statements."""
    meetings = dict(db.session.execute(select(Meeting.community_id, func.count()).where(
        Meeting.community_id.in_(community_ids), Meeting.status == "closed", Meeting.starts_at >= since,
        Meeting.starts_at < until).group_by(Meeting.community_id)).all())
    decisions = defaultdict(dict)
    for cid, status, n in db.session.execute(
            select(AgendaItem.community_id, AgendaItem.status, func.count()).where(
                AgendaItem.community_id.in_(community_ids), AgendaItem.status.in_(("adopted", "rejected", "vetoed")),
                AgendaItem.decided_at >= since, AgendaItem.decided_at < until)
            .group_by(AgendaItem.community_id, AgendaItem.status)):
        decisions[cid][status] = n
    return meetings, decisions


def latest_meetings(community_id, *, limit=30):
    """A community's latest meetings with how many items each passed, rejected or vetoed, for the area command
    page's read-only look at one community: [(meeting, {"adopted" | "rejected" | "vetoed": items})]. Two statements."""
    meetings = db.session.scalars(select(Meeting).where(Meeting.community_id == community_id)
                                  .order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(limit)).all()
    decided = defaultdict(dict)
    for meeting_id, status, n in db.session.execute(
            select(AgendaItem.meeting_id, AgendaItem.status, func.count()).where(
                AgendaItem.community_id == community_id, AgendaItem.meeting_id.in_([m.id for m in meetings] or [0]),
                AgendaItem.status.in_(("adopted", "rejected", "vetoed")))
            .group_by(AgendaItem.meeting_id, AgendaItem.status)):
        decided[meeting_id][status] = n
    return [(m, decided[m.id]) for m in meetings]


def is_present(meeting, user_id):
    """True when the person has checked in at the session."""
    return db.session.scalar(select(Attendance.id).where(
        Attendance.community_id == meeting.community_id, Attendance.meeting_id == meeting.id,
        Attendance.user_id == user_id)) is not None


# --- step 4: decision ---------------------------------------------------------------------------

def quorum_met(quorum_count, quorum_percent, present, expected):
    """At least quorum_count present and at least quorum_percent % of those expected."""
    return present >= quorum_count and present * 100 >= quorum_percent * expected


def majority_passed(majority, votes_for, votes_against, votes_abstain):
    """Whether the votes cast adopt the item under the majority rule."""
    cast = votes_for + votes_against + votes_abstain
    if cast == 0:
        return False
    if majority == "two_thirds":
        return votes_for * 3 >= cast * 2
    return votes_for * 2 > cast


def veto_needed(veto_percent, residents):
    """Objections that veto a major item: veto_percent % of the active residents, rounded up, at least 1."""
    return max(1, math.ceil(veto_percent * residents / 100))


def get_item(community_id, item_id, *, lock=False):
    """An agenda item of the community, or NotFound."""
    return get_in_community(AgendaItem, community_id, item_id, lock=lock, missing=N_("No such agenda item."))


def open_vote(actor, community_id, item_id, *, now=None):
    """The committee opens the vote on an agenda item."""
    require(actor, "deliberation.manage", community_id)
    item = get_item(community_id, item_id, lock=True)
    if item.meeting.status != "planned":
        raise Conflict(N_("This meeting is over."))
    if item.status != "pending":
        raise Conflict(N_("This item has already been voted on."))
    item.status = "voting"
    db.session.flush()
    return item


def open_or_close_vote(actor, community_id, item_id, open_, *, now=None):
    """The committee opens the vote on an item (`open_`) or closes it, for the page and the API alike."""
    if open_:
        return open_vote(actor, community_id, item_id, now=now)
    return close_vote(actor, community_id, item_id, now=now)


def my_vote(item, user_id):
    """The person's choice on an item, or None."""
    return db.session.scalar(select(Vote.choice).where(
        Vote.community_id == item.community_id, Vote.item_id == item.id, Vote.user_id == user_id))


def cast_vote(actor, community_id, item_id, choice, *, now=None):
    """A checked-in participant votes once on an item: for, against or abstain."""
    require(actor, "deliberation.participate", community_id)
    now = resolve(now)
    if choice not in CHOICES:
        raise Invalid(N_("Please choose for, against or abstain."))
    item = get_item(community_id, item_id)
    if item.status != "voting":
        raise Conflict(N_("Voting on this item is not open."), reason="vote_closed")
    if not is_present(item.meeting, actor.id):
        raise PermissionDenied(N_("Only people who have checked in at the meeting can vote."), reason="not_present")
    add_once(Vote(community_id=community_id, item_id=item.id, user_id=actor.id, choice=choice, cast_at=now),
             N_("You have already voted on this item."), "already_voted")
    return item


def vote_counts(item):
    """{choice: count} of the votes cast on an item so far."""
    counts = dict.fromkeys(CHOICES, 0)
    counts.update(dict(db.session.execute(select(Vote.choice, func.count()).where(
        Vote.community_id == item.community_id, Vote.item_id == item.id).group_by(Vote.choice)).all()))
    return counts


def close_vote(actor, community_id, item_id, *, now=None):
    """The committee closes the vote: the result is fixed under the quorum and majority rules."""
    item = _locked_in(("voting",), N_("Voting on this item is not open."),
                      actor, "deliberation.manage", get_item, community_id, item_id)
    now = resolve(now)
    meeting = item.meeting
    counts = vote_counts(item)
    item.votes_for, item.votes_against, item.votes_abstain = counts["for"], counts["against"], counts["abstain"]
    item.expected, item.present = attendance_counts(meeting)
    item.decided_at = now
    if not quorum_met(meeting.quorum_count, meeting.quorum_percent, item.present, item.expected):
        item.status = "no_quorum"
    elif not majority_passed(meeting.majority, item.votes_for, item.votes_against, item.votes_abstain):
        item.status = "rejected"
    elif item.is_major:
        settings = settings_for(community_id)
        item.status = "evaluating"
        item.evaluation_ends_at = now + timedelta(days=settings.evaluation_days)
        item.veto_needed = veto_needed(settings.veto_percent, len(active_resident_ids(community_id)))
        _notify_many(active_resident_ids(community_id), "deliberation.evaluation", N_("Your view is needed: %(title)s"),
                     N_("This major decision can be vetoed by residents until %(until)s."),
                     params={"title": item.title, "until": local_time(item.evaluation_ends_at)},
                     community_id=community_id, link=f"/c/{community_id}/deliberation/items/{item.id}", now=now)
    else:
        item.status = "adopted"
    db.session.flush()
    audit.record("deliberation.vote_closed", actor=actor, community_id=community_id,
                 detail={"item": item.id, "status": item.status, **counts, "present": item.present,
                         "expected": item.expected})
    return item


def has_objected(item, user_id):
    """True when the person has objected to the item."""
    return db.session.scalar(select(Objection.id).where(
        Objection.community_id == item.community_id, Objection.item_id == item.id,
        Objection.user_id == user_id)) is not None


def object_to_item(actor, community_id, item_id, reason="", *, now=None):
    """A resident objects to a major decision during its evaluation; at the threshold it is vetoed (一票否决)."""
    item = _locked_in(("evaluating",), N_("This decision is not open for residents' evaluation."),
                      actor, "deliberation.participate", get_item, community_id, item_id, reason="not_evaluating")
    now = resolve(now)
    if now >= item.evaluation_ends_at:
        raise Conflict(N_("The evaluation period has ended."), reason="not_evaluating")
    add_once(Objection(community_id=community_id, item_id=item.id, user_id=actor.id,
                       reason=(reason or "").strip()[:500], created_at=now),
             N_("You have already objected to this decision."), "already_objected")
    item.objections += 1
    if item.objections >= item.veto_needed:
        item.status = "vetoed"
        _tell_committee(community_id, "deliberation.vetoed", N_("Vetoed by residents: %(title)s"),
                        N_("%(n)s residents objected, reaching the veto threshold."),
                        {"title": item.title, "n": item.objections}, f"items/{item.id}", now=now)
    db.session.flush()
    return item


def finish_evaluations(*, now=None, limit=200):
    """Adopt major items whose evaluation ended without reaching the veto (run by the worker)."""
    now = resolve(now)
    done = 0
    for item in lock_due(AgendaItem, AgendaItem.status == "evaluating", AgendaItem.evaluation_ends_at <= now,
                         limit=limit):
        item.status = "adopted"
        done += 1
        _tell_committee(item.community_id, "deliberation.adopted", N_("Adopted after residents' evaluation: %(title)s"),
                        N_("Please name the person responsible for carrying it out."),
                        {"title": item.title}, f"items/{item.id}", now=now)
    db.session.flush()
    return done


def decisions(community_id):
    """Agenda items that have been decided, newest first (the notice board)."""
    return db.session.scalars(select(AgendaItem).where(
        AgendaItem.community_id == community_id, AgendaItem.decided_at.is_not(None))
        .order_by(AgendaItem.decided_at.desc(), AgendaItem.id.desc())).all()


# --- step 5: implementation ---------------------------------------------------------------------

def _may_report(actor, item):
    return can(actor, "deliberation.manage", item.community_id) or item.responsible_id == actor.id


def assign_responsible(actor, community_id, item_id, user_id, *, now=None):
    """The committee names the person responsible for carrying out an adopted item."""
    item = _locked_in(("adopted",), N_("Only adopted items are carried out."),
                      actor, "deliberation.manage", get_item, community_id, item_id)
    if not _is_active_member(community_id, user_id):
        raise Invalid(N_("Please choose a resident of this community."))
    item.responsible_id = user_id
    db.session.flush()
    notices.notify(user_id, "deliberation.responsible", N_("You are responsible for: %(title)s"),
                   N_("Please post progress with photos so residents can follow it."), params={"title": item.title},
                   community_id=community_id, link=f"/c/{community_id}/deliberation/items/{item.id}", now=resolve(now))
    return item


def add_progress(actor, community_id, item_id, text, photos=(), *, now=None):
    """The responsible person (or the committee) posts progress with photos, visible to residents."""
    require(actor, "deliberation.participate", community_id)
    item = get_item(community_id, item_id)
    if not _may_report(actor, item):
        raise PermissionDenied(N_("Only the responsible person or the committee can post progress."))
    if item.status != "adopted":
        raise Conflict(N_("Only adopted items are carried out."))
    if item.completed_at is not None:
        raise Conflict(N_("This item is already completed."))
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise Invalid(N_("At most %(n)s photos."), n=MAX_PHOTOS)
    uploads.check_own(actor, community_id, photos)
    update = ProgressUpdate(community_id=community_id, item_id=item.id, author_id=actor.id,
                            text=_text(text, N_("Please describe the progress."), 2000), photos=photos,
                            created_at=resolve(now))
    db.session.add(update)
    db.session.flush()
    uploads.attach(actor, community_id, photos, "progress", update.id, now=now)
    return update


def progress_of(item):
    """Progress updates of an item, oldest first."""
    return db.session.scalars(select(ProgressUpdate).where(
        ProgressUpdate.community_id == item.community_id, ProgressUpdate.item_id == item.id)
        .order_by(ProgressUpdate.created_at, ProgressUpdate.id)).all()


def complete_item(actor, community_id, item_id, *, now=None):
    """The responsible person or the committee marks an item done; residents can then rate it."""
    require(actor, "deliberation.participate", community_id)
    now = resolve(now)
    item = get_item(community_id, item_id, lock=True)
    if not _may_report(actor, item):
        raise PermissionDenied(N_("Only the responsible person or the committee can post progress."))
    if item.status != "adopted":
        raise Conflict(N_("Only adopted items are carried out."))
    if item.completed_at is not None:
        raise Conflict(N_("This item is already completed."))
    item.completed_at = now
    db.session.flush()
    _notify_many(active_resident_ids(community_id), "deliberation.completed", N_("Completed: %(title)s"),
                 N_("Please rate how satisfied you are."), params={"title": item.title},
                 community_id=community_id, link=f"/c/{community_id}/deliberation/items/{item.id}", now=now)
    return item


def rate_item(actor, community_id, item_id, score, comment="", *, now=None):
    """A resident rates a completed item 1–5, once."""
    require(actor, "deliberation.participate", community_id)
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise Invalid(N_("Please choose 1 to 5 stars."))
    item = get_item(community_id, item_id)
    if item.completed_at is None:
        raise Conflict(N_("You can rate it once it is completed."))
    rating = add_once(Rating(community_id=community_id, item_id=item.id, user_id=actor.id, score=score,
                             comment=(comment or "").strip()[:300], created_at=resolve(now)),
                      N_("You have already rated this."), "already_rated")
    return rating


def rating_summary(item):
    """(average score rounded to one decimal or None, number of ratings)."""
    avg, count = db.session.execute(select(func.avg(Rating.score), func.count(Rating.id)).where(
        Rating.community_id == item.community_id, Rating.item_id == item.id)).one()
    return (round(float(avg), 1) if avg is not None else None), count


def my_rating(item, user_id):
    """The person's score for an item, or None."""
    return db.session.scalar(select(Rating.score).where(
        Rating.community_id == item.community_id, Rating.item_id == item.id, Rating.user_id == user_id))


def implementations(community_id):
    """Adopted items, unfinished first."""
    return db.session.scalars(select(AgendaItem).where(
        AgendaItem.community_id == community_id, AgendaItem.status == "adopted")
        .order_by(AgendaItem.completed_at.is_not(None), AgendaItem.decided_at.desc(), AgendaItem.id.desc())).all()


# --- scheduled jobs -----------------------------------------------------------------------------

def _due(*conditions):
    return lock_due(Meeting, *conditions, limit=50)


def _tell_expected(meetings, sent_at, kind, title, body, *, now):
    """Tell everyone expected at each meeting (when and where it is), then stamp the meeting's `sent_at` so
    that it is told once. Returns how many meetings."""
    for meeting in meetings:
        _notify_many(expected_ids(meeting), kind, title, body,
                     params={"title": meeting.title, "place": meeting.place, "when": local_time(meeting.starts_at)},
                     community_id=meeting.community_id,
                     link=f"/c/{meeting.community_id}/deliberation/meetings/{meeting.id}", now=now)
        setattr(meeting, sent_at, now)
    db.session.flush()
    return len(meetings)


def send_invitations(*, now=None):
    """Invite the people expected at newly planned sessions. Returns how many sessions."""
    now = resolve(now)
    meetings = _due(Meeting.status == "planned", Meeting.invited_at.is_(None), Meeting.ends_at > now)
    return _tell_expected(meetings, "invited_at", "deliberation.invitation", N_("Invitation: %(title)s"),
                          N_("%(when)s at %(place)s. Please come and scan the code to check in."), now=now)


def send_reminders(*, now=None):
    """Remind the people expected two hours before a session. Returns how many sessions."""
    now = resolve(now)
    meetings = _due(Meeting.status == "planned", Meeting.reminded_at.is_(None),
                    Meeting.starts_at > now, Meeting.starts_at <= now + REMIND_BEFORE)
    return _tell_expected(meetings, "reminded_at", "deliberation.reminder", N_("Reminder: %(title)s starts soon"),
                          N_("%(when)s at %(place)s."), now=now)


# --- exports ------------------------------------------------------------------------------------

def attendance_rows(meeting):
    """Rows for the attendance export: name, grid, address, status, method, time (UTC)."""
    rows = []
    for user, membership, attendance in attendance_list(meeting):
        rows.append({
            "name": user.display_name, "grid": membership.grid.name if membership.grid else "",
            "address": membership.address, "present": attendance is not None,
            "method": attendance.method if attendance else "",
            "checked_in_at": attendance.checked_in_at if attendance else None,
        })
    return rows
