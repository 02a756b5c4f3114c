"""Review of an ended patrol into points and service hours.

Points are never posted from here: an approved patrol puts its award on the community's notice board
through civic.merit (one award per patrol, source "patrol"), where neighbours may object; the notice job
posts it when the period ends. A coordinator does not review their own patrol.
"""
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from civic.core import audit
from civic.core.clock import resolve, to_local, to_utc
from civic.core.errors import Conflict, Invalid, PermissionDenied
from civic.core.i18n import N_
from civic.core.permissions import require
from civic.extensions import db
from civic.merit import service as merit
from civic.notifications import service as notices
from civic.patrols.common import clean_text
from civic.patrols.models import Patrol, PatrolSettings, ServiceRecord
from civic.patrols.settings import settings_for
from civic.patrols.tracking import get_patrol, measure


def points_for(settings, distance_m, moving_seconds):
    """Points a verified patrol earns under the community's rules (whole points, capped)."""
    raw = distance_m / 1000 * settings.points_per_km + moving_seconds / 3600 * settings.points_per_hour
    return int(min(settings.max_points_per_patrol, max(0, round(raw))))


def patrols_to_review(actor, community_id):
    """Ended patrols waiting for a coordinator, oldest first."""
    require(actor, "patrol.coordinate", community_id)
    return db.session.scalars(select(Patrol).where(
        Patrol.community_id == community_id, Patrol.status == "ended").order_by(Patrol.ended_at, Patrol.id)).all()


def count_patrols_to_review(actor, community_id):
    """How many ended patrols wait for a coordinator (a COUNT, not the rows)."""
    require(actor, "patrol.coordinate", community_id)
    return db.session.scalar(select(func.count()).select_from(Patrol).where(
        Patrol.community_id == community_id, Patrol.status == "ended"))


def review_patrol(actor, community_id, patrol_id, *, approve, note="", now=None):
    """A coordinator approves (points and service hours) or rejects an ended patrol.

    A flagged patrol (vehicle, teleport) is approved only with a written reason; a rejection
    always says why. The points go on the notice board (one award per patrol), so approving twice, or
    two coordinators at once, awards once; they reach the passbook when the notice period ends.
    Nobody reviews their own patrol, administrators included.
    """
    require(actor, "patrol.coordinate", community_id)
    now = resolve(now)
    note = clean_text(note, 500)
    patrol = get_patrol(community_id, patrol_id, lock=True)
    if patrol.status == "active":
        raise Conflict(N_("This patrol is still under way."))
    if patrol.status in ("approved", "rejected"):
        raise Conflict(N_("This patrol has already been reviewed."), reason="patrol_reviewed")
    if patrol.user_id == actor.id:
        raise PermissionDenied(N_("Someone else must review your own patrol."), reason="own_award")
    measure(patrol, now=now)  # points that arrived late are counted
    if approve and patrol.flag_list and not note:
        raise Invalid(N_("This patrol was flagged. Please write why you approve it."), reason="reason_required")
    if not approve and not note:
        raise Invalid(N_("Please write why the patrol is not accepted."), reason="reason_required")
    patrol.reviewed_by_id, patrol.reviewed_at, patrol.review_note = actor.id, now, note
    if approve:
        patrol.status = "approved"
        amount, seconds = _within_daily_caps(patrol, settings_for(community_id))
        award = merit.put_award_on_notice(
            community_id, patrol.user_id, amount, source_kind="patrol", source_id=patrol.id, category="patrol",
            reason=f"巡逻 {patrol.distance_m / 1000:.2f} 公里", decided_by=actor, tell=False, now=now)
        patrol.points_awarded = amount
        record_service(community_id, patrol.user_id, f"patrol:{patrol.id}", seconds, now)
        notices.notify(
            patrol.user_id, "patrol.approved", N_("Your patrol was approved"),
            N_("%(km)s km. %(points)s points are on the public notice board and reach your passbook on "
               "%(date)s if nobody objects.") if award else N_("%(km)s km, %(points)s points added."),
            params={"km": f"{patrol.distance_m / 1000:.2f}", "points": amount,
                    "date": to_local(award.notice_ends_at).strftime("%m-%d") if award else ""},
            community_id=community_id, link=f"/c/{community_id}/patrols/{patrol.id}", now=now,
        )
    else:
        patrol.status = "rejected"
        notices.notify(
            patrol.user_id, "patrol.rejected", N_("Your patrol was not accepted"), N_("Reason: %(reason)s"),
            params={"reason": note}, community_id=community_id, link=f"/c/{community_id}/patrols/{patrol.id}",
            now=now,
        )
    db.session.flush()
    audit.record("patrol.reviewed", actor=actor, subject=patrol.user_id, community_id=community_id,
                 detail={"patrol": patrol.id, "approve": bool(approve), "flags": patrol.flag_list}, now=now)
    return patrol


def _within_daily_caps(patrol, settings):
    """Points and service seconds the patrol may still earn under the per-day caps (the China-time day it
    started). The settings row is locked first, so two approvals at once cannot both use the same room."""
    db.session.scalar(select(PatrolSettings.id).where(PatrolSettings.community_id == settings.community_id,
                                                      PatrolSettings.id == settings.id).with_for_update())
    day = to_local(patrol.started_at).date()
    start = to_utc(datetime.combine(day, time()))
    same_day = db.session.execute(select(Patrol.id, Patrol.points_awarded).where(
        Patrol.community_id == patrol.community_id, Patrol.user_id == patrol.user_id, Patrol.status == "approved",
        Patrol.id != patrol.id, Patrol.started_at >= start, Patrol.started_at < start + timedelta(days=1))).all()
    points_used = sum(p for _, p in same_day)
    seconds_used = db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.seconds), 0)).where(
        ServiceRecord.community_id == patrol.community_id,
        ServiceRecord.source.in_([f"patrol:{pid}" for pid, _ in same_day] or ["-"]))) or 0
    amount = points_for(settings, patrol.distance_m, patrol.moving_seconds)
    amount = max(0, min(amount, settings.max_points_per_day - points_used))
    seconds = max(0, min(int(patrol.moving_seconds), settings.max_hours_per_day * 3600 - int(seconds_used)))
    return amount, seconds


def record_service(community_id, user_id, source, seconds, now):
    exists = db.session.scalar(select(ServiceRecord.id).where(
        ServiceRecord.community_id == community_id, ServiceRecord.source == source))
    if exists is None:
        db.session.add(ServiceRecord(community_id=community_id, user_id=user_id, source=source,
                                     seconds=max(0, seconds), recorded_at=now))
        db.session.flush()
