"""A street with two communities, grid roles, households, a department with staff and a street administrator."""

import pytest

from civic.accounts.models import User
from civic.communities.models import Grid, Household, Membership
from civic.extensions import db
from civic.grid import service
from civic.grid.models import GridRole
from civic.rules.models import AreaAdmin
from tests import factories


def make_grid_world():
    """Two communities of 泉城路街道 (芙蓉社区 with households in its first grid), a grid worker and a leader, a
    managed resident, 城管 with one staff member, the street's and the district's administrators; flushed."""
    w = factories.make_world()
    w.grid = db.session.query(Grid).filter_by(community_id=w.a.id).one()
    w.b_grid = db.session.query(Grid).filter_by(community_id=w.b.id).one()
    w.houses = [Household(community_id=w.a.id, grid_id=w.grid.id, label=f"1号楼{n}01") for n in (1, 2, 3)]
    db.session.add_all(w.houses)
    db.session.flush()
    w.worker = factories.make_member(w.a, name="网格员小孙")
    w.leader = w.committee2
    db.session.add_all([
        GridRole(community_id=w.a.id, grid_id=w.grid.id, user_id=w.worker.id, role="grid_worker"),
        GridRole(community_id=w.a.id, grid_id=w.grid.id, user_id=w.leader.id, role="grid_leader"),
    ])
    ms = db.session.query(Membership).filter_by(community_id=w.a.id, user_id=w.resident.id).one()
    ms.household_id = w.houses[0].id
    w.managed = User(display_name="孙奶奶", is_managed=True, managed_by_community_id=w.a.id)
    db.session.add(w.managed)
    db.session.flush()
    db.session.add(Membership(community_id=w.a.id, user_id=w.managed.id, status="active",
                              household_id=w.houses[0].id))
    w.street_id = w.a.street_id
    w.district_id = w.a.street.district_id
    w.street_admin = factories.make_user(name="街道综治中心")
    w.district_admin = factories.make_user(name="区综治中心")
    db.session.add_all([AreaAdmin(user_id=w.street_admin.id, street_id=w.street_id),
                        AreaAdmin(user_id=w.district_admin.id, district_id=w.district_id)])
    db.session.flush()
    w.dept = service.create_department(w.street_admin, name="城管", street_id=w.street_id)
    w.staff = factories.make_user(name="城管队员")
    service.add_staff(w.street_admin, w.dept.id, w.staff.id)
    w.other_dept = service.create_department(w.district_admin, name="供水", district_id=w.district_id)
    w.other_staff = factories.make_user(name="供水员")
    service.add_staff(w.district_admin, w.other_dept.id, w.other_staff.id)
    db.session.flush()
    return w


@pytest.fixture
def gw(app_ctx):
    """The grid world, in the test's own session."""
    w = make_grid_world()
    db.session.commit()
    return w


@pytest.fixture
def grid_world(app):
    """The grid world committed and detached, for HTTP tests."""
    with app.app_context():
        db.session().expire_on_commit = False
        w = make_grid_world()
        db.session.commit()
        db.session.expunge_all()
        db.session.remove()
    return w


def first_category(community_id):
    from civic.patrols import reports as problem_reports

    return problem_reports.report_categories(community_id)[0]





def make_report_with_place(app, w):
    """An open problem with a place in the first community, committed; returns its id."""
    from civic.patrols import reports as patrols

    with app.app_context():
        report = patrols.submit_report(db.session.get(User, w.resident.id), w.a.id,
                                       category_id=first_category(w.a.id).id, description="井盖松动",
                                       lat=36.6612, lon=117.0213)
        db.session.commit()
        report_id = report.id
        db.session.remove()
    return report_id
