"""Problem reports (随手拍) and their steps: submitted, accepted, assigned, resolved with a photo, then
confirmed or reopened by the reporter; closed or merged by a handler. `act` is the one place that maps a
step's name to its rule, for the pages and the API alike.

A confirmed report puts its award on the community's notice board through civic.merit (one award per
report, source "report"), decided by whoever resolved it; the reporter does not accept, take or resolve it.
"""
from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload

from civic.accounts.models import User
from civic.communities.models import Community, Membership
from civic.communities.service import register_seeder
from civic.core import uploads
from civic.core.clock import resolve, to_local
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import can, require
from civic.extensions import db
from civic.merit import service as merit
from civic.notifications import service as notices
from civic.patrols.common import clean_text, handlers_of
from civic.patrols.models import Report, ReportCategory, ReportEvent
from civic.patrols.settings import settings_for
from civic.patrols.tracking import get_patrol

DEFAULT_REPORT_CATEGORIES = (
    N_("Illegal activity"),   # 违法线索
    N_("Uncivilised"),        # 不文明
    N_("Inconvenient"),       # 不方便
    N_("Unsafe"),             # 不安全
    N_("Unhealthy"),          # 不健康
)


def members_of(community_id):
    """Active members of the community by name (to pass a report to a person)."""
    return db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community_id, Membership.status == "active")
        .order_by(User.display_name, User.id)
    ).all()


def report_categories(community_id, *, active_only=True):
    """The community's report categories (the defaults were saved when it was created)."""
    query = select(ReportCategory).where(ReportCategory.community_id == community_id)
    if active_only:
        query = query.where(ReportCategory.active.is_(True))
    return db.session.scalars(query.order_by(ReportCategory.sort, ReportCategory.id)).all()


@register_seeder
def _seed_report_categories(community_id):
    if db.session.scalar(select(ReportCategory.id).where(ReportCategory.community_id == community_id)) is None:
        for sort, name in enumerate(DEFAULT_REPORT_CATEGORIES):
            db.session.add(ReportCategory(community_id=community_id, name=name, sort=sort))


def add_category(actor, community_id, name):
    """A coordinator adds a report category."""
    require(actor, "report.handle", community_id)
    name = clean_text(name, 40, N_("Please enter a name."))
    existing = report_categories(community_id, active_only=False)
    if any(c.name == name for c in existing):
        raise Conflict(N_("That category already exists."))
    category = ReportCategory(community_id=community_id, name=name, sort=len(existing))
    db.session.add(category)
    db.session.flush()
    return category


def update_category(actor, community_id, category_id, *, name=None, active=None):
    """A coordinator renames a category or hides it from new reports."""
    require(actor, "report.handle", community_id)
    category = get_in_community(ReportCategory, community_id, category_id, missing=N_("No such category."))
    if name is not None:
        name = clean_text(name, 40, N_("Please enter a name."))
        if db.session.scalar(select(ReportCategory.id).where(
                ReportCategory.community_id == community_id, ReportCategory.name == name,
                ReportCategory.id != category.id)):
            raise Conflict(N_("That category already exists."))
        category.name = name
    if active is not None:
        category.active = bool(active)
    db.session.flush()
    return category


def add_event(report, actor, action, note="", photo=None, now=None):
    """A step on the report's timeline (`actor` a user, an id, or None for the system)."""
    db.session.add(ReportEvent(community_id=report.community_id, report_id=report.id, at=now,
                               actor_id=getattr(actor, "id", actor), action=action, note=note, photo=photo))
    report.updated_at = now


def tell_reporter(report, title, body, params=None, now=None):
    """A notice to the person who reported the problem, linking to the report."""
    notices.notify(report.reporter_id, "patrol.report", title, body, params=params or {},
                   community_id=report.community_id, link=f"/c/{report.community_id}/reports/{report.id}", now=now)


def submit_report(user, community_id, *, category_id, description, photo=None, lat=None, lon=None, patrol_id=None,
                  now=None):
    """A resident reports a problem with a category, a description, a photo and where it is."""
    require(user, "patrol.join", community_id)
    now = resolve(now)
    description = clean_text(description, 1000, N_("Please describe the problem."))
    category = db.session.scalar(select(ReportCategory).where(
        ReportCategory.community_id == community_id, ReportCategory.id == category_id,
        ReportCategory.active.is_(True)))
    if category is None:
        raise Invalid(N_("Please choose a kind of problem."))
    if (lat is None) != (lon is None) or (lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180)):
        raise Invalid(N_("The location could not be read."))
    if patrol_id:
        patrol = get_patrol(community_id, patrol_id)
        if patrol.user_id != user.id:
            raise Invalid(N_("That is not your patrol."))
    uploads.check_own(user, community_id, [photo])
    report = Report(community_id=community_id, reporter_id=user.id, category_id=category.id, description=description,
                    photo=photo, lat=lat, lon=lon, patrol_id=patrol_id or None, status="submitted", created_at=now,
                    updated_at=now)
    db.session.add(report)
    db.session.flush()
    uploads.attach(user, community_id, [photo], "report", report.id, now=now)
    add_event(report, user, "submitted", now=now)
    for handler in handlers_of(community_id):
        if handler.id != user.id:
            notices.notify(handler, "patrol.report_new", N_("New problem report"), N_("%(category)s: %(text)s"),
                           params={"category": category.name, "text": description[:60]}, community_id=community_id,
                           link=f"/c/{community_id}/reports/{report.id}", now=now)
    db.session.flush()
    return report


def get_report(community_id, report_id, *, lock=False):
    """A report of this community, or NotFound."""
    return get_in_community(Report, community_id, report_id, lock=lock, missing=N_("No such report."))


def visible_report(user, community_id, report_id):
    """A report its reporter, its assignee or a handler may see."""
    report = get_report(community_id, report_id)
    if user.id not in (report.reporter_id, report.assignee_id) and not can(user, "report.handle", community_id):
        raise NotFound(N_("No such report."))
    return report


def timeline(report):
    """The report's steps, oldest first."""
    return db.session.scalars(select(ReportEvent).where(
        ReportEvent.community_id == report.community_id, ReportEvent.report_id == report.id)
        .order_by(ReportEvent.at, ReportEvent.id)).all()


def _handling(actor, community_id, report_id, allowed, now):
    require(actor, "patrol.join", community_id)
    report = get_report(community_id, report_id, lock=True)
    if report.status not in allowed:
        raise Conflict(N_("This report cannot do that now."), reason="bad_state")
    return report, resolve(now)


def _not_own_report(actor, report):
    """A confirmed report earns its reporter points, so the reporter takes no step that decides it."""
    if actor.id == report.reporter_id:
        raise PermissionDenied(N_("Someone else must handle your own report."), reason="own_award")


def accept_report(actor, community_id, report_id, *, note="", now=None):
    """A handler accepts a report as a real problem (not their own)."""
    require(actor, "report.handle", community_id)
    report, now = _handling(actor, community_id, report_id, ("submitted",), now)
    _not_own_report(actor, report)
    report.status = "accepted"
    add_event(report, actor, "accepted", clean_text(note, 500), now=now)
    tell_reporter(report, N_("Your report was accepted"), N_("We are looking into it."), now=now)
    db.session.flush()
    return report


def assign_report(actor, community_id, report_id, *, assignee_id=None, department="", note="", now=None):
    """A handler passes the report to a person in the community or to a department (网格吹哨、部门报到)."""
    require(actor, "report.handle", community_id)
    department = clean_text(department, 80)
    if not assignee_id and not department:
        raise Invalid(N_("Please choose a person or enter a department."))
    if assignee_id and not can(db.session.get(User, assignee_id), "patrol.join", community_id):
        raise Invalid(N_("That person is not a member of this community."))
    report, now = _handling(actor, community_id, report_id, ("submitted", "accepted", "assigned"), now)
    _not_own_report(actor, report)
    if assignee_id and assignee_id == report.reporter_id:
        raise PermissionDenied(N_("A report cannot be passed to the person who reported it."), reason="own_award")
    report.status, report.assignee_id, report.department = "assigned", assignee_id or None, department
    add_event(report, actor, "assigned", clean_text(note, 500) or department, now=now)
    if assignee_id and assignee_id != actor.id:
        notices.notify(assignee_id, "patrol.report_assigned", N_("A problem was passed to you"),
                       N_("Please deal with it and add a photo when it is fixed."), community_id=community_id,
                       link=f"/c/{community_id}/reports/{report.id}", now=now)
    tell_reporter(report, N_("Your report is being handled"), N_("It was passed to %(who)s."),
                   params={"who": department or db.session.get(User, assignee_id).display_name}, now=now)
    db.session.flush()
    return report


def resolve_report(actor, community_id, report_id, *, photo, note="", now=None):
    """The assignee or a handler marks the problem fixed, with a photo; the reporter is asked to confirm."""
    report, now = _handling(actor, community_id, report_id, ("accepted", "assigned"), now)
    if actor.id != report.assignee_id and not can(actor, "report.handle", community_id):
        raise PermissionDenied()
    _not_own_report(actor, report)
    if not photo:
        raise Invalid(N_("Please add a photo of the fixed problem."))
    uploads.attach(actor, community_id, [photo], "report", report.id, now=now)
    report.status, report.resolution_photo = "resolved", photo
    add_event(report, actor, "resolved", clean_text(note, 500), photo=photo, now=now)
    tell_reporter(report, N_("Your report was fixed"), N_("Please look and confirm."), now=now)
    db.session.flush()
    return report


def confirm_report(user, community_id, report_id, *, now=None):
    """The reporter confirms the fix; the report's points go on the public notice board (one award per
    report), decided by whoever marked it fixed (never the reporter)."""
    report, now = _handling(user, community_id, report_id, ("resolved",), now)
    if report.reporter_id != user.id:
        raise PermissionDenied(N_("Only the person who reported it can confirm."))
    report.status = "confirmed"
    add_event(report, user, "confirmed", now=now)
    amount = settings_for(community_id).report_points
    resolver = db.session.scalar(select(ReportEvent.actor_id).where(
        ReportEvent.community_id == community_id, ReportEvent.report_id == report.id,
        ReportEvent.action == "resolved").order_by(ReportEvent.id.desc()).limit(1))
    award = merit.put_award_on_notice(
        community_id, report.reporter_id, amount, source_kind="report", source_id=report.id, category="report",
        reason="随手拍", decided_by=resolver, tell=False, now=now)
    report.points_awarded = amount
    if award:
        tell_reporter(report, N_("Thank you for your report"),
                       N_("You confirmed the fix. %(points)s points are on the public notice board and reach your "
                          "passbook on %(date)s if nobody objects."),
                       params={"points": amount, "date": to_local(award.notice_ends_at).strftime("%m-%d")}, now=now)
    else:
        tell_reporter(report, N_("Thank you for your report"), N_("You confirmed the fix."), now=now)
    db.session.flush()
    return report


def reopen_report(user, community_id, report_id, *, note, now=None):
    """The reporter says the problem is not fixed: it goes back to whoever was handling it."""
    report, now = _handling(user, community_id, report_id, ("resolved",), now)
    if report.reporter_id != user.id:
        raise PermissionDenied(N_("Only the person who reported it can confirm."))
    note = clean_text(note, 500, N_("Please say what is still wrong."))
    report.status = "assigned" if (report.assignee_id or report.department) else "accepted"
    add_event(report, user, "reopened", note, now=now)
    for handler in handlers_of(community_id):
        notices.notify(handler, "patrol.report_reopened", N_("A report is not fixed yet"), N_("Reason: %(reason)s"),
                       params={"reason": note}, community_id=community_id,
                       link=f"/c/{community_id}/reports/{report.id}", now=now)
    db.session.flush()
    return report


def close_report(actor, community_id, report_id, *, note, now=None):
    """A handler closes a report that needs no action, saying why."""
    require(actor, "report.handle", community_id)
    note = clean_text(note, 500, N_("Please say why the report is closed."))
    report, now = _handling(actor, community_id, report_id, ("submitted", "accepted", "assigned", "resolved"), now)
    report.status = "closed"
    add_event(report, actor, "closed", note, now=now)
    tell_reporter(report, N_("Your report was closed"), N_("Reason: %(reason)s"), params={"reason": note}, now=now)
    db.session.flush()
    return report


def merge_report(actor, community_id, report_id, *, into_id, now=None):
    """A handler merges a duplicate into an earlier report of the same problem."""
    require(actor, "report.handle", community_id)
    if into_id == report_id:
        raise Invalid(N_("A report cannot be merged into itself."))
    target = get_report(community_id, into_id)
    if target.status in ("merged", "closed"):
        raise Invalid(N_("Please merge into a report that is still open or done."))
    report, now = _handling(actor, community_id, report_id, ("submitted", "accepted", "assigned"), now)
    report.status, report.merged_into_id = "merged", target.id
    add_event(report, actor, "merged", f"#{target.id}", now=now)
    add_event(target, actor, "duplicate", f"#{report.id}", now=now)
    tell_reporter(report, N_("Your report was merged"),
                   N_("Someone reported the same problem (number %(id)s); it is handled there."),
                   params={"id": target.id}, now=now)
    db.session.flush()
    return report


STEPS = {  # a step's name: its rule and the fields it takes
    "accept": (accept_report, ("note",)),
    "assign": (assign_report, ("assignee_id", "department", "note")),
    "resolve": (resolve_report, ("photo", "note")),
    "confirm": (confirm_report, ()),
    "reopen": (reopen_report, ("note",)),
    "close": (close_report, ("note",)),
    "merge": (merge_report, ("into_id",)),
}


def act(actor, community_id, report_id, action, *, now=None, **fields):
    """Take the step named `action` on a report with the fields that step takes (others are ignored);
    the step's own rule checks who may take it. An unknown step is NotFound."""
    if action not in STEPS:
        raise NotFound()
    step, names = STEPS[action]
    return step(actor, community_id, report_id, now=now, **{name: fields.get(name) for name in names})


def reports_for(user, community_id, *, scope="mine", limit=100):
    """Reports a person sees: their own; assigned to them; or (handlers) the open or all reports."""
    query = select(Report).where(Report.community_id == community_id)
    if scope == "mine":
        query = query.where(Report.reporter_id == user.id)
    elif scope == "assigned":
        query = query.where(Report.assignee_id == user.id, Report.status.in_(("assigned",)))
    else:
        require(user, "report.handle", community_id)
        if scope == "open":
            query = query.where(Report.status.in_(("submitted", "accepted", "assigned", "resolved")))
    return db.session.scalars(query.order_by(Report.id.desc()).limit(limit)).all()


def open_reports_select(community_ids, *, statuses):
    """A Select of (id, community_id, lat, lon, created_at, category) of the reports in these statuses that have
    a place, for another part to join to its own rows (the street's map of open problems)."""
    return (select(Report.id, Report.community_id, Report.lat, Report.lon, Report.created_at,
                   ReportCategory.name.label("category"))
            .join(ReportCategory, (ReportCategory.community_id == Report.community_id)
                  & (ReportCategory.id == Report.category_id))
            .where(Report.community_id.in_(community_ids), Report.status.in_(statuses), Report.lat.is_not(None),
                   Report.lon.is_not(None)))


def raised_select(community_ids, since, until):
    """A Select of (id, community_id, category) of the reports raised (not merged) in [since, until)."""
    return (select(Report.id, Report.community_id, ReportCategory.name.label("category"))
            .join(ReportCategory, (ReportCategory.community_id == Report.community_id)
                  & (ReportCategory.id == Report.category_id))
            .where(Report.community_id.in_(community_ids), Report.created_at >= since, Report.created_at < until,
                   Report.status != "merged"))


# --- reads another area composes (the grid's cases are built on reports) ----------------------------------

def reports_select(community_id=None, *, statuses=None, created_before=None, category_name=False):
    """A Select of reports (each with its category loaded, or with its category's name as a second column when
    `category_name`), of one community when given, in `statuses` when given, raised before `created_before` when
    given. Another area joins its own rows to it and orders it through its `selected_columns` (id,
    community_id, reporter_id, status, created_at …)."""
    query = select(Report)
    if category_name:
        query = query.add_columns(ReportCategory.name.label("category")).join(ReportCategory, and_(
            ReportCategory.community_id == Report.community_id, ReportCategory.id == Report.category_id))
    else:
        query = query.options(joinedload(Report.category))
    if community_id is not None:
        query = query.where(Report.community_id == community_id)
    if statuses is not None:
        query = query.where(Report.status.in_(statuses))
    if created_before is not None:
        query = query.where(Report.created_at < created_before)
    return query


def with_reports(query, community_id, report_id, *, statuses=None):
    """`query`, whose rows name a report by their (`community_id`, `report_id`) columns, joined to those reports:
    each row gains its Report (category loaded); only reports in `statuses` when given."""
    query = query.add_columns(Report).join(Report, and_(Report.community_id == community_id,
                                                        Report.id == report_id)).options(joinedload(Report.category))
    return query if statuses is None else query.where(Report.status.in_(statuses))


def category_name(report):
    """The name of the report's category (a msgid for the defaults)."""
    return db.session.scalar(select(ReportCategory.name).where(
        ReportCategory.community_id == report.community_id, ReportCategory.id == report.category_id))


def category_names_of_streets(street_ids):
    """The kinds of problem the communities of these streets use (names are msgids for the defaults)."""
    return list(db.session.scalars(select(ReportCategory.name).join(
        Community, Community.id == ReportCategory.community_id).where(
        Community.street_id.in_(list(street_ids) or [0])).distinct().order_by(ReportCategory.name)))
