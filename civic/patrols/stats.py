"""The numbers behind recognition: a volunteer's and the community's verified km, hours, patrols and
reports, star volunteers (星级志愿者) by service hours, and where patrols went, drawn as SVG."""
import math
import statistics
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import and_, case, func, select

from civic.accounts.models import User
from civic.core.clock import local_month_start, resolve
from civic.extensions import db
from civic.patrols.models import Patrol, Report, ReportEvent, ServiceRecord, TrackPoint

STAR_STEPS = (100, 300, 600, 1000, 1500)  # verified service hours for 1 … 5 stars (星级志愿者)


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

    return {"total": block(None), "month": block(local_month_start(now))}


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


# --- the figures of many communities at once (the street's command view) ---------------------------

UNFINISHED = ("submitted", "accepted", "assigned", "resolved")


def people_selects(ids, since, until):
    """Selects of (cid, uid): who patrolled and who raised a problem in the communities in [since, until), for
    another part to put in a union (the people active in a period)."""
    return (select(Patrol.community_id.label("cid"), Patrol.user_id.label("uid")).where(
                Patrol.community_id.in_(ids), Patrol.started_at >= since, Patrol.started_at < until),
            select(Report.community_id, Report.reporter_id).where(
                Report.community_id.in_(ids), Report.created_at >= since, Report.created_at < until))


def _grouped(query):
    return {row[0]: row[1] for row in db.session.execute(query)}


def _median_hours(ids, since, until=None):
    """{community_id: median hours from report to its first fix} for reports fixed in [since, until)."""
    first_fix = (select(ReportEvent.community_id, ReportEvent.report_id, func.min(ReportEvent.at).label("at"))
                 .where(ReportEvent.community_id.in_(ids), ReportEvent.action == "resolved", ReportEvent.at >= since,
                        *([ReportEvent.at < until] if until is not None else []))
                 .group_by(ReportEvent.community_id, ReportEvent.report_id).subquery())
    joined = select(first_fix.c.community_id, first_fix.c.at, Report.created_at).join(
        Report, and_(Report.community_id == first_fix.c.community_id, Report.id == first_fix.c.report_id))
    if db.engine.dialect.name == "postgresql":
        seconds = func.extract("epoch", first_fix.c.at - Report.created_at)
        median = func.percentile_cont(0.5).within_group(seconds)
        rows = db.session.execute(
            select(first_fix.c.community_id, median / 3600).join(
                Report, and_(Report.community_id == first_fix.c.community_id, Report.id == first_fix.c.report_id))
            .group_by(first_fix.c.community_id)).all()
        return {cid: round(float(h), 1) for cid, h in rows if h is not None}
    # SQLite has no percentile: one statement returns the durations and Python takes the median
    found = defaultdict(list)
    for cid, at, created in db.session.execute(joined):
        found[cid].append((at - created).total_seconds() / 3600)
    return {cid: round(statistics.median(hours), 1) for cid, hours in found.items()}


def patrol_figures(ids, since, until):
    """The patrol and problem figures of the communities in [since, until), one grouped statement each whatever
    their number: {"patrols": {cid: (n, km, hours)}, "raised": {cid: n}, "open": {cid: n}, "resolved": {cid: n},
    "median_hours": {cid: hours}}. Open counts the unfinished reports raised before `until`."""
    patrols = {cid: (n, km, hours) for cid, n, km, hours in db.session.execute(
        select(Patrol.community_id, func.count(), func.sum(Patrol.distance_m) / 1000,
               func.sum(Patrol.moving_seconds) / 3600)
        .where(Patrol.community_id.in_(ids), Patrol.status == "approved", Patrol.started_at >= since,
               Patrol.started_at < until)
        .group_by(Patrol.community_id))}
    raised = _grouped(select(Report.community_id, func.count()).where(
        Report.community_id.in_(ids), Report.created_at >= since, Report.created_at < until,
        Report.status != "merged").group_by(Report.community_id))
    open_now = _grouped(select(Report.community_id, func.count()).where(
        Report.community_id.in_(ids), Report.status.in_(UNFINISHED), Report.created_at < until)
        .group_by(Report.community_id))
    resolved = _grouped(select(ReportEvent.community_id, func.count(ReportEvent.report_id.distinct())).where(
        ReportEvent.community_id.in_(ids), ReportEvent.action == "resolved", ReportEvent.at >= since,
        ReportEvent.at < until).group_by(ReportEvent.community_id))
    return {"patrols": patrols, "raised": raised, "open": open_now, "resolved": resolved,
            "median_hours": _median_hours(ids, since, until)}


def problems_by_week(ids, starts):
    """Problems raised (not merged) in each week starting at `starts` (oldest first), over all the communities:
    one statement, a tuple of counts."""

    buckets = [func.coalesce(func.sum(case((and_(Report.created_at >= start,
                                                 Report.created_at < start + timedelta(days=7)), 1), else_=0)), 0)
               for start in starts]
    return tuple(int(n) for n in db.session.execute(select(*buckets).where(
        Report.community_id.in_(ids), Report.created_at >= starts[0], Report.status != "merged")).one())
