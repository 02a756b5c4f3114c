"""周分析、月汇总: weekly and monthly summaries made by the scheduler for each street and each of its communities
(with its grids), sent to the inboxes of the street office, the committees and the grid leaders."""
from datetime import timedelta

from sqlalchemy import or_, select, union

from civic.communities.models import AreaAdmin, Community, GridRole, MemberRole, Street
from civic.core.clock import local_date, local_day_start, local_month_start, resolve
from civic.core.csvfile import csv_text
from civic.core.errors import NotFound
from civic.core.i18n import N_
from civic.core.permissions import can, can_administer_area
from civic.extensions import db
from civic.grid import command
from civic.grid.models import Summary
from civic.notifications import service as notices

COLUMNS = ("residents", "active", "visits", "households", "households_visited", "visit_coverage", "problems_raised",
           "problems_resolved", "problems_open", "problems_overdue", "median_hours_to_resolve", "patrols",
           "patrol_km", "patrol_hours", "points_issued", "points_redeemed", "points_outstanding", "meetings",
           "decisions_passed", "decisions_rejected", "vetoes", "disputes", "disputes_agreed")


def last_period(period, now):
    """The last finished week (Monday to Monday) or month, in local time, as naive UTC (start, end)."""
    today = local_date(now)
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return local_day_start(monday, -7), local_day_start(monday)
    end = local_month_start(now)
    return local_month_start(end - timedelta(days=1)), end


def figures_of(community_ids, names, start, end):
    """The summary's figures: each community with its grids and problems by kind, and the street's total."""
    figures = command.community_figures(community_ids, start, end)
    categories = {}
    for cid, category, raised, overdue in command.problems_by_category(community_ids, start, end):
        categories.setdefault(cid, []).append({"category": category, "raised": raised, "overdue": overdue})
    rows = [{"id": cid, "name": names[cid], **figures[cid], "categories": categories.get(cid, []),
             "grids": command.grid_figures(cid, start, end)} for cid in community_ids]
    return {"communities": rows, "total": command.totals(rows)}


def make_summaries(period, *, now=None):
    """Make the last finished period's summaries that are missing (idempotent) and tell who reads them."""
    now = resolve(now)
    start, end = last_period(period, now)
    made = 0
    streets = db.session.execute(select(Street.id, Street.district_id).order_by(Street.id)).all()
    for street_id, district_id in streets:
        exists = db.session.scalar(select(Summary.id).where(
            Summary.street_id == street_id, Summary.community_id.is_(None), Summary.period == period,
            Summary.starts_on == start))
        if exists:
            continue
        names = dict(db.session.execute(select(Community.id, Community.name).where(
            Community.street_id == street_id).order_by(Community.name)).all())
        if not names:
            continue
        figures = figures_of(list(names), names, start, end)
        street_row = Summary(street_id=street_id, period=period, starts_on=start, ends_on=end, figures=figures,
                             made_at=now)
        db.session.add(street_row)
        for row in figures["communities"]:
            db.session.add(Summary(street_id=street_id, community_id=row["id"], period=period, starts_on=start,
                                   ends_on=end, figures={"communities": [row], "total": command.totals([row])},
                                   made_at=now))
        db.session.flush()
        _tell(street_row, street_id, district_id, now)
        made += 1
    return made


def _tell(street_row, street_id, district_id, now):
    title = N_("Weekly analysis is ready") if street_row.period == "week" else N_("Monthly summary is ready")
    body = N_("Visits, problems, patrols, points and meetings of %(start)s to %(end)s.")
    params = {"start": local_date(street_row.starts_on).isoformat(),
              "end": local_date(street_row.ends_on, minus_days=1).isoformat()}
    admins = db.session.scalars(select(AreaAdmin.user_id).where(or_(
        AreaAdmin.street_id == street_id, AreaAdmin.district_id == district_id)).distinct())
    for user_id in admins:
        notices.notify(user_id, "grid.summary", title, body, params=params, link=f"/grid/summaries/{street_row.id}",
                       now=now)
    rows = db.session.scalars(select(Summary).where(
        Summary.street_id == street_id, Summary.community_id.is_not(None), Summary.period == street_row.period,
        Summary.starts_on == street_row.starts_on)).all()
    for row in rows:
        readers = db.session.scalars(union(
            select(MemberRole.user_id).where(MemberRole.community_id == row.community_id,
                                             MemberRole.role == "committee"),
            select(GridRole.user_id).where(GridRole.community_id == row.community_id,
                                           GridRole.role == "grid_leader")))
        for user_id in readers:
            notices.notify(user_id, "grid.summary", title, body, params=params, community_id=row.community_id,
                           link=f"/grid/summaries/{row.id}", now=now)


def _may_read(user, summary):
    if summary.community_id is None:
        return can_administer_area(user, street_id=summary.street_id)
    return can(user, "grid.escalate", summary.community_id) or can_administer_area(user, street_id=summary.street_id)


def get_visible(user, summary_id):
    """A summary the person may read (street office; committee and grid leaders for their community)."""
    summary = db.session.get(Summary, summary_id)
    if summary is None or not _may_read(user, summary):
        raise NotFound(N_("No such summary."))
    return summary


def visible_to(user, *, limit=60):
    """The latest summaries a person may read, newest first."""
    street_ids = [i for kind, i, _n in command.areas_of(user) if kind == "street"]
    district_ids = [i for kind, i, _n in command.areas_of(user) if kind == "district"]
    if district_ids:
        street_ids += list(db.session.scalars(select(Street.id).where(Street.district_id.in_(district_ids))))
    community_ids = list(db.session.scalars(union(
        select(MemberRole.community_id).where(MemberRole.user_id == user.id, MemberRole.role == "committee"),
        select(GridRole.community_id).where(GridRole.user_id == user.id, GridRole.role == "grid_leader"))))
    return db.session.scalars(select(Summary).where(or_(
        Summary.street_id.in_(street_ids or [0]) & Summary.community_id.is_(None),
        Summary.community_id.in_(community_ids or [0])))
        .order_by(Summary.starts_on.desc(), Summary.period, Summary.id).limit(limit)).all()


def title_of(summary):
    """What the summary covers, e.g. ("week", "2026-05-04", "2026-05-10", community name or None)."""
    name = db.session.get(Community, summary.community_id).name if summary.community_id else None
    return {"period": summary.period, "start": local_date(summary.starts_on).isoformat(),
            "end": local_date(summary.ends_on, minus_days=1).isoformat(), "community": name}


def to_csv(summary):
    """One line per community (and the total), then one per grid (the shared formula-safe writer)."""
    rows = [("community", *COLUMNS)]
    rows += [(row["name"], *(row.get(k) for k in COLUMNS)) for row in summary.figures["communities"]]
    rows += [("total", *(summary.figures["total"].get(k) for k in COLUMNS)), ()]
    rows += [("community", "grid", "cycle_days", "households", "visits", "due")]
    rows += [(row["name"], g["grid"], g["cycle_days"], g["households"], g["visits"], g["due"])
             for row in summary.figures["communities"] for g in row["grids"]]
    return csv_text(rows)


