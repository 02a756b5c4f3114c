"""Patrol pages: shifts and sign-ups, the tracking page, review, problem reports, stats and settings."""
import json
from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from civic.core.csvfile import csv_response
from civic.core.errors import Invalid
from civic.core.i18n import N_
from civic.core.lookup import MAX_ID
from civic.core.permissions import can
from civic.core.uploads import save_photos
from civic.extensions import db
from civic.patrols import gpx, service
from civic.patrols.forms import (
    AssignForm,
    AttendanceForm,
    CategoryForm,
    MergeForm,
    NoteForm,
    ReasonForm,
    ReportForm,
    ResolveForm,
    ReviewForm,
    RouteForm,
    SettingsForm,
    ShiftForm,
    StartForm,
)
from civic.rules.views import flash_four_eyes
from civic.web import acting_user, community_view, current_community_id

bp = Blueprint("patrols", __name__)


def _form_error(form):
    """Raise the first validation message of a form as Invalid (shown as a flash)."""
    for errors in form.errors.values():
        if errors:
            raise Invalid(str(errors[0]) if isinstance(errors[0], str) else _("Please check what you entered."))
    raise Invalid()


def _map_attrs(community_id, track=None, route=None, area=False):
    """data-* attributes for a map drawn by static/js/patrols.js (no inline script). Without a tile service
    the map draws the community's own geography (its area and routes) under the track."""
    attrs = {"data-tiles": current_app.config.get("MAP_TILE_URL", ""),
             "data-tiles-attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
             "data-geo": json.dumps(service.community_geography(community_id))}
    if track is not None:
        attrs["data-track"] = json.dumps([[p["lat"], p["lon"]] for p in track])
    if route is not None:
        attrs["data-route"] = json.dumps(route)
        attrs["data-area"] = "1" if area else ""
    return attrs


@bp.route("/patrols")
@login_required
def index():
    """The bottom bar's Patrol tab: the patrol page of my current community."""
    community_id = current_community_id()
    if community_id is None:
        flash(_("Join your community to start patrolling."), "info")
        return redirect(url_for("communities.browse"))
    return redirect(url_for("patrols.home", community_id=community_id))


@bp.route("/c/<int:community_id>/patrols")
@community_view("patrol.join")
def home(community):
    """Upcoming shifts to sign up for, my patrol, reporting a problem, my numbers."""
    user = acting_user()
    shifts = service.upcoming_shifts(community.id, limit=20)
    return render_template(
        "patrols/home.html", community=community, shifts=shifts,
        mine=service.my_signups(user, community.id, [s.id for s in shifts]),
        active=service.active_patrol(user, community.id), stats=service.volunteer_stats(community.id, user.id),
        patrols=service.my_patrols(user, community.id, limit=5),
        coordinator=can(current_user, "patrol.coordinate", community.id),
        to_review=service.count_patrols_to_review(current_user, community.id)
        if can(current_user, "patrol.coordinate", community.id) else 0,
    )


# --- routes ---------------------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/patrols/routes", methods=["GET", "POST"])
@community_view("patrol.coordinate")
def routes(community):
    """The community's routes; draw a new one on the map or upload a GPX file."""
    form = RouteForm()
    if form.validate_on_submit():
        upload = form.gpx.data
        if upload and getattr(upload, "filename", ""):
            route = service.import_route(current_user, community.id, name=form.name.data,
                                         description=form.description.data or "",
                                         gpx_text=upload.read(gpx.MAX_GPX_BYTES + 1))
        else:
            try:
                waypoints = json.loads(form.waypoints.data or "[]")
            except ValueError:
                raise Invalid("The points on the map could not be read.") from None
            route = service.create_route(current_user, community.id, name=form.name.data,
                                         description=form.description.data or "", waypoints=waypoints,
                                         is_area=form.is_area.data)
        db.session.commit()
        flash(_("Route saved."), "success")
        return redirect(url_for("patrols.route", community_id=community.id, route_id=route.id))
    if request.method == "POST":
        _form_error(form)
    return render_template("patrols/routes.html", community=community, form=form,
                           routes=service.routes(community.id), map_attrs=_map_attrs(community.id, route=[]))


@bp.route("/c/<int:community_id>/patrols/routes/<int:route_id>")
@community_view("patrol.join")
def route(community, route_id):
    """One route on the map."""
    r = service.get_route(community.id, route_id)
    return render_template("patrols/route.html", community=community, route=r,
                           map_attrs=_map_attrs(community.id, route=r.waypoints, area=r.is_area),
                           coordinator=can(current_user, "patrol.coordinate", community.id))


@bp.route("/c/<int:community_id>/patrols/routes/<int:route_id>/retire", methods=["POST"])
@community_view("patrol.coordinate")
def retire_route(community, route_id):
    """Stop offering a route for new shifts."""
    service.retire_route(current_user, community.id, route_id)
    db.session.commit()
    flash(_("Route hidden."), "success")
    return redirect(url_for("patrols.routes", community_id=community.id))


# --- shifts ---------------------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/patrols/shifts/new", methods=["GET", "POST"])
@community_view("patrol.coordinate")
def new_shift(community):
    """Schedule a one-off or weekly shift."""
    form = ShiftForm()
    form.route_id.choices = [(0, _("No route"))] + [(r.id, r.name) for r in service.routes(community.id)]
    if form.validate_on_submit():
        common = dict(title=form.title.data, capacity=form.capacity.data, route_id=form.route_id.data or None,
                      meeting_point=form.meeting_point.data or "", notes=form.notes.data or "")
        start, end = form.start.data, form.end.data
        minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
        if minutes <= 0:
            minutes += 24 * 60  # an evening shift running past midnight
        if form.repeat.data == "weekly":
            if not form.last_day.data:
                raise Invalid("Please enter the last date.")
            shifts = service.create_weekly_shifts(
                current_user, community.id, weekdays=form.weekdays.data, local_start=start, minutes=minutes,
                first_date=form.day.data, last_date=form.last_day.data, **common)
            flash(_("%(n)s shifts scheduled.", n=len(shifts)), "success")
        else:
            starts = service.to_utc(datetime.combine(form.day.data, start))
            service.create_shift(current_user, community.id, starts_at=starts,
                                 ends_at=starts + timedelta(minutes=minutes), **common)
            flash(_("Shift scheduled."), "success")
        db.session.commit()
        return redirect(url_for("patrols.home", community_id=community.id))
    if request.method == "POST":
        _form_error(form)
    return render_template("patrols/shift_new.html", community=community, form=form)


@bp.route("/c/<int:community_id>/patrols/shifts/<int:shift_id>")
@community_view("patrol.join")
def shift(community, shift_id):
    """A shift: when, where, places left; sign up or withdraw; for coordinators the roster."""
    s = service.get_shift(community.id, shift_id)
    coordinator = can(current_user, "patrol.coordinate", community.id)
    mine = service.my_signups(acting_user(), community.id, [s.id]).get(s.id)
    route = s.route
    return render_template(
        "patrols/shift.html", community=community, shift=s, mine=mine, coordinator=coordinator,
        roster=service.roster(current_user, community.id, s.id) if coordinator else [],
        map_attrs=_map_attrs(community.id, route=route.waypoints, area=route.is_area) if route else None,
        cancel_form=ReasonForm(), attendance_form=AttendanceForm(), now=service.resolve(None),
    )


@bp.route("/c/<int:community_id>/patrols/shifts/<int:shift_id>/signup", methods=["POST"])
@community_view("patrol.join")
def sign_up(community, shift_id):
    """Take a place on the shift."""
    service.sign_up(acting_user(), community.id, shift_id)
    db.session.commit()
    flash(_("You are signed up. We will remind you two hours before."), "success")
    return redirect(url_for("patrols.shift", community_id=community.id, shift_id=shift_id))


@bp.route("/c/<int:community_id>/patrols/shifts/<int:shift_id>/withdraw", methods=["POST"])
@community_view("patrol.join")
def withdraw(community, shift_id):
    """Give my place back."""
    service.withdraw(acting_user(), community.id, shift_id)
    db.session.commit()
    flash(_("You have withdrawn from the shift."), "success")
    return redirect(url_for("patrols.shift", community_id=community.id, shift_id=shift_id))


@bp.route("/c/<int:community_id>/patrols/shifts/<int:shift_id>/shift.ics")
@community_view("patrol.join")
def shift_ics(community, shift_id):
    """The shift as a calendar file."""
    s = service.get_shift(community.id, shift_id)
    return Response(service.shift_ics(s, host=request.host.split(":")[0]), mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="patrol-shift-{s.id}.ics"'})


@bp.route("/c/<int:community_id>/patrols/shifts/<int:shift_id>/roster.csv")
@community_view("patrol.coordinate")
def roster_csv(community, shift_id):
    """The roster as a spreadsheet (CSV)."""
    return csv_response(service.roster_csv(current_user, community.id, shift_id), f"roster-{shift_id}.csv")


@bp.route("/c/<int:community_id>/patrols/shifts/<int:shift_id>/cancel", methods=["POST"])
@community_view("patrol.coordinate")
def cancel_shift(community, shift_id):
    """Cancel the shift and tell everyone signed up."""
    form = ReasonForm()
    if not form.validate_on_submit():
        _form_error(form)
    service.cancel_shift(current_user, community.id, shift_id, reason=form.reason.data)
    db.session.commit()
    flash(_("Shift cancelled; volunteers have been told."), "success")
    return redirect(url_for("patrols.shift", community_id=community.id, shift_id=shift_id))


@bp.route("/c/<int:community_id>/patrols/shifts/<int:shift_id>/attendance", methods=["POST"])
@community_view("patrol.coordinate")
def attendance(community, shift_id):
    """Mark a volunteer as come or not come."""
    form = AttendanceForm()
    if not form.validate_on_submit():
        _form_error(form)
    service.mark_attendance(current_user, community.id, shift_id, form.user_id.data,
                            attended=form.attended.data == "1")
    db.session.commit()
    flash(_("Attendance saved."), "success")
    return redirect(url_for("patrols.shift", community_id=community.id, shift_id=shift_id))


# --- tracking -------------------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/patrols/track")
@community_view("patrol.join")
def track(community):
    """The tracking page: start a patrol, or follow the one under way."""
    user = acting_user()
    patrol = service.active_patrol(user, community.id)
    points = service.track_of(patrol) if patrol else []
    return render_template(
        "patrols/track.html", community=community, patrol=patrol, start_form=StartForm(),
        shifts=service.startable_shifts(user, community.id), map_attrs=_map_attrs(community.id, track=points),
        points=points, started_unix=service.unix(patrol.started_at) if patrol else 0,
    )


@bp.route("/c/<int:community_id>/patrols/start", methods=["POST"])
@community_view("patrol.join")
def start(community):
    """Start a patrol (free, or in a shift I signed up for)."""
    form = StartForm()
    if not form.validate_on_submit():
        _form_error(form)
    service.start_patrol(acting_user(), community.id, shift_id=form.shift_id.data or None)
    db.session.commit()
    return redirect(url_for("patrols.track", community_id=community.id))


@bp.route("/c/<int:community_id>/patrols/<int:patrol_id>/end", methods=["POST"])
@community_view("patrol.join")
def end(community, patrol_id):
    """End my patrol (the page sends any points still waiting first)."""
    patrol = service.end_patrol(acting_user(), community.id, patrol_id)
    db.session.commit()
    flash(_("Patrol ended: %(km)s km. A coordinator will check it.", km=f"{patrol.distance_m / 1000:.2f}"),
          "success")
    return redirect(url_for("patrols.patrol", community_id=community.id, patrol_id=patrol.id))


@bp.route("/c/<int:community_id>/patrols/<int:patrol_id>")
@community_view("patrol.join")
def patrol(community, patrol_id):
    """A patrol's track, distance, time and flags; coordinators approve or reject it here."""
    p = service.visible_patrol(current_user, community.id, patrol_id)
    points = service.track_of(p)
    route = p.shift.route if p.shift else None
    attrs = _map_attrs(community.id, track=points, route=route.waypoints if route else None,
                       area=route.is_area if route else False)
    return render_template(
        "patrols/patrol.html", community=community, patrol=p, map_attrs=attrs, review_form=ReviewForm(),
        can_review=can(current_user, "patrol.coordinate", community.id) and p.status == "ended"
        and p.user_id != current_user.id,
        estimate=service.points_for(service.settings_for(community.id), p.distance_m, p.moving_seconds),
        route=route, route_share=(p.summary or {}).get("route_share"), corridor_m=service.ROUTE_CORRIDOR_M,
    )


@bp.route("/c/<int:community_id>/patrols/<int:patrol_id>/track.gpx")
@community_view("patrol.join")
def patrol_gpx(community, patrol_id):
    """Download a patrol's track as GPX."""
    p = service.visible_patrol(current_user, community.id, patrol_id)
    text = gpx.patrol_gpx(p, service.track_of(p), name=f"{p.user.display_name} {p.started_at:%Y-%m-%d}")
    return Response(text, mimetype="application/gpx+xml",
                    headers={"Content-Disposition": f'attachment; filename="patrol-{p.id}.gpx"'})


@bp.route("/c/<int:community_id>/patrols/<int:patrol_id>/review", methods=["POST"])
@community_view("patrol.coordinate")
def review(community, patrol_id):
    """Approve or reject a patrol."""
    form = ReviewForm()
    if not form.validate_on_submit() or form.decision.data not in ("approve", "reject"):
        raise Invalid()
    p = service.review_patrol(current_user, community.id, patrol_id, approve=form.decision.data == "approve",
                              note=form.note.data or "")
    db.session.commit()
    flash(_("Approved: %(points)s points, on the public notice board first.", points=p.points_awarded)
          if p.status == "approved" else _("Not accepted."), "success")
    return redirect(url_for("patrols.review_list", community_id=community.id))


@bp.route("/c/<int:community_id>/patrols/review")
@community_view("patrol.coordinate")
def review_list(community):
    """Ended patrols waiting for review."""
    return render_template("patrols/review.html", community=community,
                           patrols=service.patrols_to_review(current_user, community.id))


# --- problem reports ------------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/reports")
@community_view("patrol.join")
def reports(community):
    """My reports; for handlers the open ones; for assignees what was passed to them."""
    handler = can(current_user, "report.handle", community.id)
    scope = request.args.get("scope", "open" if handler else "mine")
    if scope not in ("mine", "assigned", "open", "all") or (scope in ("open", "all") and not handler):
        scope = "mine"
    return render_template("patrols/reports.html", community=community, scope=scope, handler=handler,
                           reports=service.reports_for(acting_user(), community.id, scope=scope))


@bp.route("/c/<int:community_id>/reports/new", methods=["GET", "POST"])
@community_view("patrol.join")
def new_report(community):
    """Report a problem (随手拍): kind, what is wrong, a photo and the phone's location."""
    form = ReportForm()
    categories = service.report_categories(community.id)
    form.category_id.choices = [(c.id, _(c.name)) for c in categories]
    if form.validate_on_submit():
        user = acting_user()
        photo = next(iter(save_photos([form.photo.data], uploader=user, community_id=community.id)), None)
        report = service.submit_report(
            user, community.id, category_id=form.category_id.data, description=form.description.data,
            photo=photo, lat=form.lat.data, lon=form.lon.data, patrol_id=form.patrol_id.data or None)
        db.session.commit()
        flash(_("Thank you. Your report number is %(id)s.", id=report.id), "success")
        return redirect(url_for("patrols.report", community_id=community.id, report_id=report.id))
    if request.method == "POST":
        _form_error(form)
    db.session.commit()  # default categories made on first use
    active = service.active_patrol(acting_user(), community.id)
    if active and not form.patrol_id.data:
        form.patrol_id.data = active.id
    return render_template("patrols/report_new.html", community=community, form=form)


@bp.route("/c/<int:community_id>/reports/<int:report_id>")
@community_view("patrol.join")
def report(community, report_id):
    """A report with its timeline and the next steps."""
    user = acting_user()
    r = service.visible_report(user, community.id, report_id)
    handler = can(current_user, "report.handle", community.id)
    assign = AssignForm()
    if handler:
        assign.assignee_id.choices = [(0, _("Nobody (a department)"))] + [
            (u.id, u.display_name) for u in service.members_of(community.id)]
    mappable = [{"lat": r.lat, "lon": r.lon}] if r.lat is not None else []
    return render_template(
        "patrols/report.html", community=community, report=r, events=service.timeline(r), handler=handler,
        is_reporter=r.reporter_id == user.id, is_assignee=r.assignee_id == user.id, assign_form=assign,
        resolve_form=ResolveForm(), note_form=NoteForm(), merge_form=MergeForm(),
        map_attrs=_map_attrs(community.id, track=mappable) if mappable else None,
    )


REPORT_ACTIONS = ("accept", "assign", "resolve", "confirm", "reopen", "close", "merge")
REPORT_DONE = {  # what happened, said after each step (issue 15: not a bare "Saved.")
    "accept": N_("Accepted: you are now handling this report."),
    "assign": N_("Passed on. The person or department has been told."),
    "resolve": N_("Marked as fixed. The person who reported it will be asked to confirm."),
    "confirm": N_("Thank you for confirming the fix. The report is now finished."),
    "reopen": N_("Reopened. The people handling it have been told it is still a problem."),
    "close": N_("The report is closed."),
    "merge": N_("Merged into the other report."),
}


@bp.route("/c/<int:community_id>/reports/<int:report_id>/<action>", methods=["POST"])
@community_view("patrol.join")
def report_action(community, report_id, action):
    """Move a report on (the service checks who may take which step)."""
    user, cid = acting_user(), community.id
    if action not in REPORT_ACTIONS:
        abort(404)
    if action == "accept":
        form = NoteForm()
        form.validate_on_submit() or _form_error(form)
        service.accept_report(user, cid, report_id, note=form.note.data or "")
    elif action == "assign":
        form = AssignForm()
        form.validate_on_submit() or _form_error(form)
        service.assign_report(user, cid, report_id, assignee_id=form.assignee_id.data or None,
                              department=form.department.data or "", note=form.note.data or "")
    elif action == "resolve":
        form = ResolveForm()
        form.validate_on_submit() or _form_error(form)
        photo = next(iter(save_photos([form.photo.data], uploader=user, community_id=cid)), None)
        service.resolve_report(user, cid, report_id, photo=photo, note=form.note.data or "")
    elif action == "confirm":
        form = NoteForm()
        form.validate_on_submit() or _form_error(form)
        report = service.confirm_report(user, cid, report_id)
    elif action == "reopen":
        form = NoteForm()
        form.validate_on_submit() or _form_error(form)
        service.reopen_report(user, cid, report_id, note=form.note.data or "")
    elif action == "close":
        form = NoteForm()
        form.validate_on_submit() or _form_error(form)
        service.close_report(user, cid, report_id, note=form.note.data or "")
    else:
        form = MergeForm()
        form.validate_on_submit() or _form_error(form)
        service.merge_report(user, cid, report_id, into_id=form.into_id.data)
    db.session.commit()
    message = _(REPORT_DONE[action])
    if action == "confirm" and report.points_awarded:
        message += " " + _("%(points)s points are on the public notice board; they reach the passbook when the "
                           "notice period ends without objection.", points=report.points_awarded)
    flash(message, "success")
    return redirect(url_for("patrols.report", community_id=cid, report_id=report_id))


@bp.route("/c/<int:community_id>/reports/categories", methods=["GET", "POST"])
@community_view("report.handle")
def categories(community):
    """Edit the kinds of problem residents can report."""
    form = CategoryForm()
    if form.validate_on_submit():
        category_id = request.form.get("category_id", type=int)
        if category_id is not None and not 0 <= category_id <= MAX_ID:
            abort(404)
        if category_id:
            service.update_category(current_user, community.id, category_id, name=form.name.data,
                                    active=request.form.get("active") == "1")
        else:
            service.add_category(current_user, community.id, form.name.data)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("patrols.categories", community_id=community.id))
    if request.method == "POST":
        _form_error(form)
    items = service.report_categories(community.id, active_only=False)
    db.session.commit()
    return render_template("patrols/categories.html", community=community, form=form, categories=items)


# --- stats and settings ---------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/patrols/stats")
@community_view("patrol.join")
def stats(community):
    """Totals, this month, where patrols went, and star volunteers."""
    cov = service.coverage(community.id)
    svg = service.coverage_svg(cov)
    return render_template(
        "patrols/stats.html", community=community, stats=service.community_stats(community.id),
        me=service.volunteer_stats(community.id, acting_user().id), stars=service.star_volunteers(community.id),
        coverage_svg=Markup(svg) if svg else None, cells=len(cov["cells"]), steps=service.STAR_STEPS,
    )


@bp.route("/c/<int:community_id>/patrols/settings", methods=["GET", "POST"])
@community_view("patrol.configure")
def settings(community):
    """Points per km, per hour, per confirmed report."""
    current = service.settings_for(community.id)
    form = SettingsForm(obj=current)
    areas = [r for r in service.routes(community.id) if r.is_area]
    form.area_route_id.choices = [(0, _("None (use the centre and radius)"))] + [(r.id, r.name) for r in areas]
    if request.method == "GET" and current.area_boundary:
        form.area_route_id.data = next((r.id for r in areas if r.waypoints == current.area_boundary), 0)
    if form.validate_on_submit():
        service.update_settings(current_user, community.id, points_per_km=form.points_per_km.data,
                                points_per_hour=form.points_per_hour.data,
                                max_points_per_patrol=form.max_points_per_patrol.data,
                                report_points=form.report_points.data,
                                max_points_per_day=form.max_points_per_day.data,
                                max_hours_per_day=form.max_hours_per_day.data)
        boundary = service.get_route(community.id, form.area_route_id.data).waypoints \
            if form.area_route_id.data else None
        service.set_patrol_area(current_user, community.id, lat=form.area_lat.data, lon=form.area_lon.data,
                                radius_m=form.area_radius_m.data, boundary=boundary)
        db.session.commit()
        flash(_("Saved."), "success")
        flash_four_eyes()
        return redirect(url_for("patrols.settings", community_id=community.id))
    if request.method == "POST":
        _form_error(form)
    db.session.commit()
    return render_template("patrols/settings.html", community=community, form=form)
