"""Tracked patrols: starting one (in a shift or free), storing the phone's GPS fixes exactly once,
measuring the track with the engine (civic.patrols.track) and the server's own checks, and ending it,
by the volunteer or when the phone has gone quiet. Review into points is civic.patrols.review."""
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from civic.core.clock import resolve
from civic.core.db import lock_due
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import can, require
from civic.extensions import db
from civic.notifications import service as notices
from civic.patrols import track
from civic.patrols.common import handlers_of
from civic.patrols.models import Patrol, PatrolSettings, Shift, Signup, TrackPoint
from civic.patrols.shifts import get_shift

IDLE_CLOSE_AFTER = timedelta(minutes=30)
EARLY_START = timedelta(minutes=30)  # a shift's patrol may start this long before the shift
CLOCK_SKEW = timedelta(minutes=2)  # a phone's clock may be this far off the server's; fixes beyond are dropped
ROUTE_CORRIDOR_M = 100  # a fix this close to a shift's route is on the route
AREA_MARGIN_M = 50  # a fix this close to the community's area counts as inside it
FINGERPRINT_LOOKBACK = timedelta(days=60)  # earlier patrols compared for a copied track
DROPPED_SUSPICIOUS_MIN = 10  # this many fixes outside the patrol's time, and over a tenth of all, is suspicious
MAX_BATCH = 500
# While a patrol is active, a batch of new fixes re-measures the whole track only once the track has grown by
# this much of its own time since the last measure (a phone that sends often would otherwise have the same
# long track measured over and over); in between, the count of fixes goes up. Ending and review always measure.
LIVE_MEASURE_EVERY = timedelta(seconds=30)


def unix(naive_utc):
    """Unix seconds of a naive UTC datetime."""
    return naive_utc.replace(tzinfo=UTC).timestamp()


def from_unix(seconds):
    """A naive UTC datetime from unix seconds."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


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
    _refuse_overlap(user, community_id, now)
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
        _refuse_overlap(user, community_id, now)
        raise Conflict(N_("You already have a patrol under way."), reason="patrol_under_way") from None
    return patrol


def _refuse_overlap(user, community_id, now):
    """A person walks one patrol at a time: none open in another community, none ending after `now`.
    (One open here that another tap started a moment ago is not refused: the insert meets it and
    returns it.)"""
    elsewhere = db.session.scalar(select(Patrol.id).where(
        Patrol.user_id == user.id, Patrol.status == "active", Patrol.community_id != community_id))
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
    """add_batch without the patrol: (accepted, duplicates, dropped)."""
    return add_batch(user, community_id, patrol_id, points, now=now)[1:]


def add_batch(user, community_id, patrol_id, points, *, now=None):
    """Store a batch of the phone's fixes. Each fix carries an id made on the phone, unique per patrol,
    so a batch sent twice (the answer was lost) adds nothing. Returns (accepted, duplicates, dropped).

    Fixes must lie within the patrol's server-recorded start..end (a small clock skew allowed): others,
    including any from the future, are dropped and counted on the patrol. Points may still arrive after
    the patrol ended (the phone was offline), until it is reviewed. The patrol is measured again, so the
    phone can show the same distance the coordinator will see (LIVE_MEASURE_EVERY). Returns (patrol, accepted,
    duplicates, dropped).
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
        _measure_then_write(patrol, now)
        return patrol, 0, 0, dropped
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
            TrackPoint.client_id.in_(list(batch)))).all())
        fresh = [dict(p, community_id=community_id, patrol_id=patrol.id) for cid, p in batch.items()
                 if (cid, p["t"]) not in have]
        if fresh:
            db.session.execute(insert(TrackPoint).on_conflict_do_nothing(
                index_elements=["community_id", "patrol_id", "client_id", "t"]), fresh)
        added = len(fresh)
    if added:
        patrol.last_point_at = now
    patrol.dropped_points += dropped
    if _measure_due(patrol, added, dropped, max(p["t"] for p in batch.values())):
        _measure_then_write(patrol, now)
    else:
        patrol.point_count += added
        db.session.flush()
    return patrol, added, len(points) - added - dropped, dropped


def _measure_due(patrol, added, dropped, newest):
    """Must this batch re-measure the track? Not for a resend (nothing new), nor while an active patrol's track
    has grown by less than LIVE_MEASURE_EVERY of its own time since it was last measured."""
    if dropped or patrol.status != "active":
        return True
    if not added:
        return False
    through = (patrol.summary or {}).get("measured_through")
    return through is None or unix(newest) - through >= LIVE_MEASURE_EVERY.total_seconds()


def _measure_then_write(patrol, now):
    """Measure with the patrol's changes held back (what measure reads does not depend on them), then write
    them all in one UPDATE."""
    with db.session.no_autoflush:
        measure(patrol, now=now)
    db.session.flush()


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
    details["measured_through"] = points[-1]["t"] if points else None
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
    ids = [(patrol.community_id, patrol.id) for patrol in lock_due(
        Patrol, Patrol.status == "active",
        func.coalesce(Patrol.last_point_at, Patrol.started_at) < now - IDLE_CLOSE_AFTER, limit=200)]
    for community_id, patrol_id in ids:
        end_patrol(None, community_id, patrol_id, now=now, by="timeout")
    return len(ids)


def my_patrols(user, community_id, *, limit=20):
    """The user's patrols, latest first."""
    return db.session.scalars(select(Patrol).where(
        Patrol.community_id == community_id, Patrol.user_id == user.id).order_by(Patrol.id.desc()).limit(limit)).all()
