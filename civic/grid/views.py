"""Grid pages: a grid worker's home and rounds, the committee's grid setup, cases for the street and its
departments, the street office's command view (街道综治中心) and the weekly/monthly summaries."""
import json
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from civic.accounts.models import User
from civic.accounts.service import normalize_phone
from civic.communities.models import Community, Street
from civic.core.clock import utcnow
from civic.core.csvfile import csv_response
from civic.core.errors import Invalid
from civic.core.permissions import can
from civic.core.uploads import save_photo
from civic.deliberation import service as deliberation
from civic.extensions import db
from civic.grid import command, disputes, service, summaries
from civic.grid.forms import (
    CycleForm,
    DeadlineForm,
    DepartmentForm,
    DispatchForm,
    DisputeForm,
    FollowUpForm,
    NoteForm,
    OutcomeForm,
    ResolveForm,
    RoleForm,
    SessionForm,
    StaffForm,
    VisitForm,
)
from civic.grid.models import Department
from civic.merit import service as merit
from civic.patrols import reports as problem_reports
from civic.patrols import shifts as patrol_shifts
from civic.patrols import stats as patrol_stats
from civic.web import community_view, register_viewer_figures, viewer_figures

bp = Blueprint("grid", __name__)


# Read with the signed-in person's other figures (the bell's unread count) in one statement.
register_viewer_figures(command.area_work_columns)


@bp.app_context_processor
def _grid_links():
    """`grid_work()` in templates: does the signed-in person run a street or work for a department?"""

    def grid_work():
        if not getattr(current_user, "is_authenticated", False):
            return {"command": False, "department": False}
        figures = viewer_figures()
        return {"command": bool(figures["area_command"]), "department": bool(figures["area_department"])}

    return {"grid_work": grid_work}


def _form_error(form):
    for errors in form.errors.values():
        if errors:
            raise Invalid(str(errors[0]))
    raise Invalid()


def _photo(upload, community_id):
    """The chosen photo saved as the current user's upload in the community, or None."""
    if not upload or not getattr(upload, "filename", ""):
        return None
    return save_photo(upload, uploader=current_user, community_id=community_id)


# --- the grid worker ------------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/grid")
@community_view("grid.view")
def home(community):
    """My grids: who is due a visit today, households and residents, open problems."""
    return render_template("grid/home.html", community=community, grids=service.grid_home(current_user, community.id),
                           manage=can(current_user, "grid.manage", community.id),
                           escalate=can(current_user, "grid.escalate", community.id), note_form=NoteForm())


@bp.route("/c/<int:community_id>/grid/households/<int:household_id>", methods=["GET", "POST"])
@community_view("grid.view")
def household(community, household_id):
    """A household: its residents and visits, and the few taps that record today's visit."""
    house = service.get_household(community.id, household_id)
    if house.grid_id not in service.my_grid_ids(current_user, community.id):
        abort(404)
    form = VisitForm()
    form.category_id.choices = [(c.id, _(c.name)) for c in problem_reports.report_categories(community.id)]
    if request.method == "POST":
        if not form.validate_on_submit():
            _form_error(form)
        photo = _photo(form.photo.data, community.id)
        problem = None
        if form.raise_problem.data:
            problem = {"category_id": form.category_id.data, "description": form.problem.data or form.notes.data}
        visit = service.record_visit(current_user, community.id, house.id, met=form.met.data, notes=form.notes.data,
                                     photo=photo, follow_up=form.follow_up.data, minutes=form.minutes.data,
                                     problem=problem)
        db.session.commit()
        if visit.report_id:
            flash(_("Visit recorded, and problem report %(id)s raised.", id=visit.report_id), "success")
        else:
            flash(_("Visit recorded."), "success")
        return redirect(url_for("grid.home", community_id=community.id))
    home_rows = [r for g in service.grid_home(current_user, community.id) for r in g["households"]
                 if r["household"].id == house.id]
    return render_template("grid/household.html", community=community, house=house, form=form,
                           row=home_rows[0] if home_rows else None, visits=service.visits_to(community.id, house.id),
                           can_visit=can(current_user, "grid.visit", community.id))


@bp.route("/c/<int:community_id>/grid/reports/<int:report_id>/escalate", methods=["POST"])
@community_view("grid.escalate")
def escalate(community, report_id):
    """The grid leader or committee passes a problem up to the street (网格吹哨)."""
    form = NoteForm()
    form.validate_on_submit() or _form_error(form)
    service.escalate_report(current_user, community.id, report_id, note=form.note.data or "")
    db.session.commit()
    flash(_("Passed to the street. It will be sent to the right department."), "success")
    return redirect(url_for("grid.home", community_id=community.id))


@bp.route("/c/<int:community_id>/grid/manage", methods=["GET", "POST"])
@community_view("grid.manage")
def manage(community):
    """The committee appoints grid leaders, workers and building heads and sets each grid's visiting cycle."""
    role_form, cycle_form = RoleForm(prefix="r"), CycleForm(prefix="c")
    grids = service.grids_of(community.id)
    role_form.grid_id.choices = cycle_form.grid_id.choices = [(g.id, g.name) for g, _days in grids]
    role_form.user_id.choices = [(u.id, u.display_name) for u in problem_reports.members_of(community.id)]
    sent = {key.split("-")[0] for key in request.form}
    if "r" in sent and role_form.validate_on_submit():
        service.assign_role(current_user, community.id, role_form.grid_id.data, role_form.user_id.data,
                            role_form.role.data)
        db.session.commit()
        flash(_("Role given."), "success")
        return redirect(url_for("grid.manage", community_id=community.id))
    if "c" in sent and cycle_form.validate_on_submit():
        service.set_cycle(current_user, community.id, cycle_form.grid_id.data, cycle_form.days.data)
        db.session.commit()
        flash(_("Visiting cycle saved."), "success")
        return redirect(url_for("grid.manage", community_id=community.id))
    removed = request.form.get("remove_role_id", type=int)
    if removed and NoteForm().validate_on_submit():
        service.remove_role(current_user, community.id, removed)
        db.session.commit()
        flash(_("Role removed."), "success")
        return redirect(url_for("grid.manage", community_id=community.id))
    if request.method == "POST":
        _form_error(role_form if "r" in sent else cycle_form)
    return render_template("grid/manage.html", community=community, grids=grids, role_form=role_form,
                           cycle_form=cycle_form, roles=service.roles_of_community(community.id),
                           visit_points=service.settings_for(community.id).visit_points)


# --- cases: the street dispatches, departments report for duty ------------------------------------

@bp.route("/grid/cases")
@login_required
def cases():
    """The cases of my streets to dispatch, and what was dispatched to my departments."""
    streets = [(i, n) for kind, i, n in command.areas_of(current_user) if kind == "street"]
    street_cases = {i: service.cases_for_street(current_user, i) for i, _n in streets}
    mine = service.cases_for_staff(current_user)
    if not streets and not service.staff_department_ids(current_user):
        abort(403)
    return render_template("grid/cases.html", streets=streets, street_cases=street_cases, mine=mine)


@bp.route("/grid/cases/<int:case_id>", methods=["GET", "POST"])
@login_required
def case(case_id):
    """A case: the problem, its timeline, and the next step for whoever is looking."""
    c = service.visible_case(current_user, case_id)
    report = problem_reports.get_report(c.community_id, c.report_id)
    dispatch, note, resolve_form = DispatchForm(prefix="d"), NoteForm(prefix="n"), ResolveForm(prefix="s")
    street_admin = service.is_street_admin(current_user, c)
    staff = bool(c.department_id and c.department_id in service.staff_department_ids(current_user))
    dispatch.department_id.choices = [(d.id, d.name) for d in service.departments_for_street(c.street_id)]
    action = request.form.get("action")
    if request.method == "POST":
        if action == "dispatch" and dispatch.validate_on_submit():
            service.dispatch_case(current_user, c.id, dispatch.department_id.data, note=dispatch.note.data or "")
            message = _("Sent to the department with its deadline.")
        elif action == "accept" and note.validate_on_submit():
            service.accept_case(current_user, c.id, note=note.note.data or "")
            message = _("Accepted. Please fix it before the deadline.")
        elif action == "resolve" and resolve_form.validate_on_submit():
            service.resolve_case(current_user, c.id, photo=_photo(resolve_form.photo.data, c.community_id),
                                 note=resolve_form.note.data or "")
            message = _("Marked as fixed. The person who reported it will be asked to confirm.")
        else:
            _form_error(dispatch if action == "dispatch" else resolve_form if action == "resolve" else note)
        db.session.commit()
        flash(message, "success")
        return redirect(url_for("grid.case", case_id=c.id))
    return render_template("grid/case.html", case=c, report=report, events=problem_reports.timeline(report),
                           community=db.session.get(Community, c.community_id), street_admin=street_admin,
                           staff=staff, dispatch=dispatch, note_form=note, resolve_form=resolve_form,
                           durations=service.durations(c))


@bp.route("/grid/departments", methods=["GET", "POST"])
@login_required
def departments():
    """Street and district administrators: departments, their staff, and the deadline for each kind of problem."""
    areas = command.areas_of(current_user)
    if not areas:
        abort(403)
    dept_form, staff_form, deadline_form = DepartmentForm(prefix="p"), StaffForm(prefix="s"), DeadlineForm(prefix="l")
    dept_form.area.choices = [(f"{kind}:{i}", n) for kind, i, n in areas]
    street_ids = [i for kind, i, _n in areas if kind == "street"]
    district_ids = [i for kind, i, _n in areas if kind == "district"]
    depts = db.session.scalars(select(Department).where(
        Department.street_id.in_(street_ids or [0]) | Department.district_id.in_(district_ids or [0]))
        .order_by(Department.name)).all()
    staff_form.department_id.choices = [(d.id, d.name) for d in depts]
    deadline_form.street_id.choices = [(i, n) for kind, i, n in areas if kind == "street"]
    deadline_form.category.choices = [(name, _(name)) for name in service.category_names(street_ids)]
    sent = {key.split("-")[0] for key in request.form}
    if "p" in sent and dept_form.validate_on_submit():
        kind, _sep, number = dept_form.area.data.partition(":")
        service.create_department(current_user, name=dept_form.name.data,
                                  **({"street_id": int(number)} if kind == "street" else {"district_id": int(number)}))
        db.session.commit()
        flash(_("Department added."), "success")
        return redirect(url_for("grid.departments"))
    if "s" in sent and staff_form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.phone == normalize_phone(staff_form.phone.data)))
        if user is None:
            raise Invalid(_("Nobody has registered with that mobile number."))
        service.add_staff(current_user, staff_form.department_id.data, user.id)
        db.session.commit()
        flash(_("%(name)s now works for the department.", name=user.display_name), "success")
        return redirect(url_for("grid.departments"))
    if "l" in sent and deadline_form.validate_on_submit():
        service.set_deadline(current_user, deadline_form.street_id.data, deadline_form.category.data,
                             deadline_form.hours.data)
        db.session.commit()
        flash(_("Deadline saved."), "success")
        return redirect(url_for("grid.departments"))
    if request.method == "POST":
        _form_error(dept_form if "p" in sent else staff_form if "s" in sent else deadline_form)
    deadlines = {i: service.deadlines_of(i) for i in street_ids}
    return render_template("grid/departments.html", areas=areas, depts=depts, dept_form=dept_form,
                           staff_form=staff_form, deadline_form=deadline_form, deadlines=deadlines,
                           staff=service.staff_by_department([d.id for d in depts]))


# --- the street office's command view -------------------------------------------------------------

def _area_args():
    kind = request.args.get("area", "")
    kind, _sep, number = kind.partition(":")
    if kind in ("street", "district") and number.isdigit():
        return {f"{kind}_id": int(number)}
    areas = command.areas_of(current_user)
    if not areas:
        abort(403)
    kind, number, _name = areas[0]
    return {f"{kind}_id": number}


@bp.route("/grid/command")
@login_required
def command_view():
    """街道综治中心: every community of my street or district side by side."""
    area = _area_args()
    rows = command.command_view(current_user, **area)
    trend = command.weekly_trend([r["id"] for r in rows], utcnow())
    problems, more = command.open_problems_on_map({r["id"]: r["name"] for r in rows})
    return render_template("grid/command.html", rows=rows, total=command.totals(rows), trend=trend,
                           peak=max([1] + [max(t["problems"], t["visits"]) for t in trend]), areas=command.areas_of(
        current_user), area=area, current=":".join(("street" if "street_id" in area else "district",
                                                    str(next(iter(area.values()))))),
                           problems=problems, more_problems=more, map_attrs=_problem_map(problems))


def _problem_map(problems):
    """data-* attributes for the map of open problems (drawn by static/js/patrols.js without tiles unless a tile
    service is configured): one dot per problem, red when overdue, drawn last so red stays on top."""
    marks = [{"lat": p["lat"], "lon": p["lon"], "overdue": p["overdue"],
              "label": f'#{p["id"]} {p["community"]} · {_(p["category"])}',
              "href": url_for("grid.drill_down", community_id=p["community_id"], view="problems")}
             for p in reversed(problems)]
    return {"data-tiles": current_app.config.get("MAP_TILE_URL", ""),
            "data-tiles-attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
            "data-marks": json.dumps(marks, ensure_ascii=False)}


DRILL_DOWN = ("overview", "problems", "notices", "patrols", "meetings")


def _inspected(community_id):
    """The community, when I administer its street or district (read-only); 404 otherwise, so that another
    street's communities do not even show they exist."""
    community = db.session.get(Community, community_id)
    if community is None or not can(current_user, "community.inspect", community_id):
        abort(404)
    return community


@bp.route("/grid/command/c/<int:community_id>")
@login_required
def command_community(community_id):
    """Drill-down: one community's grids, visit coverage and open problems, read-only."""
    return drill_down(community_id, "overview")


@bp.route("/grid/command/c/<int:community_id>/<view>")
@login_required
def drill_down(community_id, view):
    """Drill-down into a community's own views, read-only: its problems, notice board, patrols and meetings."""
    if view not in DRILL_DOWN:
        abort(404)
    community = _inspected(community_id)
    now = utcnow()
    context = {}
    if view == "overview":
        context = {"figures": command.community_figures([community_id], now - timedelta(days=30), now)[community_id],
                   "grids": command.grid_figures(community_id, now - timedelta(days=30), now),
                   "problems": service.open_reports_with_cases(community_id)}
    elif view == "problems":
        context = {"problems": service.open_reports_with_cases(community_id)}
    elif view == "notices":
        context = {"board": merit.notice_board(current_user, community_id, page=request.args.get("page", 1, type=int))}
    elif view == "patrols":
        context = {"stats": patrol_stats.community_stats(community_id),
                   "shifts": patrol_shifts.upcoming_shifts(community_id, limit=20)}
    else:
        context = {"meetings": deliberation.latest_meetings(community_id)}
    return render_template("grid/drill_down.html", community=community, view=view, views=DRILL_DOWN, **context)


# --- weekly analysis and monthly summary ----------------------------------------------------------

@bp.route("/grid/summaries")
@login_required
def summary_list():
    """The weekly and monthly summaries I may read."""
    return render_template("grid/summaries.html", summaries=summaries.visible_to(current_user))


@bp.route("/grid/summaries/<int:summary_id>")
@login_required
def summary(summary_id):
    """One summary as a page (printable), or as CSV with ?format=csv."""
    s = summaries.get_visible(current_user, summary_id)
    if request.args.get("format") == "csv":
        return csv_response(summaries.to_csv(s), f"summary-{s.id}.csv")
    return render_template("grid/summary.html", summary=s, title=summaries.title_of(s),
                           print_view=request.args.get("print") == "1",
                           street=db.session.get(Street, s.street_id))


# --- disputes (矛盾纠纷) -----------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/grid/disputes", methods=["GET", "POST"])
@community_view("community.view")
def dispute_list(community):
    """Disputes: open ones first; the grid leader or committee records a new one and names its mediator."""
    manage = can(current_user, "dispute.manage", community.id)
    form = DisputeForm()
    form.mediator_id.choices = [(u.id, u.display_name) for u in problem_reports.members_of(community.id)]
    if request.method == "POST":
        if not manage:
            abort(403)
        form.validate_on_submit() or _form_error(form)
        d = disputes.open_dispute(current_user, community.id, title=form.title.data, parties=form.parties.data,
                                  mediator_id=form.mediator_id.data)
        db.session.commit()
        flash(_("Dispute recorded. The mediator has been told."), "success")
        return redirect(url_for("grid.dispute", community_id=community.id, dispute_id=d.id))
    rows = disputes.disputes_of(current_user, community.id)
    if not manage and not rows:
        abort(403)
    return render_template("grid/disputes.html", community=community, disputes=rows, form=form, manage=manage)


@bp.route("/c/<int:community_id>/grid/disputes/<int:dispute_id>", methods=["GET", "POST"])
@community_view("community.view")
def dispute(community, dispute_id):
    """A dispute: parties, sessions, the agreement and the follow-up visit."""
    d = disputes.get_dispute(current_user, community.id, dispute_id)
    session_form, outcome_form, follow_form = SessionForm(prefix="m"), OutcomeForm(prefix="o"), FollowUpForm(prefix="f")
    action = request.form.get("action")
    if request.method == "POST":
        if action == "session" and session_form.validate_on_submit():
            disputes.record_session(current_user, community.id, d.id, attendees=session_form.attendees.data,
                                    notes=session_form.notes.data)
            message = _("Session recorded.")
        elif action in ("agreed", "failed") and outcome_form.validate_on_submit():
            disputes.record_outcome(current_user, community.id, d.id, agreed=action == "agreed",
                                    agreement=outcome_form.agreement.data,
                                    follow_up_days=outcome_form.follow_up_days.data)
            message = _("Outcome recorded. A follow-up visit is due.")
        elif action == "follow_up" and follow_form.validate_on_submit():
            disputes.record_follow_up(current_user, community.id, d.id, note=follow_form.note.data)
            message = _("Follow-up recorded. The dispute is closed.")
        else:
            _form_error(session_form if action == "session" else follow_form if action == "follow_up"
                        else outcome_form)
        db.session.commit()
        flash(message, "success")
        return redirect(url_for("grid.dispute", community_id=community.id, dispute_id=d.id))
    return render_template("grid/dispute.html", community=community, dispute=d, sessions=disputes.sessions_of(d),
                           session_form=session_form, outcome_form=outcome_form, follow_form=follow_form)
