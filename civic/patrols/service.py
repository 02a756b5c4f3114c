"""Patrol rules: routes and shifts, sign-ups with a capacity that holds, tracked patrols and their
review into points and service hours, problem reports (随手拍), and the numbers behind recognition.

Points are never posted from here: an approved patrol or a confirmed report puts its award on the
community's notice board through civic.merit (one award per cause, source "patrol"/"report"), where
neighbours may object; the notice job posts it when the period ends. Nobody decides an award of
which they are the beneficiary: a coordinator does not review their own patrol, and a report's
reporter does not accept, take or resolve it.
"""
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from civic.accounts.models import User
from civic.communities.models import MemberRole, Membership
from civic.communities.service import register_seeder, register_settings_seeder
from civic.core import audit, uploads
from civic.core.clock import local_month_start, resolve, to_local, to_utc
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import can, require
from civic.extensions import db
from civic.merit import service as merit
from civic.notifications import service as notices
from civic.patrols import track
from civic.patrols.models import (
    Patrol,
    PatrolRoute,
    PatrolSettings,
    Report,
    ReportCategory,
    ReportEvent,
    ServiceRecord,
    Shift,
    ShiftSeries,
    Signup,
    TrackPoint,
)
from civic.rules import service as rules
from civic.rules.service import register_settings_field

REMINDER_BEFORE = timedelta(hours=2)
IDLE_CLOSE_AFTER = timedelta(minutes=30)
EARLY_START = timedelta(minutes=30)  # a shift's patrol may start this long before the shift
CLOCK_SKEW = timedelta(minutes=2)  # a phone's clock may be this far off the server's; fixes beyond are dropped
ROUTE_CORRIDOR_M = 100  # a fix this close to a shift's route is on the route
AREA_MARGIN_M = 50  # a fix this close to the community's area counts as inside it
FINGERPRINT_LOOKBACK = timedelta(days=60)  # earlier patrols compared for a copied track
DROPPED_SUSPICIOUS_MIN = 10  # this many fixes outside the patrol's time, and over a tenth of all, is suspicious
MAX_BATCH = 500
MAX_WAYPOINTS = 2000
MAX_SERIES_SHIFTS = 120
STAR_STEPS = (100, 300, 600, 1000, 1500)  # verified service hours for 1 … 5 stars (星级志愿者)
DEFAULT_REPORT_CATEGORIES = (
    N_("Illegal activity"),   # 违法线索
    N_("Uncivilised"),        # 不文明
    N_("Inconvenient"),       # 不方便
    N_("Unsafe"),             # 不安全
    N_("Unhealthy"),          # 不健康
)


# --- time helpers ---------------------------------------------------------------------------------

def unix(naive_utc):
    """Unix seconds of a naive UTC datetime."""
    return naive_utc.replace(tzinfo=UTC).timestamp()


def from_unix(seconds):
    """A naive UTC datetime from unix seconds."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _text(value, limit, message=None):
    value = (value or "").strip()
    if message and not value:
        raise Invalid(message)
    if len(value) > limit:
        raise Invalid(N_("Please keep it under %(n)s characters."), n=limit)
    return value


def _people_with_roles(community_id, roles):
    return db.session.scalars(
        select(User).join(MemberRole, MemberRole.user_id == User.id).join(
            Membership, and_(Membership.user_id == User.id, Membership.community_id == MemberRole.community_id)
        ).where(MemberRole.community_id == community_id, MemberRole.role.in_(roles), Membership.status == "active")
        .distinct().order_by(User.id)
    ).all()


def members_of(community_id):
    """Active members of the community by name (to pass a report to a person)."""
    return db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community_id, Membership.status == "active")
        .order_by(User.display_name, User.id)
    ).all()


def handlers_of(community_id):
    """Coordinators and committee members: they schedule, review and handle reports."""
    return _people_with_roles(community_id, ("coordinator", "committee"))


# --- settings -------------------------------------------------------------------------------------

def settings_for(community_id):
    """The community's patrol rules (saved when the community was created; reading never writes)."""
    found = db.session.scalar(select(PatrolSettings).where(PatrolSettings.community_id == community_id))
    return found or PatrolSettings(community_id=community_id, points_per_km=10, points_per_hour=10,
                                   max_points_per_patrol=100, report_points=5)


register_settings_seeder(PatrolSettings, settings_for)
register_settings_field("patrols", "points_per_km", N_("Patrol points per km"), row=settings_for, maximum=10000)
register_settings_field("patrols", "points_per_hour", N_("Patrol points per hour"), row=settings_for, maximum=10000)
register_settings_field("patrols", "max_points_per_patrol", N_("Most points for one patrol"), row=settings_for,
                        minimum=1, maximum=10000)
register_settings_field("patrols", "report_points", N_("Points for a confirmed problem report"), row=settings_for,
                        maximum=10000)
register_settings_field("patrols", "max_points_per_day", N_("Most patrol points for one person in a day"),
                        row=settings_for, minimum=1, maximum=10000)
register_settings_field("patrols", "max_hours_per_day", N_("Most patrol hours for one person in a day"),
                        row=settings_for, minimum=1, maximum=24)


def update_settings(actor, community_id, *, points_per_km, points_per_hour, max_points_per_patrol, report_points,
                    max_points_per_day=None, max_hours_per_day=None, now=None):
    """The committee proposes how many points a km, an hour and a confirmed report earn, and the most points
    and service hours one person earns from patrols in a day (None keeps the current cap); four eyes."""
    require(actor, "patrol.configure", community_id)
    values = (points_per_km, points_per_hour, max_points_per_patrol, report_points)
    if any(v is None or v < 0 or v > 10000 for v in values) or max_points_per_patrol < 1:
        raise Invalid(N_("Points must be whole numbers between 0 and 10000 (the most per patrol at least 1)."))
    if max_points_per_day is not None and not 1 <= max_points_per_day <= 10000:
        raise Invalid(N_("The most points a day must be between 1 and 10000."))
    if max_hours_per_day is not None and not 1 <= max_hours_per_day <= 24:
        raise Invalid(N_("The most hours a day must be between 1 and 24."))
    values = {"points_per_km": points_per_km, "points_per_hour": points_per_hour,
              "max_points_per_patrol": max_points_per_patrol, "report_points": report_points}
    if max_points_per_day is not None:
        values["max_points_per_day"] = max_points_per_day
    if max_hours_per_day is not None:
        values["max_hours_per_day"] = max_hours_per_day
    rules.propose_changes(actor, community_id, "patrols", values, now=now)
    return settings_for(community_id)


def set_patrol_area(actor, community_id, *, lat=None, lon=None, radius_m=None, boundary=None):
    """The committee sets the community's patrol area: a boundary ([[lat, lon], ...], a closed shape) or a
    centre and radius. A patrol wholly outside it is flagged. Nothing given clears the area."""
    require(actor, "patrol.configure", community_id)
    settings = settings_for(community_id)
    if boundary:
        boundary = clean_waypoints(boundary)
        if len(boundary) < 3:
            raise Invalid(N_("An area needs at least three points."))
    if lat is not None or lon is not None or radius_m is not None:
        if lat is None or lon is None or radius_m is None:
            raise Invalid(N_("Please give the centre (latitude and longitude) and the radius."))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not 50 <= radius_m <= 50000:
            raise Invalid(N_("The centre must be a real place and the radius between 50 m and 50 km."))
    settings.area_boundary = boundary or None
    settings.area_lat, settings.area_lon = lat, lon
    settings.area_radius_m = int(radius_m) if radius_m is not None else None
    db.session.flush()
    audit.record("patrol.area", actor=actor, community_id=community_id,
                 detail={"centre": [lat, lon], "radius_m": radius_m, "boundary_points": len(boundary or [])})
    return settings


def community_geography(community_id):
    """What a map without tiles draws: the community's area and its active patrol routes."""
    settings = db.session.scalar(select(PatrolSettings).where(PatrolSettings.community_id == community_id))
    area = None
    if settings is not None and settings.area_boundary:
        area = {"boundary": settings.area_boundary}
    elif settings is not None and settings.has_area:
        area = {"centre": [settings.area_lat, settings.area_lon], "radius_m": settings.area_radius_m}
    return {"area": area, "routes": [{"name": r.name, "points": r.waypoints, "area": r.is_area}
                                     for r in routes(community_id)]}


# --- routes ---------------------------------------------------------------------------------------

def clean_waypoints(waypoints):
    """Validate [[lat, lon], ...]: 2 to 2000 points in range. Returns a list of [lat, lon] floats."""
    if not isinstance(waypoints, (list, tuple)) or len(waypoints) < 2:
        raise Invalid(N_("Please put at least two points on the map."))
    if len(waypoints) > MAX_WAYPOINTS:
        raise Invalid(N_("A route can have at most %(n)s points."), n=MAX_WAYPOINTS)
    cleaned = []
    for item in waypoints:
        try:
            lat, lon = float(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise Invalid(N_("The points on the map could not be read.")) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat != lat or lon != lon:
            raise Invalid(N_("The points on the map could not be read."))
        cleaned.append([round(lat, 7), round(lon, 7)])
    return cleaned


def create_route(actor, community_id, *, name, waypoints, description="", is_area=False):
    """A coordinator saves a patrol route (a line) or area (a closed shape)."""
    require(actor, "patrol.coordinate", community_id)
    route = PatrolRoute(
        community_id=community_id, name=_text(name, 80, N_("Please enter a name.")),
        description=_text(description, 500), waypoints=clean_waypoints(waypoints), is_area=bool(is_area),
        created_by_id=actor.id,
    )
    db.session.add(route)
    db.session.flush()
    return route


def import_route(actor, community_id, *, name, gpx_text, description=""):
    """A coordinator makes a route from an uploaded GPX file."""
    from civic.patrols.gpx import route_points

    return create_route(actor, community_id, name=name, description=description, waypoints=route_points(gpx_text))


def routes(community_id, *, active_only=True):
    """The community's routes, newest first."""
    query = select(PatrolRoute).where(PatrolRoute.community_id == community_id)
    if active_only:
        query = query.where(PatrolRoute.active.is_(True))
    return db.session.scalars(query.order_by(PatrolRoute.id.desc())).all()


def get_route(community_id, route_id):
    """A route of this community, or NotFound."""
    route = db.session.scalar(select(PatrolRoute).where(
        PatrolRoute.community_id == community_id, PatrolRoute.id == route_id))
    if route is None:
        raise NotFound(N_("No such route."))
    return route


def retire_route(actor, community_id, route_id):
    """Hide a route from new shifts (old shifts keep it)."""
    require(actor, "patrol.coordinate", community_id)
    route = get_route(community_id, route_id)
    route.active = False
    db.session.flush()
    return route


# --- shifts ---------------------------------------------------------------------------------------

def _check_shift_fields(community_id, title, capacity, route_id, meeting_point, notes):
    title = _text(title, 80, N_("Please enter a title."))
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 500:
        raise Invalid(N_("The number of places must be between 1 and 500."))
    if route_id:
        get_route(community_id, route_id)
    return title, _text(meeting_point, 120), _text(notes, 500)


def create_shift(actor, community_id, *, title, starts_at, ends_at, capacity, route_id=None, meeting_point="",
                 notes="", now=None):
    """A coordinator schedules a one-off shift (times are naive UTC)."""
    require(actor, "patrol.coordinate", community_id)
    now = resolve(now)
    title, meeting_point, notes = _check_shift_fields(community_id, title, capacity, route_id, meeting_point, notes)
    if ends_at <= starts_at:
        raise Invalid(N_("The shift must end after it starts."))
    if ends_at - starts_at > timedelta(hours=12):
        raise Invalid(N_("A shift can last at most 12 hours."))
    if starts_at < now - timedelta(minutes=5):
        raise Invalid(N_("The shift cannot start in the past."))
    shift = Shift(community_id=community_id, title=title, starts_at=starts_at, ends_at=ends_at, capacity=capacity,
                  taken=0, route_id=route_id or None, meeting_point=meeting_point, notes=notes,
                  created_by_id=actor.id, created_at=now)
    db.session.add(shift)
    db.session.flush()
    return shift


def create_weekly_shifts(actor, community_id, *, title, weekdays, local_start, minutes, first_date, last_date,
                         capacity, route_id=None, meeting_point="", notes="", now=None):
    """A coordinator schedules a weekly recurring shift (e.g. Tuesday and Friday 19:00 for 2 hours).

    `weekdays`: Monday=0 … Sunday=6; `local_start`: a China-time time; dates are China-time dates.
    Every shift of the series is made now, so each has its own sign-ups and capacity.
    """
    require(actor, "patrol.coordinate", community_id)
    now = resolve(now)
    title, meeting_point, notes = _check_shift_fields(community_id, title, capacity, route_id, meeting_point, notes)
    days = sorted({int(d) for d in weekdays or () if str(d).isdigit() and 0 <= int(d) <= 6})
    if not days:
        raise Invalid(N_("Please choose at least one day of the week."))
    if not isinstance(minutes, int) or not 15 <= minutes <= 720:
        raise Invalid(N_("A shift must last between 15 minutes and 12 hours."))
    if not isinstance(local_start, time):
        raise Invalid(N_("Please enter the start time."))
    if last_date < first_date:
        raise Invalid(N_("The last date must not be before the first."))
    if (last_date - first_date).days > 366:
        raise Invalid(N_("A weekly shift can run for at most a year."))
    starts = []
    day = first_date
    while day <= last_date:
        if day.weekday() in days:
            start = to_utc(datetime.combine(day, local_start))
            if start >= now:
                starts.append(start)
        day += timedelta(days=1)
    if not starts:
        raise Invalid(N_("No shift falls between those dates."))
    if len(starts) > MAX_SERIES_SHIFTS:
        raise Invalid(N_("That makes more than %(n)s shifts. Please choose a shorter period."), n=MAX_SERIES_SHIFTS)
    series = ShiftSeries(community_id=community_id, weekdays=",".join(map(str, days)),
                         local_start=local_start.strftime("%H:%M"), minutes=minutes,
                         first_date=first_date.isoformat(), last_date=last_date.isoformat(), created_at=now)
    db.session.add(series)
    db.session.flush()
    shifts = [Shift(community_id=community_id, series_id=series.id, title=title, starts_at=s,
                    ends_at=s + timedelta(minutes=minutes), capacity=capacity, taken=0, route_id=route_id or None,
                    meeting_point=meeting_point, notes=notes, created_by_id=actor.id, created_at=now)
              for s in starts]
    db.session.add_all(shifts)
    db.session.flush()
    return shifts


def get_shift(community_id, shift_id, *, lock=False):
    """A shift of this community (optionally locked for update), or NotFound."""
    return get_in_community(Shift, community_id, shift_id, lock=lock, missing=N_("No such shift."))


def upcoming_shifts(community_id, *, now=None, limit=50):
    """Shifts not yet over, soonest first (cancelled ones included, marked)."""
    now = resolve(now)
    return db.session.scalars(
        select(Shift).where(Shift.community_id == community_id, Shift.ends_at > now)
        .order_by(Shift.starts_at, Shift.id).limit(limit)
    ).all()


def my_signups(user, community_id, shift_ids):
    """{shift_id: Signup} of the user among the shifts."""
    if not shift_ids:
        return {}
    rows = db.session.scalars(select(Signup).where(
        Signup.community_id == community_id, Signup.user_id == user.id, Signup.shift_id.in_(list(shift_ids))))
    return {s.shift_id: s for s in rows}


def sign_up(user, community_id, shift_id, *, now=None):
    """A volunteer takes a place on a shift. The shift row is locked, so capacity holds under a rush."""
    require(user, "patrol.join", community_id)
    now = resolve(now)
    shift = get_shift(community_id, shift_id, lock=True)
    if shift.status != "scheduled":
        raise Conflict(N_("This shift has been cancelled."))
    if shift.ends_at <= now:
        raise Conflict(N_("This shift is already over."))
    signup = db.session.scalar(select(Signup).where(
        Signup.community_id == community_id, Signup.shift_id == shift.id, Signup.user_id == user.id))
    if signup is not None and signup.status in ("signed_up", "attended"):
        raise Conflict(N_("You have already signed up for this shift."), reason="already_signed_up")
    if shift.taken >= shift.capacity:
        raise Conflict(N_("Sorry, this shift is full."), reason="shift_full")
    if signup is None:
        signup = Signup(community_id=community_id, shift_id=shift.id, user_id=user.id, signed_up_at=now)
        db.session.add(signup)
    signup.status, signup.changed_at, signup.reminded_at = "signed_up", now, None
    shift.taken += 1
    db.session.flush()
    return signup


def withdraw(user, community_id, shift_id, *, now=None):
    """A volunteer gives their place back (before the shift starts)."""
    now = resolve(now)
    shift = get_shift(community_id, shift_id, lock=True)
    signup = db.session.scalar(select(Signup).where(
        Signup.community_id == community_id, Signup.shift_id == shift.id, Signup.user_id == user.id))
    if signup is None or signup.status != "signed_up":
        raise Conflict(N_("You are not signed up for this shift."))
    if shift.starts_at <= now:
        raise Conflict(N_("The shift has started; please tell your coordinator instead."))
    signup.status, signup.changed_at = "withdrawn", now
    shift.taken -= 1
    db.session.flush()
    return signup


def cancel_shift(actor, community_id, shift_id, *, reason, now=None):
    """A coordinator cancels a shift; everyone signed up gets a notice with the reason."""
    require(actor, "patrol.coordinate", community_id)
    now = resolve(now)
    reason = _text(reason, 300, N_("Please say why the shift is cancelled."))
    shift = get_shift(community_id, shift_id, lock=True)
    if shift.status == "cancelled":
        raise Conflict(N_("This shift has already been cancelled."))
    if shift.ends_at <= now:
        raise Conflict(N_("This shift is already over."))
    shift.status, shift.cancel_reason = "cancelled", reason
    local = to_local(shift.starts_at)
    for signup in db.session.scalars(select(Signup).where(
            Signup.community_id == community_id, Signup.shift_id == shift.id, Signup.status == "signed_up")):
        notices.notify(
            signup.user_id, "patrol.shift_cancelled", N_("Shift cancelled: %(title)s"),
            N_("The shift on %(when)s is cancelled. Reason: %(reason)s"),
            params={"title": shift.title, "when": local.strftime("%m-%d %H:%M"), "reason": reason},
            community_id=community_id, link=f"/c/{community_id}/patrols/shifts/{shift.id}", now=now,
        )
    db.session.flush()
    audit.record("patrol.shift_cancelled", actor=actor, community_id=community_id, detail={"shift": shift.id},
                 now=now)
    return shift


def roster(actor, community_id, shift_id):
    """Everyone who signed up for a shift (coordinators only), earliest first."""
    require(actor, "patrol.coordinate", community_id)
    shift = get_shift(community_id, shift_id)
    return db.session.scalars(select(Signup).where(
        Signup.community_id == community_id, Signup.shift_id == shift.id).order_by(Signup.signed_up_at, Signup.id)
    ).all()


def roster_csv(actor, community_id, shift_id):
    """The roster as CSV text (with a BOM, so spreadsheet programs read the Chinese names)."""
    from flask_babel import gettext

    from civic.core.csvfile import csv_text

    shift = get_shift(community_id, shift_id)
    labels = {"signed_up": gettext("Signed up"), "withdrawn": gettext("Withdrew"),
              "attended": gettext("Attended"), "no_show": gettext("Did not come")}
    rows = [[gettext("Shift"), gettext("Name"), gettext("Mobile"), gettext("Status"), gettext("Signed up at")]]
    for s in roster(actor, community_id, shift_id):
        rows.append([shift.title, s.user.display_name, s.user.phone or "",
                     labels.get(s.status, s.status), to_local(s.signed_up_at).strftime("%Y-%m-%d %H:%M")])
    return csv_text(rows)


def mark_attendance(actor, community_id, shift_id, user_id, *, attended, now=None):
    """A coordinator records that a volunteer came, or did not come."""
    require(actor, "patrol.coordinate", community_id)
    now = resolve(now)
    shift = get_shift(community_id, shift_id, lock=True)
    if shift.starts_at > now:
        raise Conflict(N_("Attendance can be taken once the shift has started."))
    signup = db.session.scalar(select(Signup).where(
        Signup.community_id == community_id, Signup.shift_id == shift.id, Signup.user_id == user_id))
    if signup is None or signup.status == "withdrawn":
        raise NotFound(N_("That person is not on this shift."))
    signup.status, signup.changed_at = ("attended" if attended else "no_show"), now
    db.session.flush()
    return signup


def shift_ics(shift, *, host="civic.local"):
    """An iCalendar file (.ics) for a shift, for the phone's calendar."""
    def esc(text):
        return (text or "").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")

    stamp = "%Y%m%dT%H%M%SZ"
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//civic//patrols//ZH", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:patrol-shift-{shift.community_id}-{shift.id}@{host}",
        f"DTSTAMP:{shift.created_at.strftime(stamp)}",
        f"DTSTART:{shift.starts_at.strftime(stamp)}",
        f"DTEND:{shift.ends_at.strftime(stamp)}",
        f"SUMMARY:{esc(shift.title)}",
        f"LOCATION:{esc(shift.meeting_point)}",
        f"DESCRIPTION:{esc(shift.notes)}",
        "STATUS:" + ("CANCELLED" if shift.status == "cancelled" else "CONFIRMED"),
        "BEGIN:VALARM", "ACTION:DISPLAY", f"DESCRIPTION:{esc(shift.title)}", "TRIGGER:-PT2H", "END:VALARM",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def _skip_locked(query):
    if db.session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def send_reminders(*, now=None):
    """Remind everyone signed up for a shift that starts within two hours (once each). Returns the count."""
    now = resolve(now)
    rows = db.session.execute(_skip_locked(
        select(Signup, Shift).join(Shift, and_(Shift.id == Signup.shift_id, Shift.community_id == Signup.community_id))
        .where(Signup.status == "signed_up", Signup.reminded_at.is_(None), Shift.status == "scheduled",
               Shift.starts_at > now, Shift.starts_at <= now + REMINDER_BEFORE)
        .order_by(Signup.id).limit(1000)
    )).all()
    for signup, shift in rows:
        notices.notify(
            signup.user_id, "patrol.shift_reminder", N_("Patrol soon: %(title)s"),
            N_("Your shift starts at %(when)s. Meet at: %(place)s"),
            params={"title": shift.title, "when": to_local(shift.starts_at).strftime("%H:%M"),
                    "place": shift.meeting_point or "-"},
            community_id=shift.community_id, link=f"/c/{shift.community_id}/patrols/shifts/{shift.id}", now=now,
        )
        signup.reminded_at = now
    db.session.flush()
    return len(rows)


def record_no_shows(*, now=None):
    """After a shift ends, everyone still only "signed up" (no patrol, not marked) is recorded as a no-show."""
    now = resolve(now)
    shifts = db.session.scalars(_skip_locked(
        select(Shift).where(Shift.ends_at <= now, Shift.attendance_closed_at.is_(None)).order_by(Shift.id).limit(500)
    )).all()
    count = 0
    for shift in shifts:
        result = db.session.execute(
            update(Signup).where(Signup.community_id == shift.community_id, Signup.shift_id == shift.id,
                                 Signup.status == "signed_up").values(status="no_show", changed_at=now))
        count += result.rowcount or 0
        shift.attendance_closed_at = now
    db.session.flush()
    return count


# --- patrols --------------------------------------------------------------------------------------

def get_patrol(community_id, patrol_id, *, lock=False):
    """A patrol of this community, or NotFound."""
    return get_in_community(Patrol, community_id, patrol_id, lock=lock, missing=N_("No such patrol."))


def visible_patrol(user, community_id, patrol_id):
    """A patrol its volunteer or a coordinator may see."""
    patrol = get_patrol(community_id, patrol_id)
    if patrol.user_id != user.id and not can(user, "patrol.coordinate", community_id):
        raise NotFound(N_("No such patrol."))
    return patrol


def active_patrol(user, community_id):
    """The user's patrol under way in this community, if any."""
    return db.session.scalar(select(Patrol).where(
        Patrol.community_id == community_id, Patrol.user_id == user.id, Patrol.status == "active"))


def startable_shifts(user, community_id, *, now=None):
    """Shifts the user signed up for whose window is open now (a patrol may start in them)."""
    now = resolve(now)
    return db.session.scalars(
        select(Shift).join(Signup, and_(Signup.shift_id == Shift.id, Signup.community_id == Shift.community_id))
        .where(Shift.community_id == community_id, Signup.user_id == user.id,
               Signup.status.in_(("signed_up", "attended")), Shift.status == "scheduled",
               Shift.starts_at <= now + EARLY_START,
               Shift.ends_at > now)
        .order_by(Shift.starts_at)
    ).all()


def start_patrol(user, community_id, *, shift_id=None, now=None):
    """A volunteer starts a patrol, in a shift they signed up for or as a free patrol.

    Starting again while a patrol is under way returns that patrol (a double tap starts nothing new).
    A person has one patrol under way at a time, in any community (a partial unique index holds it
    under concurrent taps), and a new patrol may not start before their last one ended.
    """
    require(user, "patrol.join", community_id)
    now = resolve(now)
    current = active_patrol(user, community_id)
    if current is not None:
        return current
    _refuse_overlap(user, now)
    if shift_id:
        shift = get_shift(community_id, shift_id)
        if shift.status != "scheduled":
            raise Conflict(N_("This shift has been cancelled."))
        if not (shift.starts_at - EARLY_START <= now < shift.ends_at):
            raise Conflict(N_("This shift is not on now. You can start a free patrol instead."))
        signup = db.session.scalar(select(Signup).where(
            Signup.community_id == community_id, Signup.shift_id == shift.id, Signup.user_id == user.id))
        if signup is None or signup.status not in ("signed_up", "attended"):
            raise PermissionDenied(N_("You are not signed up for this shift."))
        signup.status, signup.changed_at = "attended", now
    patrol = Patrol(community_id=community_id, user_id=user.id, shift_id=shift_id or None, status="active",
                    started_at=now, point_count=0, distance_m=0.0, moving_seconds=0.0, flags="", summary={})
    try:
        with db.session.begin_nested():
            db.session.add(patrol)
    except IntegrityError:
        # Another tap (or another community's page) started one first: that one stands.
        current = active_patrol(user, community_id)
        if current is not None:
            return current
        _refuse_overlap(user, now)
        raise Conflict(N_("You already have a patrol under way."), reason="patrol_under_way") from None
    return patrol


def _refuse_overlap(user, now):
    """A person walks one patrol at a time: none open elsewhere, none ending after `now`."""
    elsewhere = db.session.scalar(select(Patrol.id).where(Patrol.user_id == user.id, Patrol.status == "active"))
    if elsewhere is not None:
        raise Conflict(N_("You already have a patrol under way in another community. Please end it first."),
                       reason="patrol_under_way")
    later = db.session.scalar(select(func.max(Patrol.ended_at)).where(Patrol.user_id == user.id))
    if later is not None and later > now:
        raise Conflict(N_("This patrol would overlap your last one."), reason="patrol_overlap")


def _clean_point(raw):
    try:
        client_id = str(raw["id"]).strip()
        t, lat, lon = float(raw["t"]), float(raw["lat"]), float(raw["lon"])
        accuracy = raw.get("accuracy")
        accuracy = None if accuracy is None else float(accuracy)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise Invalid(N_("A location point could not be read.")) from None
    if not client_id or len(client_id) > 40:
        raise Invalid(N_("A location point could not be read."))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (accuracy is not None and not 0 <= accuracy < 100000):
        raise Invalid(N_("A location point could not be read."))
    if not -1e10 < t < 1e10:
        raise Invalid(N_("A location point could not be read."))
    return {"client_id": client_id, "t": t, "lat": lat, "lon": lon, "accuracy": accuracy}


def fix_window(patrol, now):
    """Unix seconds between which the patrol's fixes must lie: the server's start to its end (or now),
    widened by a small clock skew. Fixes outside were not taken during this patrol."""
    end = min(patrol.ended_at, now) if patrol.ended_at else now
    return unix(patrol.started_at - CLOCK_SKEW), unix(end + CLOCK_SKEW)


def add_points(user, community_id, patrol_id, points, *, now=None):
    """Store a batch of the phone's fixes. Each fix carries an id made on the phone, unique per patrol,
    so a batch sent twice (the answer was lost) adds nothing. Returns (accepted, duplicates, dropped).

    Fixes must lie within the patrol's server-recorded start..end (a small clock skew allowed): others,
    including any from the future, are dropped and counted on the patrol. Points may still arrive after
    the patrol ended (the phone was offline), until it is reviewed. The patrol is measured again, so the
    phone can show the same distance the coordinator will see.
    """
    now = resolve(now)
    patrol = get_patrol(community_id, patrol_id, lock=True)
    if patrol.user_id != user.id:
        raise PermissionDenied(N_("This is not your patrol."))
    if patrol.status not in ("active", "ended"):
        raise Conflict(N_("This patrol has already been reviewed."), reason="patrol_reviewed")
    if not isinstance(points, (list, tuple)) or not points:
        raise Invalid(N_("No location points were sent."))
    if len(points) > MAX_BATCH:
        raise Invalid(N_("Send at most %(n)s points at a time."), n=MAX_BATCH)
    earliest, latest = fix_window(patrol, now)
    batch, dropped = {}, 0
    for raw in points:
        point = _clean_point(raw)
        if not earliest <= point["t"] <= latest:
            dropped += 1
            continue
        point["t"] = from_unix(point["t"])
        batch.setdefault(point["client_id"], point)
    if not batch:
        patrol.dropped_points += dropped
        measure(patrol, now=now)
        db.session.flush()
        return 0, 0, dropped
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        # One statement: RETURNING tells exactly which fixes were new, even against a concurrent resend.
        fresh = [dict(p, community_id=community_id, patrol_id=patrol.id) for p in batch.values()]
        statement = insert(TrackPoint).on_conflict_do_nothing(
            index_elements=["community_id", "patrol_id", "client_id", "t"]).returning(TrackPoint.id)
        added = len(db.session.execute(statement, fresh).all())
    else:
        from sqlalchemy.dialects.sqlite import insert

        # SQLite serialises writers, so reading what is there first is exact.
        have = set(db.session.execute(select(TrackPoint.client_id, TrackPoint.t).where(
            TrackPoint.community_id == community_id, TrackPoint.patrol_id == patrol.id,
            TrackPoint.client_id.in_(list(batch)))).tuples())
        fresh = [dict(p, community_id=community_id, patrol_id=patrol.id) for cid, p in batch.items()
                 if (cid, p["t"]) not in have]
        if fresh:
            db.session.execute(insert(TrackPoint).on_conflict_do_nothing(
                index_elements=["community_id", "patrol_id", "client_id", "t"]), fresh)
        added = len(fresh)
    if added:
        patrol.last_point_at = now
    patrol.dropped_points += dropped
    measure(patrol, now=now)
    db.session.flush()
    return added, len(points) - added - dropped, dropped


def track_of(patrol):
    """The patrol's fixes in time order, as the track engine takes them."""
    rows = db.session.execute(
        select(TrackPoint.t, TrackPoint.lat, TrackPoint.lon, TrackPoint.accuracy)
        .where(TrackPoint.community_id == patrol.community_id, TrackPoint.patrol_id == patrol.id)
        .order_by(TrackPoint.t, TrackPoint.id)
    ).all()
    return [{"t": unix(t), "lat": lat, "lon": lon, "accuracy": acc} for t, lat, lon, acc in rows]


def measure(patrol, *, now=None):
    """Run the track engine over the stored fixes and keep its verdict on the patrol, with the server's
    own checks: moving time no longer than the time the patrol was open, `outside_area` when no fix lies
    in the community's area (or the shift route's corridor), `suspicious` when the track looks made up."""
    if (patrol.summary or {}).get("track_deleted_at"):
        return None  # raw fixes deleted under the community's retention rule (civic.privacy): the summary stands
    now = resolve(now)
    points = track_of(patrol)
    summary = track.summarize(points)
    elapsed = max(0.0, ((patrol.ended_at or now) - patrol.started_at).total_seconds())
    details = summary.as_dict()
    details["moving_seconds"] = min(float(summary.moving_seconds), elapsed)
    details["server_elapsed_seconds"] = round(elapsed, 1)
    details["dropped_outside_time"] = patrol.dropped_points
    flags = set(summary.flags)
    flags |= _integrity(patrol, points, details)
    patrol.point_count = len(points)
    patrol.distance_m = round(float(summary.distance_m), 1)
    patrol.moving_seconds = round(details["moving_seconds"], 1)
    patrol.flags = ",".join(sorted(flags))
    details["flags"] = sorted(flags)
    patrol.summary = details
    return summary


def _integrity(patrol, points, details):
    """The server's flags on a track (`outside_area`, `suspicious`); the reasons go into `details`."""
    flags, signs = set(), list(track.fabrication_signs(points))
    signs = signs if track.looks_fabricated(signs) else []
    received = patrol.dropped_points + len(points)
    if patrol.dropped_points >= DROPPED_SUSPICIOUS_MIN and patrol.dropped_points * 10 > received:
        signs.append("outside_time")
    sketch = track.fingerprint(points)
    patrol.fingerprint = ",".join(sketch)
    if sketch:
        earlier = db.session.execute(select(Patrol.id, Patrol.fingerprint).where(
            Patrol.community_id == patrol.community_id, Patrol.id != patrol.id, Patrol.fingerprint != "",
            Patrol.started_at <= patrol.started_at, Patrol.started_at >= patrol.started_at - FINGERPRINT_LOOKBACK,
        ).order_by(Patrol.id.desc()).limit(1000)).all()
        copied = next((pid for pid, fp in earlier if track.same_track(sketch, fp.split(","))), None)
        if copied is not None:
            signs.append("copied_track")
            details["copied_from"] = copied
    if signs:
        flags.add("suspicious")
        details["suspicious"] = sorted(signs)
    route = patrol.shift.route if patrol.shift_id and patrol.shift else None
    if route is not None and route.waypoints:
        share = track.share_within(points, route.waypoints, closed=route.is_area, margin_m=ROUTE_CORRIDOR_M)
        details["route_share"] = share
        if share == 0:
            flags.add("outside_area")
    settings = db.session.scalar(select(PatrolSettings).where(PatrolSettings.community_id == patrol.community_id))
    if settings is not None and settings.has_area:
        if settings.area_boundary:
            share = track.share_within(points, settings.area_boundary, closed=True, margin_m=AREA_MARGIN_M)
        else:
            share = track.share_within_circle(points, settings.area_lat, settings.area_lon,
                                              settings.area_radius_m + AREA_MARGIN_M)
        details["area_share"] = share
        if share == 0:
            flags.add("outside_area")
    return flags


def live_summary(patrol):
    """What the phone shows while walking: the same figures the saved patrol will have."""
    return {"distance_m": patrol.distance_m, "moving_seconds": patrol.moving_seconds,
            "point_count": patrol.point_count, "dropped_points": patrol.dropped_points, "flags": patrol.flag_list}


def end_patrol(user, community_id, patrol_id, *, now=None, by="volunteer"):
    """The volunteer ends the patrol (or the idle job does); it is measured and waits for review."""
    now = resolve(now)
    patrol = get_patrol(community_id, patrol_id, lock=True)
    if user is not None and patrol.user_id != user.id:
        raise PermissionDenied(N_("This is not your patrol."))
    if patrol.status != "active":
        return patrol
    patrol.status, patrol.ended_at, patrol.ended_by = "ended", now, by
    measure(patrol, now=now)
    db.session.flush()
    for handler in handlers_of(community_id):
        if handler.id == patrol.user_id:
            continue
        notices.notify(
            handler, "patrol.to_review", N_("A patrol is waiting for review"),
            N_("%(name)s walked %(km)s km."),
            params={"name": patrol.user.display_name, "km": f"{patrol.distance_m / 1000:.2f}"},
            community_id=community_id, link=f"/c/{community_id}/patrols/{patrol.id}", now=now,
        )
    return patrol


def close_idle_patrols(*, now=None):
    """End patrols that have had no point for 30 minutes (the phone was put away). Returns how many."""
    now = resolve(now)
    ids = db.session.execute(_skip_locked(
        select(Patrol.community_id, Patrol.id).where(
            Patrol.status == "active", func.coalesce(Patrol.last_point_at, Patrol.started_at) < now - IDLE_CLOSE_AFTER)
        .order_by(Patrol.id).limit(200)
    )).all()
    for community_id, patrol_id in ids:
        end_patrol(None, community_id, patrol_id, now=now, by="timeout")
    return len(ids)


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


def my_patrols(user, community_id, *, limit=20):
    """The user's patrols, latest first."""
    return db.session.scalars(select(Patrol).where(
        Patrol.community_id == community_id, Patrol.user_id == user.id).order_by(Patrol.id.desc()).limit(limit)).all()


def review_patrol(actor, community_id, patrol_id, *, approve, note="", now=None):
    """A coordinator approves (points and service hours) or rejects an ended patrol.

    A flagged patrol (vehicle, teleport) is approved only with a written reason; a rejection
    always says why. The points go on the notice board (one award per patrol), so approving twice, or
    two coordinators at once, awards once; they reach the passbook when the notice period ends.
    Nobody reviews their own patrol, administrators included.
    """
    require(actor, "patrol.coordinate", community_id)
    now = resolve(now)
    note = _text(note, 500)
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
        _record_service(community_id, patrol.user_id, f"patrol:{patrol.id}", seconds, now)
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


def _record_service(community_id, user_id, source, seconds, now):
    exists = db.session.scalar(select(ServiceRecord.id).where(
        ServiceRecord.community_id == community_id, ServiceRecord.source == source))
    if exists is None:
        db.session.add(ServiceRecord(community_id=community_id, user_id=user_id, source=source,
                                     seconds=max(0, seconds), recorded_at=now))
        db.session.flush()


# --- problem reports ------------------------------------------------------------------------------

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
    name = _text(name, 40, N_("Please enter a name."))
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
    category = db.session.scalar(select(ReportCategory).where(
        ReportCategory.community_id == community_id, ReportCategory.id == category_id))
    if category is None:
        raise NotFound(N_("No such category."))
    if name is not None:
        name = _text(name, 40, N_("Please enter a name."))
        if db.session.scalar(select(ReportCategory.id).where(
                ReportCategory.community_id == community_id, ReportCategory.name == name,
                ReportCategory.id != category.id)):
            raise Conflict(N_("That category already exists."))
        category.name = name
    if active is not None:
        category.active = bool(active)
    db.session.flush()
    return category


def _event(report, actor, action, note="", photo=None, now=None):
    db.session.add(ReportEvent(community_id=report.community_id, report_id=report.id, at=now,
                               actor_id=getattr(actor, "id", actor), action=action, note=note, photo=photo))
    report.updated_at = now


def _tell_reporter(report, title, body, params=None, now=None):
    notices.notify(report.reporter_id, "patrol.report", title, body, params=params or {},
                   community_id=report.community_id, link=f"/c/{report.community_id}/reports/{report.id}", now=now)


def submit_report(user, community_id, *, category_id, description, photo=None, lat=None, lon=None, patrol_id=None,
                  now=None):
    """A resident reports a problem with a category, a description, a photo and where it is."""
    require(user, "patrol.join", community_id)
    now = resolve(now)
    description = _text(description, 1000, N_("Please describe the problem."))
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
    _event(report, user, "submitted", now=now)
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
    _event(report, actor, "accepted", _text(note, 500), now=now)
    _tell_reporter(report, N_("Your report was accepted"), N_("We are looking into it."), now=now)
    db.session.flush()
    return report


def assign_report(actor, community_id, report_id, *, assignee_id=None, department="", note="", now=None):
    """A handler passes the report to a person in the community or to a department (网格吹哨、部门报到)."""
    require(actor, "report.handle", community_id)
    department = _text(department, 80)
    if not assignee_id and not department:
        raise Invalid(N_("Please choose a person or enter a department."))
    if assignee_id and not can(db.session.get(User, assignee_id), "patrol.join", community_id):
        raise Invalid(N_("That person is not a member of this community."))
    report, now = _handling(actor, community_id, report_id, ("submitted", "accepted", "assigned"), now)
    _not_own_report(actor, report)
    if assignee_id and assignee_id == report.reporter_id:
        raise PermissionDenied(N_("A report cannot be passed to the person who reported it."), reason="own_award")
    report.status, report.assignee_id, report.department = "assigned", assignee_id or None, department
    _event(report, actor, "assigned", _text(note, 500) or department, now=now)
    if assignee_id and assignee_id != actor.id:
        notices.notify(assignee_id, "patrol.report_assigned", N_("A problem was passed to you"),
                       N_("Please deal with it and add a photo when it is fixed."), community_id=community_id,
                       link=f"/c/{community_id}/reports/{report.id}", now=now)
    _tell_reporter(report, N_("Your report is being handled"), N_("It was passed to %(who)s."),
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
    _event(report, actor, "resolved", _text(note, 500), photo=photo, now=now)
    _tell_reporter(report, N_("Your report was fixed"), N_("Please look and confirm."), now=now)
    db.session.flush()
    return report


def confirm_report(user, community_id, report_id, *, now=None):
    """The reporter confirms the fix; the report's points go on the public notice board (one award per
    report), decided by whoever marked it fixed (never the reporter)."""
    report, now = _handling(user, community_id, report_id, ("resolved",), now)
    if report.reporter_id != user.id:
        raise PermissionDenied(N_("Only the person who reported it can confirm."))
    report.status = "confirmed"
    _event(report, user, "confirmed", now=now)
    amount = settings_for(community_id).report_points
    resolver = db.session.scalar(select(ReportEvent.actor_id).where(
        ReportEvent.community_id == community_id, ReportEvent.report_id == report.id,
        ReportEvent.action == "resolved").order_by(ReportEvent.id.desc()).limit(1))
    award = merit.put_award_on_notice(
        community_id, report.reporter_id, amount, source_kind="report", source_id=report.id, category="report",
        reason="随手拍", decided_by=resolver, tell=False, now=now)
    report.points_awarded = amount
    if award:
        _tell_reporter(report, N_("Thank you for your report"),
                       N_("You confirmed the fix. %(points)s points are on the public notice board and reach your "
                          "passbook on %(date)s if nobody objects."),
                       params={"points": amount, "date": to_local(award.notice_ends_at).strftime("%m-%d")}, now=now)
    else:
        _tell_reporter(report, N_("Thank you for your report"), N_("You confirmed the fix."), now=now)
    db.session.flush()
    return report


def reopen_report(user, community_id, report_id, *, note, now=None):
    """The reporter says the problem is not fixed: it goes back to whoever was handling it."""
    report, now = _handling(user, community_id, report_id, ("resolved",), now)
    if report.reporter_id != user.id:
        raise PermissionDenied(N_("Only the person who reported it can confirm."))
    note = _text(note, 500, N_("Please say what is still wrong."))
    report.status = "assigned" if (report.assignee_id or report.department) else "accepted"
    _event(report, user, "reopened", note, now=now)
    for handler in handlers_of(community_id):
        notices.notify(handler, "patrol.report_reopened", N_("A report is not fixed yet"), N_("Reason: %(reason)s"),
                       params={"reason": note}, community_id=community_id,
                       link=f"/c/{community_id}/reports/{report.id}", now=now)
    db.session.flush()
    return report


def close_report(actor, community_id, report_id, *, note, now=None):
    """A handler closes a report that needs no action, saying why."""
    require(actor, "report.handle", community_id)
    note = _text(note, 500, N_("Please say why the report is closed."))
    report, now = _handling(actor, community_id, report_id, ("submitted", "accepted", "assigned", "resolved"), now)
    report.status = "closed"
    _event(report, actor, "closed", note, now=now)
    _tell_reporter(report, N_("Your report was closed"), N_("Reason: %(reason)s"), params={"reason": note}, now=now)
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
    _event(report, actor, "merged", f"#{target.id}", now=now)
    _event(target, actor, "duplicate", f"#{report.id}", now=now)
    _tell_reporter(report, N_("Your report was merged"),
                   N_("Someone reported the same problem (number %(id)s); it is handled there."),
                   params={"id": target.id}, now=now)
    db.session.flush()
    return report


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


# --- stats and recognition ------------------------------------------------------------------------

def stars_for(hours):
    """Star level (0-5) for verified service hours: 100, 300, 600, 1000, 1500 h."""
    return sum(1 for step in STAR_STEPS if hours >= step)


def volunteer_stats(community_id, user_id):
    """A volunteer's verified km, service hours, approved patrols and reports."""
    km, patrols = db.session.execute(select(func.coalesce(func.sum(Patrol.distance_m), 0), func.count(Patrol.id)).where(
        Patrol.community_id == community_id, Patrol.user_id == user_id, Patrol.status == "approved")).one()
    seconds = db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.seconds), 0)).where(
        ServiceRecord.community_id == community_id, ServiceRecord.user_id == user_id))
    reports = db.session.scalar(select(func.count(Report.id)).where(
        Report.community_id == community_id, Report.reporter_id == user_id, Report.status != "merged"))
    hours = seconds / 3600
    return {"km": round(float(km) / 1000, 2), "hours": round(hours, 1), "patrols": patrols, "reports": reports,
            "stars": stars_for(hours)}


def _month_start(now):
    return local_month_start(now)


def community_stats(community_id, *, now=None):
    """The community's totals and this month's (China time): km, hours, patrols, volunteers, reports."""
    now = resolve(now)

    def block(since):
        patrol_filter = [Patrol.community_id == community_id, Patrol.status == "approved"]
        service_filter = [ServiceRecord.community_id == community_id]
        report_filter = [Report.community_id == community_id, Report.status != "merged"]
        if since is not None:
            patrol_filter.append(Patrol.started_at >= since)
            service_filter.append(ServiceRecord.recorded_at >= since)
            report_filter.append(Report.created_at >= since)
        metres, count, people = db.session.execute(select(
            func.coalesce(func.sum(Patrol.distance_m), 0), func.count(Patrol.id),
            func.count(func.distinct(Patrol.user_id))).where(*patrol_filter)).one()
        seconds = db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.seconds), 0)).where(*service_filter))
        reports = db.session.scalar(select(func.count(Report.id)).where(*report_filter))
        fixed = db.session.scalar(select(func.count(Report.id)).where(*report_filter, Report.status == "confirmed"))
        return {"km": round(float(metres) / 1000, 2), "hours": round(seconds / 3600, 1), "patrols": count,
                "volunteers": people, "reports": reports, "reports_fixed": fixed}

    return {"total": block(None), "month": block(_month_start(now))}


def star_volunteers(community_id, *, limit=50):
    """Volunteers by verified service hours (most first, then earliest to get there, then id), with stars."""
    rows = db.session.execute(
        select(ServiceRecord.user_id, User.display_name, func.sum(ServiceRecord.seconds).label("seconds"),
               func.max(ServiceRecord.recorded_at).label("last"))
        .join(User, User.id == ServiceRecord.user_id)
        .where(ServiceRecord.community_id == community_id)
        .group_by(ServiceRecord.user_id, User.display_name)
        .order_by(func.sum(ServiceRecord.seconds).desc(), func.max(ServiceRecord.recorded_at), ServiceRecord.user_id)
        .limit(limit)
    ).all()
    return [{"user_id": r.user_id, "name": r.display_name, "hours": round(r.seconds / 3600, 1),
             "stars": stars_for(r.seconds / 3600)} for r in rows]


def coverage(community_id, *, cell_m=100, max_points=200_000):
    """Where patrols went: visited grid cells of about `cell_m` metres, with how many fixes fell in each.

    Returns {"cells": [[south, west, north, east, count], ...], "bbox": [s, w, n, e] or None}.
    """
    import math

    cell_lat = cell_m / 111_320
    counts = {}
    cell_lon = None
    query = (select(TrackPoint.lat, TrackPoint.lon)
             .join(Patrol, and_(Patrol.id == TrackPoint.patrol_id, Patrol.community_id == TrackPoint.community_id))
             .where(TrackPoint.community_id == community_id, Patrol.status.in_(("ended", "approved")))
             .limit(max_points))
    for lat, lon in db.session.execute(query):
        if cell_lon is None:
            cell_lon = cell_lat / max(math.cos(math.radians(lat)), 0.01)
        key = (math.floor(lat / cell_lat), math.floor(lon / cell_lon))
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return {"cells": [], "bbox": None}
    cells = [[i * cell_lat, j * cell_lon, (i + 1) * cell_lat, (j + 1) * cell_lon, n]
             for (i, j), n in sorted(counts.items())]
    bbox = [min(c[0] for c in cells), min(c[1] for c in cells), max(c[2] for c in cells), max(c[3] for c in cells)]
    return {"cells": cells, "bbox": bbox}


def coverage_svg(cov, *, width=320, height=240):
    """The coverage cells drawn as an SVG document (no map tiles needed)."""
    if not cov["cells"]:
        return None
    s, w, n, e = cov["bbox"]
    span_x, span_y = max(e - w, 1e-9), max(n - s, 1e-9)
    scale = min(width / span_x, height / span_y)
    top = max(c[4] for c in cov["cells"])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="coverage">',
             f'<rect width="{width}" height="{height}" fill="#f3efe8"/>']
    for south, west, north, east, count in cov["cells"]:
        x, y = (west - w) * scale, (n - north) * scale
        opacity = 0.25 + 0.75 * count / top
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max((east - west) * scale, 1):.1f}" '
                     f'height="{max((north - south) * scale, 1):.1f}" fill="#c0392b" fill-opacity="{opacity:.2f}"/>')
    parts.append("</svg>")
    return "".join(parts)
