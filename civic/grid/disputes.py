"""矛盾纠纷: neighbour disputes handled by a mediator (调解员) — parties, sessions, agreement, follow-up visit."""
from datetime import timedelta

from sqlalchemy import select

from civic.communities.models import Membership
from civic.core.clock import resolve
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.permissions import can, require
from civic.extensions import db
from civic.grid.models import Dispute, DisputeSession
from civic.grid.service import clean_text as _text
from civic.notifications import service as notices
from civic.patrols import reports as problem_reports


def open_dispute(actor, community_id, *, title, parties, mediator_id, report_id=None, now=None):
    """The grid leader or committee records a dispute between neighbours and names its mediator."""
    require(actor, "dispute.manage", community_id)
    now = resolve(now)
    if db.session.scalar(select(Membership.status).where(
            Membership.community_id == community_id, Membership.user_id == mediator_id)) != "active":
        raise Invalid(N_("The mediator must be a member of this community."))
    if report_id:
        problem_reports.get_report(community_id, report_id)
    dispute = Dispute(community_id=community_id, title=_text(title, 120, N_("Please say what the dispute is about.")),
                      parties=_text(parties, 300, N_("Please name the parties.")), mediator_id=mediator_id,
                      report_id=report_id or None, opened_by_id=actor.id, opened_at=now)
    db.session.add(dispute)
    db.session.flush()
    if mediator_id != actor.id:
        notices.notify(mediator_id, "grid.dispute", N_("You are asked to mediate a dispute"), dispute.title,
                       community_id=community_id, link=f"/c/{community_id}/grid/disputes/{dispute.id}", now=now)
    return dispute


def get_dispute(user, community_id, dispute_id, *, lock=False):
    """A dispute its mediator, the grid leaders or the committee may see."""
    query = select(Dispute).where(Dispute.community_id == community_id, Dispute.id == dispute_id)
    dispute = db.session.scalar(query.with_for_update() if lock else query)
    if dispute is None or (dispute.mediator_id != user.id and not can(user, "dispute.manage", community_id)):
        raise NotFound(N_("No such dispute."))
    return dispute


def _mediating(user, community_id, dispute_id, statuses):
    dispute = get_dispute(user, community_id, dispute_id, lock=True)
    if dispute.mediator_id != user.id and not can(user, "dispute.manage", community_id):
        raise PermissionDenied()
    if dispute.status not in statuses:
        raise Conflict(N_("This dispute cannot do that now."))
    return dispute


def record_session(user, community_id, dispute_id, *, attendees="", notes, held_at=None, now=None):
    """The mediator records a mediation session."""
    now = resolve(now)
    dispute = _mediating(user, community_id, dispute_id, ("open",))
    held_at = held_at or now
    if held_at > now + timedelta(minutes=5):
        raise Invalid(N_("A session is recorded after it is held."))
    session = DisputeSession(community_id=community_id, dispute_id=dispute.id, held_at=held_at,
                             attendees=_text(attendees, 300),
                             notes=_text(notes, 4000, N_("Please write what was said.")),
                             recorded_by_id=user.id)
    db.session.add(session)
    db.session.flush()
    return session


def record_outcome(user, community_id, dispute_id, *, agreed, agreement="", follow_up_days=30, now=None):
    """The mediator records the agreement reached (or that none was); a follow-up visit falls due."""
    now = resolve(now)
    dispute = _mediating(user, community_id, dispute_id, ("open",))
    if not 1 <= int(follow_up_days) <= 365:
        raise Invalid(N_("Please enter a number of days between 1 and 365."))
    agreement = _text(agreement, 4000, N_("Please write down the agreement.") if agreed else None)
    dispute.status, dispute.agreement = ("agreed" if agreed else "failed"), agreement
    dispute.decided_at = now
    dispute.follow_up_due_at = now + timedelta(days=int(follow_up_days))
    db.session.flush()
    return dispute


def record_follow_up(user, community_id, dispute_id, *, note, now=None):
    """The follow-up visit after the outcome: what was found; the dispute is then closed."""
    now = resolve(now)
    dispute = _mediating(user, community_id, dispute_id, ("agreed", "failed"))
    dispute.follow_up_note = _text(note, 500, N_("Please write what the follow-up visit found."))
    dispute.followed_up_at, dispute.status = now, "closed"
    db.session.flush()
    return dispute


def disputes_of(user, community_id, *, limit=100):
    """Open ones first: all of the community's for the committee and grid leaders, a mediator's own otherwise."""
    query = select(Dispute).where(Dispute.community_id == community_id)
    if not can(user, "dispute.manage", community_id):
        query = query.where(Dispute.mediator_id == user.id)
    return db.session.scalars(query.order_by((Dispute.status == "closed"), Dispute.opened_at.desc(), Dispute.id.desc())
                              .limit(limit)).all()


def sessions_of(dispute):
    """The dispute's sessions, oldest first."""
    return db.session.scalars(select(DisputeSession).where(
        DisputeSession.community_id == dispute.community_id, DisputeSession.dispute_id == dispute.id)
        .order_by(DisputeSession.held_at, DisputeSession.id)).all()
