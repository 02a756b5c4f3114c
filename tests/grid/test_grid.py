"""Grid roles, daily rounds, dispatch to departments and escalation, each with a passed clock."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.permissions import can
from civic.extensions import db
from civic.grid import service
from civic.grid.models import Case
from civic.ledger.models import Transaction
from civic.patrols import service as patrols
from civic.patrols.models import Report, ReportEvent, ServiceRecord
from tests.factories import make_upload
from tests.grid.conftest import first_category

T0 = datetime(2026, 5, 4, 2, 0)  # a Monday, 10:00 in Shanghai


def test_grid_roles_are_permissions_in_the_registry(gw):
    """A grid worker may record visits in their community only; a building head may view but not visit."""
    assert can(gw.worker, "grid.visit", gw.a.id)
    assert not can(gw.worker, "grid.visit", gw.b.id)
    assert not can(gw.resident, "grid.visit", gw.a.id)
    head = service.assign_role(gw.committee, gw.a.id, gw.grid.id, gw.resident2.id, "building_head")
    assert can(gw.resident2, "grid.view", gw.a.id) and not can(gw.resident2, "grid.visit", gw.a.id)
    assert head.role == "building_head"


def test_grid_leader_must_be_a_committee_member(gw):
    """Only a committee member can lead a grid, and only the committee appoints."""
    with pytest.raises(Invalid):
        service.assign_role(gw.committee, gw.a.id, gw.grid.id, gw.resident2.id, "grid_leader")
    with pytest.raises(PermissionDenied):
        service.assign_role(gw.worker, gw.a.id, gw.grid.id, gw.resident2.id, "grid_worker")
    with pytest.raises(Invalid):  # not a member of this community
        service.assign_role(gw.committee, gw.a.id, gw.grid.id, gw.b_resident.id, "grid_worker")
    with pytest.raises(Conflict):
        service.assign_role(gw.committee, gw.a.id, gw.grid.id, gw.worker.id, "grid_worker")


def test_worker_home_shows_households_residents_and_who_is_due(gw):
    """Every household is due before its first visit; a visit makes it not due until the cycle has passed."""
    service.set_cycle(gw.committee, gw.a.id, gw.grid.id, 7)
    home = service.grid_home(gw.worker, gw.a.id, now=T0)
    assert [g["grid"].id for g in home] == [gw.grid.id]
    assert len(home[0]["due"]) == 3 and home[0]["days"] == 7
    house = next(r for r in home[0]["households"] if r["household"].id == gw.houses[0].id)
    assert {"name": "孙奶奶", "managed": True} in house["residents"]
    service.record_visit(gw.worker, gw.a.id, gw.houses[0].id, met="刘阿姨", notes="一切正常", now=T0)
    home = service.grid_home(gw.worker, gw.a.id, now=T0 + timedelta(days=6))
    assert gw.houses[0].id not in [r["household"].id for r in home[0]["due"]]
    home = service.grid_home(gw.worker, gw.a.id, now=T0 + timedelta(days=7))
    assert gw.houses[0].id in [r["household"].id for r in home[0]["due"]]
    with pytest.raises(PermissionDenied):
        service.grid_home(gw.resident, gw.a.id)


def test_visit_earns_service_hours_not_points(gw):
    """Twenty minutes of visiting are twenty minutes of service time and no ledger transaction."""
    visit = service.record_visit(gw.worker, gw.a.id, gw.houses[1].id, minutes=20, follow_up=True, now=T0)
    record = db.session.scalar(select(ServiceRecord).where(ServiceRecord.source == f"visit:{visit.id}"))
    assert record.seconds == 1200 and record.user_id == gw.worker.id
    assert db.session.scalar(select(Transaction.id).where(Transaction.community_id == gw.a.id)) is None


def test_visit_outside_my_grid_or_in_the_future_is_refused(gw):
    """A worker visits only their grid's households, and not in the future or more than a week back."""
    other = service.get_grid(gw.a.id, gw.grid.id)
    from civic.communities.models import Grid, Household

    second = Grid(community_id=gw.a.id, name="第二网格")
    db.session.add(second)
    db.session.flush()
    away = Household(community_id=gw.a.id, grid_id=second.id, label="2号楼101")
    db.session.add(away)
    db.session.flush()
    with pytest.raises(PermissionDenied):
        service.record_visit(gw.worker, gw.a.id, away.id, now=T0)
    with pytest.raises(Invalid):
        service.record_visit(gw.worker, gw.a.id, gw.houses[0].id, visited_at=T0 + timedelta(hours=1), now=T0)
    with pytest.raises(Invalid):
        service.record_visit(gw.worker, gw.a.id, gw.houses[0].id, visited_at=T0 - timedelta(days=8), now=T0)
    with pytest.raises(NotFound):
        service.record_visit(gw.worker, gw.a.id, 999999, now=T0)
    assert other.id == gw.grid.id


def _raise(gw, now=T0, house=0):
    category = first_category(gw.a.id)
    visit = service.record_visit(gw.worker, gw.a.id, gw.houses[house].id, notes="楼道堆放杂物",
                                 problem={"category_id": category.id, "description": "楼道堆放杂物，堵塞消防通道"},
                                 now=now)
    db.session.flush()
    return visit, db.session.get(Report, visit.report_id)


def test_a_visit_raises_a_problem_in_one_step_and_it_shows_in_the_grid(gw):
    """The report is the patrols' own report, by the worker, listed among the grid's open problems."""
    _visit, report = _raise(gw)
    assert report.reporter_id == gw.worker.id and report.status == "submitted"
    home = service.grid_home(gw.worker, gw.a.id, now=T0)
    assert [r.id for r in home[0]["problems"]] == [report.id]


def test_whistle_dispatch_accept_resolve_confirm(gw):
    """Community → street → department → fixed with a photo → the reporter confirms; each step on the timeline."""
    _, report = _raise(gw)
    with pytest.raises(PermissionDenied):
        service.escalate_report(gw.worker, gw.a.id, report.id, now=T0)
    case = service.escalate_report(gw.leader, gw.a.id, report.id, note="需要城管", now=T0 + timedelta(minutes=5))
    assert case.level == "street" and case.street_id == gw.street_id
    with pytest.raises(PermissionDenied):
        service.dispatch_case(gw.committee, case.id, gw.dept.id, now=T0)
    service.set_deadline(gw.street_admin, gw.street_id, first_category(gw.a.id).name, 24)
    t_dispatch = T0 + timedelta(minutes=10)
    service.dispatch_case(gw.street_admin, case.id, gw.dept.id, now=t_dispatch)
    assert case.deadline_at == t_dispatch + timedelta(hours=24) and report.status == "assigned"
    with pytest.raises(NotFound):  # another department sees nothing of it
        service.accept_case(gw.other_staff, case.id, now=t_dispatch)
    with pytest.raises(NotFound):
        service.visible_case(gw.other_staff, case.id)
    service.accept_case(gw.staff, case.id, now=t_dispatch + timedelta(minutes=30))
    with pytest.raises(Invalid):
        service.resolve_case(gw.staff, case.id, photo=None, now=t_dispatch + timedelta(hours=1))
    service.resolve_case(gw.staff, case.id, photo=make_upload(gw.a, gw.staff), note="已清理",
                         now=t_dispatch + timedelta(hours=2))
    assert service.durations(case) == {"accept": 0.5, "resolve": 2.0}
    patrols.confirm_report(gw.worker, gw.a.id, report.id, now=t_dispatch + timedelta(hours=3))
    service.escalate_overdue(now=t_dispatch + timedelta(hours=30))
    assert case.closed and not case.overdue
    steps = [(e.action, e.actor_id) for e in patrols.timeline(report)]
    assert steps == [("submitted", gw.worker.id), ("escalated", gw.leader.id), ("assigned", gw.street_admin.id),
                     ("dept_accepted", gw.staff.id), ("resolved", gw.staff.id), ("confirmed", gw.worker.id)]


def test_reporter_reopens_and_the_department_sees_it_again(gw):
    """A reopened report goes back to the department's list."""
    _, report = _raise(gw)
    case = service.escalate_report(gw.committee, gw.a.id, report.id, now=T0)
    service.dispatch_case(gw.street_admin, case.id, gw.other_dept.id, now=T0)  # a district department
    service.resolve_case(gw.other_staff, case.id, photo=make_upload(gw.a, gw.other_staff), now=T0 + timedelta(hours=1))
    assert service.cases_for_staff(gw.other_staff) != []
    patrols.reopen_report(gw.worker, gw.a.id, report.id, note="还没清理干净", now=T0 + timedelta(hours=2))
    assert report.status == "assigned"
    service.resolve_case(gw.other_staff, case.id, photo=make_upload(gw.a, gw.other_staff), now=T0 + timedelta(hours=3))
    assert report.status == "resolved"


def test_overdue_reports_escalate_community_street_district_and_turn_red(gw):
    """Past the street's deadline a report leaves the community; past the department's it goes to the district;
    each level's administrators are told; a second sweep changes nothing."""
    from civic.notifications.models import Notification

    _, report = _raise(gw)
    service.set_deadline(gw.street_admin, gw.street_id, first_category(gw.a.id).name, 48)
    assert service.escalate_overdue(now=T0 + timedelta(hours=47)) == 0
    assert service.escalate_overdue(now=T0 + timedelta(hours=49)) == 1
    case = service.case_of_report(gw.a.id, report.id)
    assert case.level == "street" and case.overdue
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == gw.street_admin.id))
    assert service.escalate_overdue(now=T0 + timedelta(hours=50)) == 0
    service.dispatch_case(gw.street_admin, case.id, gw.dept.id, now=T0 + timedelta(hours=50))
    assert service.escalate_overdue(now=T0 + timedelta(hours=97)) == 0
    assert service.escalate_overdue(now=T0 + timedelta(hours=99)) == 1
    assert case.level == "district" and case.overdue
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == gw.district_admin.id))
    assert service.escalate_overdue(now=T0 + timedelta(hours=200)) == 0
    assert [c.id for c, _ in service.cases_for_street(gw.street_admin, gw.street_id)] == [case.id]
    events = db.session.scalars(select(ReportEvent.action).where(ReportEvent.report_id == report.id)).all()
    assert events.count("escalated") == 2


def test_a_street_admin_sees_only_their_street(gw):
    """Another street's administrator may not dispatch or list this street's cases."""
    from civic.communities.models import Street
    from civic.rules.models import AreaAdmin
    from tests import factories

    other = Street(district_id=gw.district_id, name="大明湖街道")
    db.session.add(other)
    db.session.flush()
    stranger = factories.make_user(name="别的街道")
    db.session.add(AreaAdmin(user_id=stranger.id, street_id=other.id))
    _, report = _raise(gw)
    case = service.escalate_report(gw.committee, gw.a.id, report.id, now=T0)
    with pytest.raises(PermissionDenied):
        service.dispatch_case(stranger, case.id, gw.dept.id, now=T0)
    with pytest.raises(PermissionDenied):
        service.cases_for_street(stranger, gw.street_id)
    with pytest.raises(NotFound):
        service.visible_case(stranger, case.id)
    assert service.visible_case(gw.district_admin, case.id) is case
    other_dept = service.create_department(stranger, name="城管", street_id=other.id)
    with pytest.raises(Invalid):  # a department of another street
        service.dispatch_case(gw.street_admin, case.id, other_dept.id, now=T0)
    assert db.session.scalar(select(Case.department_id).where(Case.id == case.id)) is None
