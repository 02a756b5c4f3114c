"""Grid pages over HTTP: who may open what, a round that raises a problem, dispatch, the command view, summaries."""
import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from civic.extensions import db
from civic.grid import command, summaries
from civic.grid.models import Case, Summary, Visit
from civic.patrols.models import Report
from tests.factories import make_upload
from tests.grid.conftest import first_category
from tests.patrols.helpers import png_bytes
from tests.sql import recorded


def _login(client, user):
    client.post("/logout")
    response = client.post("/login", data={"phone": user.phone, "password": "correct-horse-1"})
    assert response.status_code == 302


@pytest.mark.parametrize("url", ["/c/{a}/grid", "/c/{a}/grid/manage", "/grid/command", "/grid/cases",
                                 "/grid/departments", "/grid/summaries"])
def test_grid_pages_need_sign_in(client, grid_world, url):
    """Every grid page sends a visitor to the sign-in page."""
    response = client.get(url.format(a=grid_world.a.id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("who,url,status", [
    ("resident", "/c/{a}/grid", 403), ("worker", "/c/{a}/grid", 200), ("worker", "/c/{a}/grid/manage", 403),
    ("committee", "/c/{a}/grid/manage", 200), ("resident", "/grid/command", 403),
    ("committee", "/grid/command", 403), ("street_admin", "/grid/command", 200),
    ("street_admin", "/grid/command/c/{a}", 200), ("staff", "/grid/command", 403), ("staff", "/grid/cases", 200),
    ("resident", "/grid/cases", 403), ("street_admin", "/grid/departments", 200), ("staff", "/grid/departments", 403),
])
def test_who_may_open_which_grid_page(client, grid_world, who, url, status):
    """Grid pages follow the roles: workers their grid, the committee its setup, the street its command view."""
    _login(client, getattr(grid_world, who))
    assert client.get(url.format(a=grid_world.a.id)).status_code == status


def test_a_round_raises_a_problem_which_the_street_dispatches_and_the_department_fixes(client, app, grid_world):
    """Worker visits with a problem; leader passes it up; street sends it to 城管; staff accept and fix with a
    photo; the reporter confirms. All through the pages."""
    w = grid_world
    _login(client, w.worker)
    page = client.get(f"/c/{w.a.id}/grid").get_data(as_text=True)
    assert "1号楼101" in page and "孙奶奶" in page
    with app.app_context():
        category = first_category(w.a.id)
    response = client.post(f"/c/{w.a.id}/grid/households/{w.houses[0].id}", data={
        "met": "刘阿姨", "notes": "楼道堆物", "minutes": "20", "raise_problem": "y", "category_id": str(category.id),
        "problem": "楼道堆放杂物", "photo": (io.BytesIO(png_bytes()), "p.png")}, content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        visit = db.session.scalar(select(Visit))
        report_id = visit.report_id
        assert visit.photo and db.session.get(Report, report_id).photo == visit.photo
    _login(client, w.leader)
    assert client.post(f"/c/{w.a.id}/grid/reports/{report_id}/escalate", data={"note": "请城管"}).status_code == 302
    with app.app_context():
        case_id = db.session.scalar(select(Case.id))
    _login(client, w.street_admin)
    assert f"#{report_id}" in client.get("/grid/cases").get_data(as_text=True)
    client.post(f"/grid/cases/{case_id}", data={"action": "dispatch", "d-department_id": str(w.dept.id)})
    _login(client, w.other_staff)
    assert client.get(f"/grid/cases/{case_id}").status_code == 404
    _login(client, w.staff)
    assert f"#{report_id}" in client.get("/grid/cases").get_data(as_text=True)
    client.post(f"/grid/cases/{case_id}", data={"action": "accept"})
    client.post(f"/grid/cases/{case_id}", data={"action": "resolve", "s-note": "已清理",
                                                "s-photo": (io.BytesIO(png_bytes()), "f.png")},
                content_type="multipart/form-data")
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.accepted_at and case.resolved_at and db.session.get(Report, report_id).status == "resolved"
    _login(client, w.worker)
    client.post(f"/c/{w.a.id}/reports/{report_id}/confirm", data={})
    with app.app_context():
        assert db.session.get(Report, report_id).status == "confirmed"
    _login(client, w.street_admin)
    page = client.get("/grid/command").get_data(as_text=True)
    assert w.a.name in page and w.b.name in page


def _count_statements(func):
    with recorded() as statements:
        result = func()
    return result, len(statements)


def test_command_view_statements_do_not_grow_with_communities(gw):
    """Two communities or twelve: the same number of statements."""
    from tests import factories

    command.command_view(gw.street_admin, street_id=gw.street_id)  # loads the expired admin once
    _, few = _count_statements(lambda: command.command_view(gw.street_admin, street_id=gw.street_id))
    for n in range(10):
        factories.make_community(f"新社区{n}")
    db.session.flush()
    rows, many = _count_statements(lambda: command.command_view(gw.street_admin, street_id=gw.street_id))
    assert len(rows) == 12 and many == few


def test_command_view_figures_against_hand_counts(gw):
    """Residents, open and overdue problems, visit coverage and median time to fix, counted by hand."""
    from civic.grid import service
    from civic.patrols import reports as problem_reports

    now = datetime(2026, 5, 20, 2, 0)
    category = first_category(gw.a.id)
    reports = []
    for hours in (2, 6, 10):  # fixed after 2, 6 and 10 hours: median 6
        r = problem_reports.submit_report(gw.resident, gw.a.id, category_id=category.id, description="x",
                                          now=now - timedelta(days=3))
        problem_reports.accept_report(gw.committee, gw.a.id, r.id, now=now - timedelta(days=3))
        problem_reports.resolve_report(gw.committee, gw.a.id, r.id, photo=make_upload(gw.a, gw.committee),
                                       now=now - timedelta(days=3, hours=-hours))
        reports.append(r)
    late = problem_reports.submit_report(gw.resident, gw.a.id, category_id=category.id, description="y",
                                         now=now - timedelta(days=10))
    service.escalate_overdue(now=now)
    service.record_visit(gw.worker, gw.a.id, gw.houses[0].id, now=now - timedelta(days=1))
    service.record_visit(gw.worker, gw.a.id, gw.houses[0].id, now=now - timedelta(hours=2))
    rows = {r["id"]: r for r in command.command_view(gw.street_admin, street_id=gw.street_id, now=now)}
    a = rows[gw.a.id]
    assert a["residents"] == 8  # 6 of make_world, the worker, the managed resident
    assert a["problems_open"] == 4 and a["problems_overdue"] == 1  # 3 fixed (awaiting confirmation) + the late one
    assert a["median_hours_to_resolve"] == 6.0
    assert (a["households"], a["households_visited"], a["visit_coverage"], a["visits"]) == (3, 1, 33, 2)
    assert rows[gw.b.id]["problems_open"] == 0
    assert next(iter(rows)) == gw.a.id  # the red one first
    assert late.id in [r.id for r, c in service.open_reports_with_cases(gw.a.id) if c and c.overdue]


def test_weekly_summary_made_once_told_and_readable_as_csv(gw, client):
    """Monday's run makes last week's summary for the street and each community once, and tells the readers."""
    from civic.grid import service
    from civic.notifications.models import Notification

    monday = datetime(2026, 5, 11, 1, 0)  # 09:00 Monday in Shanghai
    service.record_visit(gw.worker, gw.a.id, gw.houses[1].id, now=monday - timedelta(days=2))
    service.record_visit(gw.worker, gw.a.id, gw.houses[1].id, now=monday - timedelta(days=9))  # the week before
    assert summaries.make_summaries("week", now=monday) == 1
    assert summaries.make_summaries("week", now=monday + timedelta(hours=1)) == 0
    db.session.commit()
    street = db.session.scalar(select(Summary).where(Summary.community_id.is_(None)))
    assert street.starts_on == datetime(2026, 5, 3, 16, 0) and street.ends_on == datetime(2026, 5, 10, 16, 0)
    a = next(c for c in street.figures["communities"] if c["id"] == gw.a.id)
    assert a["visits"] == 1 and a["grids"][0]["due"] == 2
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "grid.summary")))
    assert {gw.street_admin.id, gw.district_admin.id, gw.committee.id, gw.leader.id} <= told
    assert gw.worker.id not in told
    assert summaries.get_visible(gw.leader, db.session.scalar(select(Summary.id).where(
        Summary.community_id == gw.a.id))).community_id == gw.a.id
    text = summaries.to_csv(street)
    assert text.splitlines()[0].lstrip("\ufeff").startswith("community,residents") and "芙蓉社区" in text
    month = summaries.last_period("month", datetime(2026, 1, 3))
    assert month == (datetime(2025, 11, 30, 16, 0), datetime(2025, 12, 31, 16, 0))
    _login(client, gw.street_admin)
    response = client.get(f"/grid/summaries/{street.id}?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert client.get(f"/grid/summaries/{street.id}?print=1").status_code == 200
    _login(client, gw.worker)
    assert client.get(f"/grid/summaries/{street.id}").status_code == 404


def test_api_rounds_visit_with_a_problem_and_a_department_accepts(client, app, grid_world, api_token):
    """From the phone API: rounds due, a visit that raises a problem, and 城管 accepting its case."""
    w = grid_world
    headers = api_token(w.worker)
    rounds = client.get(f"/api/v1/communities/{w.a.id}/grid/rounds", headers=headers).json
    assert len(rounds[0]["due"]) == 3 and rounds[0]["cycle_days"] == 30
    with app.app_context():
        category_id = first_category(w.a.id).id
    response = client.post(f"/api/v1/communities/{w.a.id}/grid/visits", headers=headers, json={
        "household_id": w.houses[2].id, "met": "住户", "minutes": 10,
        "problem": {"category_id": category_id, "description": "井盖松动"}})
    assert response.status_code == 201 and response.json["report_id"]
    assert client.post(f"/api/v1/communities/{w.b.id}/grid/visits", headers=headers,
                       json={"household_id": w.houses[2].id}).status_code == 403
    with app.app_context():
        from civic.accounts.models import User
        from civic.grid import service

        case = service.escalate_report(db.session.get(User, w.leader.id), w.a.id, response.json["report_id"])
        service.dispatch_case(db.session.get(User, w.street_admin.id), case.id, w.dept.id)
        db.session.commit()
        case_id = case.id
    staff = api_token(w.staff)
    assert [c["id"] for c in client.get("/api/v1/grid/cases", headers=staff).json] == [case_id]
    assert client.get("/api/v1/grid/cases", headers=api_token(w.other_staff)).json == []
    accepted = client.post(f"/api/v1/grid/cases/{case_id}/accept", headers=staff)
    assert accepted.status_code == 200 and accepted.json["accepted_at"]


def test_the_worker_runs_the_grid_jobs(app, grid_world):
    """The scheduler's jobs are registered and run in their own transaction with the clock they are given."""
    from civic.worker import JOBS, load_jobs, run_job

    load_jobs()
    assert {"grid_escalate_overdue", "grid_weekly_analysis", "grid_monthly_summary"} <= set(JOBS)
    with app.app_context():
        from civic.accounts.models import User
        from civic.patrols import reports as problem_reports

        category = first_category(grid_world.a.id)
        problem_reports.submit_report(db.session.get(User, grid_world.resident.id), grid_world.a.id,
                                      category_id=category.id, description="路灯坏了", now=datetime(2026, 5, 1))
        db.session.commit()
    assert run_job(app, "grid_escalate_overdue", now=datetime(2026, 5, 10)) == 1
    assert run_job(app, "grid_monthly_summary", now=datetime(2026, 5, 10)) == 1
    with app.app_context():
        assert db.session.scalar(select(Case.overdue)) is True
        assert db.session.scalar(select(Summary.period)) == "month"


def test_street_sets_departments_staff_and_deadlines_through_the_page(client, app, grid_world):
    """The street office adds a department, a staff member by mobile number and a deadline for a kind of problem
    chosen from those its communities use."""
    from civic.grid.models import CategoryDeadline, Department, DepartmentStaff

    w = grid_world
    _login(client, w.street_admin)
    page = client.get("/grid/departments").get_data(as_text=True)
    assert 'value="Unsafe"' in page
    client.post("/grid/departments", data={"p-area": f"street:{w.street_id}", "p-name": "市场监管"})
    with app.app_context():
        dept_id = db.session.scalar(select(Department.id).where(Department.name == "市场监管"))
    client.post("/grid/departments", data={"s-department_id": str(dept_id), "s-phone": w.resident2.phone})
    client.post("/grid/departments", data={"l-street_id": str(w.street_id), "l-category": "Unsafe", "l-hours": "6"})
    with app.app_context():
        assert db.session.scalar(select(DepartmentStaff.user_id).where(DepartmentStaff.department_id == dept_id)) \
            == w.resident2.id
        assert db.session.scalar(select(CategoryDeadline.hours).where(CategoryDeadline.category == "Unsafe")) == 6


def test_weekly_trend_counts_by_week(gw):
    """Problems and visits land in the week they happened; older ones are left out."""
    from civic.grid import service
    from civic.patrols import reports as problem_reports

    now = datetime(2026, 5, 20, 2, 0)
    category = first_category(gw.a.id)
    for days in (1, 2, 9, 70):
        problem_reports.submit_report(gw.resident, gw.a.id, category_id=category.id, description="x",
                                      now=now - timedelta(days=days))
    service.record_visit(gw.worker, gw.a.id, gw.houses[0].id, now=now - timedelta(days=3))
    trend = command.weekly_trend([gw.a.id, gw.b.id], now)
    assert [t["problems"] for t in trend] == [0, 0, 0, 0, 0, 0, 1, 2]
    assert [t["visits"] for t in trend] == [0, 0, 0, 0, 0, 0, 0, 1]


def test_map_of_open_problems_is_one_bounded_statement_red_first(gw):
    """The map plots open problems with a place (none without one, none fixed and confirmed), overdue first,
    in one statement whatever the number of problems, and at most its limit."""
    category = first_category(gw.a.id)
    late = patrols_report(gw, category, lat=36.661, lon=117.021)
    db.session.add(Case(community_id=gw.a.id, report_id=late.id, street_id=gw.street_id, overdue=True))
    fresh = patrols_report(gw, category, lat=36.662, lon=117.022)
    patrols_report(gw, category)  # no place: listed on the community's pages, not on the map
    db.session.flush()
    names = {gw.a.id: gw.a.name, gw.b.id: gw.b.name}
    (problems, more), statements = _count_statements(lambda: command.open_problems_on_map(names))
    assert [p["id"] for p in problems] == [late.id, fresh.id] and not more and statements == 1
    assert problems[0]["overdue"] and not problems[1]["overdue"] and problems[0]["community"] == gw.a.name
    for n in range(4):
        patrols_report(gw, category, lat=36.66 + n / 1000, lon=117.02)
    db.session.flush()
    (problems, more), statements = _count_statements(lambda: command.open_problems_on_map(names, limit=3))
    assert len(problems) == 3 and more and statements == 1 and problems[0]["id"] == late.id


def patrols_report(gw, category, **place):
    from civic.patrols import reports as patrols

    return patrols.submit_report(gw.resident, gw.a.id, category_id=category.id, description="路灯坏了", **place)


def test_command_view_draws_the_map_and_lists_the_same_problems(client, app, grid_world):
    """The command view carries the open problems as data for the map (no tile server needed) and as a list."""
    from tests.grid.conftest import make_report_with_place

    report_id = make_report_with_place(app, grid_world)
    _login(client, grid_world.street_admin)
    page = client.get("/grid/command").get_data(as_text=True)
    assert 'data-testid="patrol-map"' in page and "data-marks=" in page and "vendor/leaflet/leaflet." in page
    assert f"#{report_id} " in page and 'data-testid="problem-map-list"' in page


@pytest.mark.parametrize("view", ["overview", "problems", "notices", "patrols", "meetings"])
def test_street_admin_drills_down_read_only_and_not_into_another_street(client, app, grid_world, view):
    """A street administrator opens each read-only view of their street's community; a community of another
    street (which exists, with a report) answers 404, as does an unknown view; a grid worker may not drill down."""
    from tests import factories
    from tests.grid.conftest import make_report_with_place

    report_id = make_report_with_place(app, grid_world)
    with app.app_context():
        other = factories.make_community("千佛山社区", street_name="千佛山街道")
        other_id = other.id
        db.session.commit()
    _login(client, grid_world.street_admin)
    response = client.get(f"/grid/command/c/{grid_world.a.id}/{view}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="read-only"' in page
    assert "<form" not in page.split('data-testid="read-only"')[1]  # nothing to press: read-only
    if view == "problems":
        assert f"#{report_id} " in page
    assert client.get(f"/grid/command/c/{other_id}/{view}").status_code == 404
    assert client.get(f"/grid/command/c/{grid_world.a.id}/settings").status_code == 404
    _login(client, grid_world.worker)
    assert client.get(f"/grid/command/c/{grid_world.a.id}/{view}").status_code == 404


def test_inspect_is_in_the_permission_registry(gw):
    """community.inspect belongs to the community's street and district administrators only; merit.view too
    (the notice board is public to the community), but nothing that changes anything."""
    from civic.core.permissions import ACTIONS, AREA_ADMIN, can
    from tests import factories

    other = factories.make_community("千佛山社区", street_name="千佛山街道")
    assert can(gw.street_admin, "community.inspect", gw.a.id) and can(gw.district_admin, "community.inspect", gw.a.id)
    assert not can(gw.street_admin, "community.inspect", other.id)
    assert not can(gw.committee, "community.inspect", gw.a.id) and not can(gw.worker, "community.inspect", gw.a.id)
    assert can(gw.street_admin, "merit.view", gw.a.id) and not can(gw.street_admin, "merit.object", gw.a.id)
    assert {a for a, roles in ACTIONS.items() if AREA_ADMIN in roles} == {"merit.view", "community.inspect"}
