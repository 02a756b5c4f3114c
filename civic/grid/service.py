"""Grid governance rules: grid roles, daily rounds (日走访), departments and dispatch (吹哨报到), escalation.

Plain functions with explicit arguments; they flush, the edges commit. A report stays a `patrol_report`: a visit
raises one through the patrols' own `submit_report`, and a `grid_case` row carries it above the community.
"""
from datetime import timedelta

from sqlalchemy import and_, func, or_, select

from civic.accounts.models import User
from civic.communities.models import (
    AreaAdmin,
    Community,
    Grid,
    Household,
    MemberRole,
    Membership,
    Street,
)
from civic.core import text, uploads
from civic.core.clock import resolve
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.permissions import can, can_administer_area, require
from civic.extensions import db
from civic.grid.models import (
    GRID_ROLES,
    Case,
    CategoryDeadline,
    Department,
    DepartmentStaff,
    GridCycle,
    GridRole,
    GridSettings,
    Visit,
)
from civic.notifications import service as notices
from civic.patrols import reports as problem_reports
from civic.patrols import review as patrol_review
from civic.rules.service import register_settings_field

DEFAULT_CYCLE_DAYS = 30
DEFAULT_DEADLINE_HOURS = 72
OPEN_REPORT = ("submitted", "accepted", "assigned")
UNFINISHED_REPORT = ("submitted", "accepted", "assigned", "resolved")
NEXT_LEVEL = {"community": "street", "street": "district"}


def settings_for(community_id):
    """The community's grid settings; an unsaved row with the defaults (no points for visits) when it has none."""
    row = db.session.scalar(select(GridSettings).where(GridSettings.community_id == community_id))
    return row if row is not None else GridSettings(community_id=community_id, visit_points=0)


# visits are duty: 0 points unless the committee proposes more and a second member confirms (civic.rules)
register_settings_field("grid", "visit_points", N_("Points for a household visit"), row=settings_for, maximum=10000)


def clean_text(value, limit, message=None):
    """civic.core.text.clean_text with the grid's own too-long message."""
    return text.clean_text(value, limit, message, too_long=N_("That is too long."))


# --- grid roles -----------------------------------------------------------------------------------

def get_grid(community_id, grid_id):
    """A grid of this community, or NotFound."""
    grid = db.session.scalar(select(Grid).where(Grid.community_id == community_id, Grid.id == grid_id))
    if grid is None:
        raise NotFound(N_("No such grid."))
    return grid


def assign_role(actor, community_id, grid_id, user_id, role, *, now=None):
    """The committee makes a member the grid leader (a committee member), a grid worker or a building head."""
    require(actor, "grid.manage", community_id)
    if role not in GRID_ROLES:
        raise Invalid(N_("Please choose a role."))
    grid = get_grid(community_id, grid_id)
    status = db.session.scalar(select(Membership.status).where(
        Membership.community_id == community_id, Membership.user_id == user_id))
    if status != "active":
        raise Invalid(N_("That person is not a member of this community."))
    if role == "grid_leader" and db.session.scalar(select(MemberRole.id).where(
            MemberRole.community_id == community_id, MemberRole.user_id == user_id,
            MemberRole.role == "committee")) is None:
        raise Invalid(N_("A grid leader must be a committee member."))
    if db.session.scalar(select(GridRole.id).where(
            GridRole.community_id == community_id, GridRole.grid_id == grid.id, GridRole.user_id == user_id,
            GridRole.role == role)) is not None:
        raise Conflict(N_("That person already has this role in the grid."))
    row = GridRole(community_id=community_id, grid_id=grid.id, user_id=user_id, role=role,
                   granted_at=resolve(now), granted_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    return row


def remove_role(actor, community_id, role_id):
    """The committee takes a grid role away."""
    require(actor, "grid.manage", community_id)
    row = db.session.scalar(select(GridRole).where(GridRole.community_id == community_id, GridRole.id == role_id))
    if row is None:
        raise NotFound(N_("No such role."))
    db.session.delete(row)
    db.session.flush()


def roles_of_community(community_id):
    """Every grid role of the community with the person, by grid."""
    return db.session.execute(
        select(GridRole, User.display_name).join(User, User.id == GridRole.user_id)
        .where(GridRole.community_id == community_id).order_by(GridRole.grid_id, GridRole.role, GridRole.id)).all()


def grids_of(community_id):
    """The community's grids with their visiting cycle in days."""
    rows = db.session.execute(
        select(Grid, GridCycle.days).outerjoin(GridCycle, and_(GridCycle.community_id == Grid.community_id,
                                                               GridCycle.grid_id == Grid.id))
        .where(Grid.community_id == community_id).order_by(Grid.name)).all()
    return [(grid, days or DEFAULT_CYCLE_DAYS) for grid, days in rows]


def my_grid_ids(user, community_id):
    """The grids a person looks after; the committee looks after them all."""
    if can(user, "grid.manage", community_id):
        return list(db.session.scalars(select(Grid.id).where(Grid.community_id == community_id).order_by(Grid.id)))
    return list(db.session.scalars(select(GridRole.grid_id).where(
        GridRole.community_id == community_id, GridRole.user_id == user.id).distinct().order_by(GridRole.grid_id)))


def set_cycle(actor, community_id, grid_id, days):
    """The committee sets how often every household of the grid is visited."""
    require(actor, "grid.manage", community_id)
    get_grid(community_id, grid_id)
    if not isinstance(days, int) or not 1 <= days <= 366:
        raise Invalid(N_("Please enter a number of days between 1 and 366."))
    row = db.session.scalar(select(GridCycle).where(GridCycle.community_id == community_id,
                                                    GridCycle.grid_id == grid_id))
    if row is None:
        row = GridCycle(community_id=community_id, grid_id=grid_id, days=days)
        db.session.add(row)
    row.days = days
    db.session.flush()
    return row


# --- a grid worker's home ------------------------------------------------------------------------

def grid_home(user, community_id, *, now=None):
    """Per grid of mine: households with their residents (managed ones included), when each was last visited
    and whether it is due, and the open problems in the grid. Four statements whatever the grid's size."""
    require(user, "grid.view", community_id)
    now = resolve(now)
    grid_ids = my_grid_ids(user, community_id)
    if not grid_ids:
        return []
    grids = {g.id: (g, days) for g, days in grids_of(community_id) if g.id in grid_ids}
    households = db.session.scalars(select(Household).where(
        Household.community_id == community_id, Household.grid_id.in_(grid_ids)).order_by(Household.label)).all()
    residents = {}
    for household_id, name, managed in db.session.execute(
            select(Membership.household_id, User.display_name, User.is_managed)
            .join(User, User.id == Membership.user_id)
            .where(Membership.community_id == community_id, Membership.status == "active",
                   Membership.household_id.in_([h.id for h in households] or [0]))
            .order_by(User.display_name)):
        residents.setdefault(household_id, []).append({"name": name, "managed": managed})
    last = dict(db.session.execute(
        select(Visit.household_id, func.max(Visit.visited_at)).where(
            Visit.community_id == community_id, Visit.household_id.in_([h.id for h in households] or [0]))
        .group_by(Visit.household_id)).all())
    problems = open_problems_in(community_id, grid_ids)
    red = set(db.session.scalars(select(Case.report_id).where(
        Case.community_id == community_id, Case.overdue.is_(True), Case.closed.is_(False))))
    result = []
    for grid_id in grid_ids:
        grid, days = grids[grid_id]
        rows = []
        for h in households:
            if h.grid_id != grid_id:
                continue
            seen = last.get(h.id)
            due = seen is None or seen <= now - timedelta(days=days)
            rows.append({"household": h, "residents": residents.get(h.id, []), "last_visit": seen, "due": due})
        rows.sort(key=lambda r: (not r["due"], r["last_visit"] or now.replace(year=1970), r["household"].label))
        result.append({"grid": grid, "days": days, "households": rows, "due": [r for r in rows if r["due"]],
                       "problems": problems.get(grid_id, []), "overdue": red})
    return result


def open_problems_in(community_id, grid_ids):
    """Open reports of the grids: raised on a visit there, or by a resident who lives there. {grid_id: [report]}."""
    home_grid = func.coalesce(Household.grid_id, Membership.grid_id)
    reports = problem_reports.reports_select(community_id, statuses=UNFINISHED_REPORT)
    columns = reports.selected_columns
    rows = db.session.execute(
        reports.add_columns(func.coalesce(Visit.grid_id, home_grid))
        .outerjoin(Visit, and_(Visit.community_id == columns.community_id, Visit.report_id == columns.id))
        .outerjoin(Membership, and_(Membership.community_id == columns.community_id,
                                    Membership.user_id == columns.reporter_id))
        .outerjoin(Household, and_(Household.community_id == Membership.community_id,
                                   Household.id == Membership.household_id))
        .where(or_(Visit.grid_id.in_(grid_ids), home_grid.in_(grid_ids)))
        .order_by(columns.id.desc()).limit(200)).all()
    found = {}
    for report, grid_id in rows:
        found.setdefault(grid_id, []).append(report)
    return found


# --- daily rounds ---------------------------------------------------------------------------------

def get_household(community_id, household_id):
    """A household of this community, or NotFound."""
    household = db.session.scalar(select(Household).where(
        Household.community_id == community_id, Household.id == household_id))
    if household is None:
        raise NotFound(N_("No such household."))
    return household


def record_visit(worker, community_id, household_id, *, met="", notes="", photo=None, follow_up=False, minutes=15,
                 visited_at=None, problem=None, now=None):
    """A grid worker records a visit to a household of their grid; it earns service hours, not points.

    `problem` ({"category_id", "description"}) raises a problem report in the same step."""
    require(worker, "grid.visit", community_id)
    now = resolve(now)
    household = get_household(community_id, household_id)
    if household.grid_id not in my_grid_ids(worker, community_id):
        raise PermissionDenied(N_("That household is not in your grid."))
    visited_at = visited_at or now
    if visited_at > now + timedelta(minutes=5) or visited_at < now - timedelta(days=7):
        raise Invalid(N_("A visit can be recorded up to seven days later."))
    if not isinstance(minutes, int) or not 0 <= minutes <= 480:
        raise Invalid(N_("Please enter the minutes spent (0 to 480)."))
    uploads.check_own(worker, community_id, [photo])
    visit = Visit(community_id=community_id, household_id=household.id, grid_id=household.grid_id,
                  worker_id=worker.id, visited_at=visited_at, met=clean_text(met, 80), notes=clean_text(notes, 2000),
                  photo=photo, follow_up=bool(follow_up), minutes=minutes, created_at=now)
    db.session.add(visit)
    db.session.flush()
    if problem:
        report = problem_reports.submit_report(
            worker, community_id, category_id=problem.get("category_id"),
            description=problem.get("description") or visit.notes, photo=photo, now=now)
        visit.report_id = report.id  # the photo is the report's evidence now (each photo is cited once)
    else:
        uploads.attach(worker, community_id, [photo], "visit", visit.id, now=now)
    # duty, not volunteering: service hours (志愿服务时长); points only if the community chose so through the gate
    patrol_review.record_service(community_id, worker.id, f"visit:{visit.id}", minutes * 60, now)
    _visit_award(visit, household, now)
    db.session.flush()
    return visit


def _visit_award(visit, household, now):
    """When the community's (four-eyes) setting gives visits points, the first visit to a household in its grid's
    cycle puts them on the notice board as an award sourced to the visit. Nobody decides it: the confirmed setting
    does, and neighbours (the household visited among them) may object before it posts. A revisit within the
    cycle earns none, so rounds cannot be farmed."""
    from civic.merit import service as merit

    points = settings_for(visit.community_id).visit_points
    if not points:
        return None
    days = db.session.scalar(select(GridCycle.days).where(
        GridCycle.community_id == visit.community_id, GridCycle.grid_id == household.grid_id)) or DEFAULT_CYCLE_DAYS
    earlier = db.session.scalar(select(Visit.id).where(
        Visit.community_id == visit.community_id, Visit.household_id == household.id, Visit.id != visit.id,
        Visit.visited_at > visit.visited_at - timedelta(days=days), Visit.visited_at <= visit.visited_at).limit(1))
    if earlier is not None:
        return None
    return merit.put_award_on_notice(visit.community_id, visit.worker_id, points, source_kind="visit",
                                     source_id=visit.id, category="labour", reason=household.label[:80], now=now)


def visits_to(community_id, household_id, *, limit=20):
    """The latest visits to a household."""
    return db.session.scalars(select(Visit).where(
        Visit.community_id == community_id, Visit.household_id == household_id)
        .order_by(Visit.visited_at.desc(), Visit.id.desc()).limit(limit)).all()


# --- departments ----------------------------------------------------------------------------------

def _require_area(actor, street_id=None, district_id=None):
    if not can_administer_area(actor, street_id=street_id, district_id=district_id):
        raise PermissionDenied()


def create_department(actor, *, name, street_id=None, district_id=None):
    """A street's or district's administrator adds a department (城管, 市场监管, 派出所, 物业, 供水 …)."""
    if (street_id is None) == (district_id is None):
        raise Invalid(N_("A department belongs to one street or one district."))
    _require_area(actor, street_id, district_id)
    name = clean_text(name, 60, N_("Please enter a name."))
    if db.session.scalar(select(Department.id).where(
            Department.street_id.is_(None) if street_id is None else Department.street_id == street_id,
            Department.district_id.is_(None) if district_id is None else Department.district_id == district_id,
            Department.name == name)):
        raise Conflict(N_("That department already exists."))
    department = Department(street_id=street_id, district_id=district_id, name=name)
    db.session.add(department)
    db.session.flush()
    return department


def get_department(department_id):
    """A department, or NotFound."""
    department = db.session.get(Department, department_id)
    if department is None:
        raise NotFound(N_("No such department."))
    return department


def _require_department_admin(actor, department):
    _require_area(actor, department.street_id, department.district_id)


def add_staff(actor, department_id, user_id):
    """An area administrator gives a person a staff account in a department."""
    department = get_department(department_id)
    _require_department_admin(actor, department)
    if db.session.get(User, user_id) is None:
        raise NotFound(N_("No such person."))
    if db.session.scalar(select(DepartmentStaff.id).where(
            DepartmentStaff.department_id == department.id, DepartmentStaff.user_id == user_id)):
        raise Conflict(N_("That person already works for this department."))
    row = DepartmentStaff(department_id=department.id, user_id=user_id)
    db.session.add(row)
    db.session.flush()
    return row


def departments_for_street(street_id):
    """The departments a street can dispatch to: its own and its district's."""
    district_id = db.session.scalar(select(Street.district_id).where(Street.id == street_id))
    return db.session.scalars(select(Department).where(
        Department.active.is_(True),
        or_(Department.street_id == street_id, Department.district_id == district_id))
        .order_by(Department.district_id.is_not(None), Department.name)).all()


def staff_by_department(department_ids):
    """{department_id: [display name]} of the staff of these departments."""
    found = {}
    for department_id, name in db.session.execute(
            select(DepartmentStaff.department_id, User.display_name).join(User, User.id == DepartmentStaff.user_id)
            .where(DepartmentStaff.department_id.in_(list(department_ids) or [0])).order_by(User.display_name)):
        found.setdefault(department_id, []).append(name)
    return found


def staff_department_ids(user):
    """The departments a person works for."""
    if user is None or not getattr(user, "id", None):
        return []
    return list(db.session.scalars(select(DepartmentStaff.department_id).where(DepartmentStaff.user_id == user.id)))


def set_deadline(actor, street_id, category, hours):
    """The street sets how many hours a department has for a kind of problem."""
    _require_area(actor, street_id=street_id)
    category = clean_text(category, 40, N_("Please choose a kind of problem."))
    if not isinstance(hours, int) or not 1 <= hours <= 2160:
        raise Invalid(N_("Please enter a number of hours between 1 and 2160."))
    row = db.session.scalar(select(CategoryDeadline).where(
        CategoryDeadline.street_id == street_id, CategoryDeadline.category == category))
    if row is None:
        row = CategoryDeadline(street_id=street_id, category=category, hours=hours)
        db.session.add(row)
    row.hours = hours
    db.session.flush()
    return row


def category_names(street_ids):
    """The kinds of problem the communities of these streets use (names are msgids for the defaults)."""
    return problem_reports.category_names_of_streets(street_ids)


def deadlines_of(street_id):
    """{category name: hours} set by the street."""
    return dict(db.session.execute(select(CategoryDeadline.category, CategoryDeadline.hours).where(
        CategoryDeadline.street_id == street_id)).all())


# --- cases: escalation, dispatch, handling --------------------------------------------------------

def _area_admins(street_id=None, district_id=None):
    clause = AreaAdmin.street_id == street_id if street_id is not None else AreaAdmin.district_id == district_id
    return list(db.session.scalars(select(AreaAdmin.user_id).where(clause).distinct()))


def _notify_all(user_ids, kind, title, body, link, now, params=None, community_id=None):
    for user_id in user_ids:
        notices.notify(user_id, kind, title, body, params=params or {}, community_id=community_id, link=link, now=now)


def case_link(case):
    return f"/grid/cases/{case.id}"


def case_of_report(community_id, report_id):
    """The report's case above the community, if it was escalated."""
    return db.session.scalar(select(Case).where(Case.community_id == community_id, Case.report_id == report_id))


def escalate_report(actor, community_id, report_id, *, note="", now=None):
    """The grid leader or the committee passes an open report up to the street (网格吹哨)."""
    require(actor, "grid.escalate", community_id)
    now = resolve(now)
    report = problem_reports.get_report(community_id, report_id, lock=True)
    if report.status not in OPEN_REPORT:
        raise Conflict(N_("This report cannot do that now."), reason="bad_state")
    if case_of_report(community_id, report_id) is not None:
        raise Conflict(N_("This report was already passed to the street."))
    return _open_case(report, actor, clean_text(note, 500), now, overdue=False)


def _open_case(report, actor, note, now, *, overdue):
    street_id = db.session.scalar(select(Community.street_id).where(Community.id == report.community_id))
    # the street has as long to dispatch and fix it as a department would; dispatching sets a new deadline
    case = Case(community_id=report.community_id, report_id=report.id, street_id=street_id, level="street",
                escalated_at=now, escalated_by_id=getattr(actor, "id", None), overdue=overdue,
                deadline_at=now + timedelta(hours=deadline_hours(street_id, problem_reports.category_name(report))))
    db.session.add(case)
    if report.status == "submitted":
        report.status = "accepted"
    db.session.flush()
    problem_reports.add_event(report, actor, "escalated", note or ("overdue" if overdue else ""), now=now)
    _notify_all(_area_admins(street_id=street_id), "grid.case_escalated",
                N_("A problem was passed to the street"), N_("Report %(id)s needs a department."),
                case_link(case), now, params={"id": report.id}, community_id=report.community_id)
    db.session.flush()
    return case


def get_case(case_id, *, lock=False):
    """A case, or NotFound."""
    query = select(Case).where(Case.id == case_id)
    if lock:
        # Find the case's community first, then lock the row on its shard: a distributed database locks
        # rows only where the query names the distribution column.
        community_id = db.session.scalar(select(Case.community_id).where(Case.id == case_id))
        query = query.where(Case.community_id == community_id).with_for_update()
    case = db.session.scalar(query)
    if case is None:
        raise NotFound(N_("No such case."))
    return case


def is_street_admin(user, case):
    """True for the administrators of the case's street or its district."""
    return can_administer_area(user, street_id=case.street_id)


def visible_case(user, case_id):
    """A case its street's (or district's) administrators, the department it went to, or the community's
    report handlers may see; anyone else gets NotFound."""
    case = get_case(case_id)
    if (is_street_admin(user, case) or (case.department_id and case.department_id in staff_department_ids(user))
            or can(user, "report.handle", case.community_id)):
        return case
    raise NotFound(N_("No such case."))


def deadline_hours(street_id, category_name):
    """Hours the street allows for this kind of problem (72 unless it set otherwise)."""
    return db.session.scalar(select(CategoryDeadline.hours).where(
        CategoryDeadline.street_id == street_id, CategoryDeadline.category == category_name)) \
        or DEFAULT_DEADLINE_HOURS


def dispatch_case(actor, case_id, department_id, *, note="", now=None):
    """The street sends the case to a department, with the deadline it set for the kind of problem (部门报到)."""
    now = resolve(now)
    case = get_case(case_id, lock=True)
    if not is_street_admin(actor, case):
        raise PermissionDenied()
    department = get_department(department_id)
    if department.id not in {d.id for d in departments_for_street(case.street_id)}:
        raise Invalid(N_("Please choose a department of this street or its district."))
    report = problem_reports.get_report(case.community_id, case.report_id, lock=True)
    if report.status not in OPEN_REPORT:
        raise Conflict(N_("This report cannot do that now."), reason="bad_state")
    category = problem_reports.category_name(report)
    case.department_id, case.dispatched_at = department.id, now
    case.deadline_at = now + timedelta(hours=deadline_hours(case.street_id, category))
    case.accepted_at = case.resolved_at = None
    report.status, report.assignee_id, report.department = "assigned", None, department.name
    problem_reports.add_event(report, actor, "assigned", clean_text(note, 500) or department.name, now=now)
    staff = db.session.scalars(select(DepartmentStaff.user_id).where(DepartmentStaff.department_id == department.id))
    _notify_all(staff, "grid.case_dispatched", N_("A problem was sent to your department"),
                N_("Report %(id)s: please accept it and deal with it."), case_link(case), now,
                params={"id": report.id})
    problem_reports.tell_reporter(report, N_("Your report is being handled"), N_("It was passed to %(who)s."),
                           params={"who": department.name}, now=now)
    db.session.flush()
    return case


def _staff_case(actor, case_id):
    case = get_case(case_id, lock=True)
    if not case.department_id or case.department_id not in staff_department_ids(actor):
        raise NotFound(N_("No such case."))
    return case


def accept_case(actor, case_id, *, note="", now=None):
    """Department staff accept a dispatched case; the time to accept is recorded."""
    now = resolve(now)
    case = _staff_case(actor, case_id)
    report = problem_reports.get_report(case.community_id, case.report_id, lock=True)
    if report.status != "assigned" or case.accepted_at is not None:
        raise Conflict(N_("This report cannot do that now."), reason="bad_state")
    case.accepted_at = now
    problem_reports.add_event(report, actor, "dept_accepted", clean_text(note, 500), now=now)
    db.session.flush()
    return case


def resolve_case(actor, case_id, *, photo, note="", now=None):
    """Department staff mark the problem fixed with a photo; the reporter is asked to confirm."""
    now = resolve(now)
    case = _staff_case(actor, case_id)
    report = problem_reports.get_report(case.community_id, case.report_id, lock=True)
    if report.status != "assigned":
        raise Conflict(N_("This report cannot do that now."), reason="bad_state")
    if not photo:
        raise Invalid(N_("Please add a photo of the fixed problem."))
    uploads.attach(actor, case.community_id, [photo], "report", report.id, now=now)
    case.accepted_at = case.accepted_at or now
    case.resolved_at = now
    report.status, report.resolution_photo = "resolved", photo
    problem_reports.add_event(report, actor, "resolved", clean_text(note, 500), photo=photo, now=now)
    problem_reports.tell_reporter(report, N_("Your report was fixed"), N_("Please look and confirm."), now=now)
    db.session.flush()
    return case


def cases_for_street(actor, street_id, *, limit=200):
    """The street's cases still open, red (overdue) first, then the oldest."""
    _require_area(actor, street_id=street_id)
    return db.session.execute(
        problem_reports.with_reports(select(Case), Case.community_id, Case.report_id)
        .where(Case.street_id == street_id, Case.closed.is_(False))
        .order_by(Case.overdue.desc(), Case.escalated_at, Case.id).limit(limit)).all()


def cases_for_staff(actor, *, limit=200):
    """What was dispatched to my departments and is not closed: red first, then by deadline."""
    department_ids = staff_department_ids(actor)
    return db.session.execute(
        problem_reports.with_reports(select(Case), Case.community_id, Case.report_id)
        .where(Case.department_id.in_(department_ids or [0]), Case.closed.is_(False))
        .order_by(Case.overdue.desc(), Case.deadline_at, Case.id).limit(limit)).all()


def escalate_overdue(*, now=None):
    """The scheduler's sweep (idempotent): close cases whose report is done; a report past its deadline in the
    community goes to the street, a case past its deadline at the street goes to the district; each turns red
    and the next level is told. Returns how many moved."""
    now = resolve(now)
    moved = 0
    # 1. cases whose report is finished are closed (the reporter confirmed, or it was closed)
    done = db.session.scalars(problem_reports.with_reports(
        select(Case), Case.community_id, Case.report_id, statuses=("confirmed", "closed", "merged"))
        .where(Case.closed.is_(False))).all()
    for case in done:
        case.closed = True
    # 2. reports still in the community after the street's deadline for their kind
    reports = problem_reports.reports_select(statuses=OPEN_REPORT, created_before=now - timedelta(hours=1),
                                             category_name=True)
    columns = reports.selected_columns
    waiting = db.session.execute(
        reports.add_columns(Community.street_id).join(Community, Community.id == columns.community_id)
        .outerjoin(Case, and_(Case.community_id == columns.community_id, Case.report_id == columns.id))
        .where(Case.id.is_(None))).all()
    limits = {}
    for report, category, street_id in waiting:
        if street_id not in limits:
            limits[street_id] = deadlines_of(street_id)
        hours = limits[street_id].get(category, DEFAULT_DEADLINE_HOURS)
        if report.created_at + timedelta(hours=hours) < now:
            _open_case(report, None, "overdue", now, overdue=True)
            moved += 1
    # 3. cases past their deadline at the street go up to the district; at the district they stay red
    late = db.session.execute(
        problem_reports.with_reports(select(Case), Case.community_id, Case.report_id, statuses=OPEN_REPORT)
        .where(Case.closed.is_(False), Case.deadline_at < now,
               or_(Case.level != "district", Case.overdue.is_(False)))).all()
    for case, report in late:
        case.overdue = True
        if case.level in NEXT_LEVEL:
            case.level = NEXT_LEVEL[case.level]
            district_id = db.session.scalar(select(Street.district_id).where(Street.id == case.street_id))
            problem_reports.add_event(report, None, "escalated", "overdue", now=now)
            _notify_all(_area_admins(district_id=district_id), "grid.case_overdue",
                        N_("A problem is past its deadline"), N_("Report %(id)s was not fixed in time."),
                        case_link(case), now, params={"id": report.id})
            moved += 1
    db.session.flush()
    return moved


def open_reports_with_cases(community_id, *, limit=100):
    """A community's unfinished reports with their case (or None), red first (for the drill-down)."""
    reports = problem_reports.reports_select(community_id, statuses=UNFINISHED_REPORT)
    columns = reports.selected_columns
    return db.session.execute(
        reports.add_columns(Case).outerjoin(Case, and_(Case.community_id == columns.community_id,
                                                       Case.report_id == columns.id))
        .order_by(func.coalesce(Case.overdue, False).desc(), columns.id.desc())
        .limit(limit)).all()


def durations(case):
    """Hours from dispatch to acceptance and to resolution (None while not reached)."""
    def hours(end):
        if end is None or case.dispatched_at is None:
            return None
        return round((end - case.dispatched_at).total_seconds() / 3600, 1)

    return {"accept": hours(case.accepted_at), "resolve": hours(case.resolved_at)}
