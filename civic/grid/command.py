"""The street office's command view (街道综治中心) and the weekly/monthly figures (周分析、月汇总).

Every figure is one aggregate statement grouped by community over an indexed (community_id, time) range, so the
number of statements does not grow with the number of communities.
"""
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import and_, case, func, select, union_all

from civic.communities.models import AreaAdmin, Community, Grid, Household, Membership, Street
from civic.core.clock import resolve
from civic.core.errors import PermissionDenied
from civic.core.permissions import can_administer_area
from civic.deliberation import service as deliberation
from civic.extensions import db
from civic.grid.models import Case, Dispute, GridCycle, Visit
from civic.ledger import service as ledger
from civic.patrols import reports as problem_reports
from civic.patrols import stats as patrol_stats

UNFINISHED = patrol_stats.UNFINISHED
MAP_LIMIT = 300  # the most problems one map draws (overdue first, then the newest)


def areas_of(user):
    """The streets and districts a person administers: [("street", id, name), ("district", id, name)]."""
    from civic.communities.models import District

    if getattr(user, "is_admin", False):
        streets = db.session.execute(select(Street.id, Street.name).order_by(Street.id)).all()
        districts = db.session.execute(select(District.id, District.name).order_by(District.id)).all()
    else:
        streets = db.session.execute(select(Street.id, Street.name).join(AreaAdmin, AreaAdmin.street_id == Street.id)
                                     .where(AreaAdmin.user_id == user.id).order_by(Street.id)).all()
        districts = db.session.execute(
            select(District.id, District.name).join(AreaAdmin, AreaAdmin.district_id == District.id)
            .where(AreaAdmin.user_id == user.id).order_by(District.id)).all()
    return [("district", i, n) for i, n in districts] + [("street", i, n) for i, n in streets]


def area_work_columns(user_id, is_admin):
    """Does the person run a street or district ("area_command"), work for a department ("area_department")?
    Two EXISTS columns, for the links of the home page. A site administrator runs every area there is (as in
    areas_of)."""
    from civic.communities.models import District
    from civic.grid.models import DepartmentStaff

    if is_admin:
        command = select(Street.id).exists() | select(District.id).exists()
    else:
        command = select(AreaAdmin.id).where(AreaAdmin.user_id == user_id).exists()
    return {"area_command": command,
            "area_department": select(DepartmentStaff.id).where(DepartmentStaff.user_id == user_id).exists()}


def communities_in(user, *, street_id=None, district_id=None):
    """(id, name, street name) of the communities of a street or district its administrator may see."""
    if not can_administer_area(user, street_id=street_id, district_id=district_id):
        raise PermissionDenied()
    query = select(Community.id, Community.name, Street.name).join(Street, Street.id == Community.street_id)
    query = query.where(Community.street_id == street_id) if street_id is not None \
        else query.where(Street.district_id == district_id)
    return db.session.execute(query.order_by(Street.name, Community.name)).all()


def _grouped(query):
    return {row[0]: row[1] for row in db.session.execute(query)}


def community_figures(ids, since, until):
    """The figures of each community in [since, until): {community_id: {name: value}}. A fixed number of
    statements, whatever the number of communities."""
    ids = list(ids) or [0]

    def in_range(col):
        return and_(col >= since, col < until)

    residents = _grouped(select(Membership.community_id, func.count()).where(
        Membership.community_id.in_(ids), Membership.status == "active").group_by(Membership.community_id))
    people = union_all(
        *patrol_stats.people_selects(ids, since, until),
        ledger.credited_people(ids, since, until),
    ).subquery()
    active = _grouped(select(people.c.cid, func.count(people.c.uid.distinct())).group_by(people.c.cid))
    outstanding, issued, redeemed = ledger.community_points_figures(ids, since, until)
    patrol = patrol_stats.patrol_figures(ids, since, until)
    patrols, raised, open_now, resolved, median = (
        patrol[k] for k in ("patrols", "raised", "open", "resolved", "median_hours"))
    overdue = _grouped(select(Case.community_id, func.count()).where(
        Case.community_id.in_(ids), Case.overdue.is_(True), Case.closed.is_(False)).group_by(Case.community_id))
    households = _grouped(select(Household.community_id, func.count()).where(
        Household.community_id.in_(ids), Household.grid_id.is_not(None)).group_by(Household.community_id))
    visited = _grouped(select(Visit.community_id, func.count(Visit.household_id.distinct())).where(
        Visit.community_id.in_(ids), in_range(Visit.visited_at)).group_by(Visit.community_id))
    visits = _grouped(select(Visit.community_id, func.count()).where(
        Visit.community_id.in_(ids), in_range(Visit.visited_at)).group_by(Visit.community_id))
    meetings, decisions = deliberation.figures(ids, since, until)
    disputes = _grouped(select(Dispute.community_id, func.count()).where(
        Dispute.community_id.in_(ids), in_range(Dispute.opened_at)).group_by(Dispute.community_id))
    agreed = _grouped(select(Dispute.community_id, func.count()).where(
        Dispute.community_id.in_(ids), Dispute.status.in_(("agreed", "closed")), Dispute.agreement != "",
        in_range(Dispute.decided_at)).group_by(Dispute.community_id))
    figures = {}
    for cid in ids:
        n_patrols, km, hours = patrols.get(cid, (0, 0, 0))
        total = households.get(cid, 0)
        figures[cid] = {
            "residents": residents.get(cid, 0), "active": active.get(cid, 0),
            "points_outstanding": outstanding.get(cid, 0), "points_issued": issued.get(cid, 0),
            "points_redeemed": redeemed.get(cid, 0),
            "patrols": n_patrols, "patrol_km": round(float(km or 0), 1), "patrol_hours": round(float(hours or 0), 1),
            "problems_raised": raised.get(cid, 0), "problems_open": open_now.get(cid, 0),
            "problems_overdue": overdue.get(cid, 0), "problems_resolved": resolved.get(cid, 0),
            "median_hours_to_resolve": median.get(cid),
            "households": total, "households_visited": visited.get(cid, 0), "visits": visits.get(cid, 0),
            "visit_coverage": round(100 * visited.get(cid, 0) / total) if total else None,
            "meetings": meetings.get(cid, 0), "decisions_passed": decisions[cid].get("adopted", 0),
            "decisions_rejected": decisions[cid].get("rejected", 0), "vetoes": decisions[cid].get("vetoed", 0),
            "disputes": disputes.get(cid, 0), "disputes_agreed": agreed.get(cid, 0),
        }
    return figures


def command_view(user, *, street_id=None, district_id=None, now=None, days=30):
    """Every community of the street (or district) side by side over the last `days` days, red ones first."""
    now = resolve(now)
    communities = communities_in(user, street_id=street_id, district_id=district_id)
    figures = community_figures([c[0] for c in communities], now - timedelta(days=days), now + timedelta(seconds=1))
    rows = [{"id": cid, "name": name, "street": street, **figures[cid]} for cid, name, street in communities]
    rows.sort(key=lambda r: (-r["problems_overdue"], -r["problems_open"], r["street"], r["name"]))
    return rows


def open_problems_on_map(communities, *, limit=MAP_LIMIT):
    """Open problem reports with a place, of the given {community_id: name}, overdue first then newest: one
    statement on the (community_id, status) index, at most `limit` rows. Returns (problems, more) where `more`
    says whether some were left off."""
    ids = list(communities) or [0]
    overdue = func.coalesce(Case.overdue, False)
    found = problem_reports.open_reports_select(ids, statuses=UNFINISHED).subquery()
    rows = db.session.execute(
        select(found.c.id, found.c.community_id, found.c.lat, found.c.lon, found.c.created_at, found.c.category,
               overdue).select_from(found)
        .outerjoin(Case, and_(Case.community_id == found.c.community_id, Case.report_id == found.c.id))
        .order_by(overdue.desc(), found.c.created_at.desc(), found.c.id.desc()).limit(limit + 1)).all()
    problems = [{"id": rid, "community_id": cid, "community": communities[cid], "lat": lat, "lon": lon,
                 "created_at": created, "category": category, "overdue": bool(late)}
                for rid, cid, lat, lon, created, category, late in rows[:limit]]
    return problems, len(rows) > limit


def weekly_trend(community_ids, now, *, weeks=8):
    """Problems raised and households visited per week over the last `weeks` weeks, for the whole area:
    [{"start": datetime, "problems": n, "visits": n}], oldest first. Two statements, one bucket per week."""
    ids = list(community_ids) or [0]
    starts = [now - timedelta(days=7 * (weeks - i)) for i in range(weeks)]

    def buckets(column):
        return [func.coalesce(func.sum(case((and_(column >= start, column < start + timedelta(days=7)), 1),
                                            else_=0)), 0) for start in starts]

    problems = patrol_stats.problems_by_week(ids, starts)
    visits = db.session.execute(select(*buckets(Visit.visited_at)).where(
        Visit.community_id.in_(ids), Visit.visited_at >= starts[0])).one()
    return [{"start": start, "problems": int(p), "visits": int(v)}
            for start, p, v in zip(starts, problems, visits, strict=True)]


def totals(rows):
    """The sum of the countable figures over the rows (for the area's own line)."""
    keys = ("residents", "active", "points_outstanding", "points_issued", "points_redeemed", "patrols", "patrol_km",
            "patrol_hours", "problems_raised", "problems_open", "problems_overdue", "problems_resolved",
            "households", "households_visited", "visits", "meetings", "decisions_passed", "decisions_rejected",
            "vetoes", "disputes", "disputes_agreed")
    total = {k: round(sum(r[k] for r in rows), 1) for k in keys}
    total["visit_coverage"] = round(100 * total["households_visited"] / total["households"]) \
        if total["households"] else None
    return total


def grid_figures(community_id, since, until):
    """Per grid of a community: households, visits made and households due (not visited in their cycle)."""
    grids = db.session.execute(select(Grid.id, Grid.name, func.coalesce(GridCycle.days, 30)).outerjoin(
        GridCycle, and_(GridCycle.community_id == Grid.community_id, GridCycle.grid_id == Grid.id))
        .where(Grid.community_id == community_id).order_by(Grid.name)).all()
    households = _grouped(select(Household.grid_id, func.count()).where(
        Household.community_id == community_id).group_by(Household.grid_id))
    visits = _grouped(select(Visit.grid_id, func.count()).where(
        Visit.community_id == community_id, Visit.visited_at >= since, Visit.visited_at < until)
        .group_by(Visit.grid_id))
    last = db.session.execute(select(Household.grid_id, func.max(Visit.visited_at)).outerjoin(Visit, and_(
        Visit.community_id == Household.community_id, Visit.household_id == Household.id, Visit.visited_at < until))
        .where(Household.community_id == community_id).group_by(Household.id, Household.grid_id)).all()
    cycle = {gid: days for gid, _, days in grids}
    due = defaultdict(int)
    for gid, seen in last:
        if gid in cycle and (seen is None or seen <= until - timedelta(days=cycle[gid])):
            due[gid] += 1
    return [{"grid_id": gid, "grid": name, "cycle_days": days, "households": households.get(gid, 0),
             "visits": visits.get(gid, 0), "due": due.get(gid, 0)} for gid, name, days in grids]


def problems_by_category(ids, since, until):
    """[(community_id, category, raised, overdue)] in the period."""
    raised = problem_reports.raised_select(list(ids) or [0], since, until).subquery()
    return db.session.execute(
        select(raised.c.community_id, raised.c.category, func.count(), func.count(Case.id).filter(
            Case.overdue.is_(True))).select_from(raised)
        .outerjoin(Case, and_(Case.community_id == raised.c.community_id, Case.report_id == raised.c.id))
        .group_by(raised.c.community_id, raised.c.category).order_by(raised.c.community_id, raised.c.category)).all()


