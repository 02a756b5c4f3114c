"""Shifts and sign-ups: one-off and weekly shifts, a capacity that holds under a rush (the shift row is
locked), cancelling with a reason, rosters, attendance, calendar files, reminders and no-shows."""
from datetime import datetime, time, timedelta

from sqlalchemy import and_, select, update

from civic.core import audit
from civic.core.clock import resolve, to_local, to_utc
from civic.core.errors import Conflict, Invalid, NotFound
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import require
from civic.extensions import db
from civic.notifications import service as notices
from civic.patrols.common import clean_text, skip_locked
from civic.patrols.models import Shift, ShiftSeries, Signup
from civic.patrols.routes import get_route

REMINDER_BEFORE = timedelta(hours=2)
MAX_SERIES_SHIFTS = 120


def _check_shift_fields(community_id, title, capacity, route_id, meeting_point, notes):
    title = clean_text(title, 80, N_("Please enter a title."))
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 500:
        raise Invalid(N_("The number of places must be between 1 and 500."))
    if route_id:
        get_route(community_id, route_id)
    return title, clean_text(meeting_point, 120), clean_text(notes, 500)


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
    reason = clean_text(reason, 300, N_("Please say why the shift is cancelled."))
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


def send_reminders(*, now=None):
    """Remind everyone signed up for a shift that starts within two hours (once each). Returns the count."""
    now = resolve(now)
    rows = db.session.execute(skip_locked(
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
    shifts = db.session.scalars(skip_locked(
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
