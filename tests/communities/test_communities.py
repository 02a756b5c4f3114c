"""Joining a community, committee confirmation, roles (the route-walker is in test_route_walker.py)."""

import pytest
from sqlalchemy import select

from civic.communities import service
from civic.communities.models import MemberRole, Membership
from civic.core.errors import Conflict, Invalid, PermissionDenied
from civic.core.permissions import ACTIONS, can, roles_in
from civic.extensions import db
from civic.notifications.models import Notification
from tests import factories


def test_join_request_confirmed_by_committee(app_ctx, world):
    """A resident asks to join, the committee is told, confirms, and the resident is told."""
    newcomer = factories.make_user(name="新居民")
    membership = service.request_to_join(newcomer, world.a.id, address="3号楼")
    assert roles_in(newcomer, world.a.id) == frozenset()
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "membership.requested")).all()
    assert set(told) == {world.committee.id, world.committee2.id}
    service.review_membership(world.committee, world.a.id, membership.id, True)
    assert roles_in(newcomer, world.a.id) == {"resident"}
    assert db.session.scalar(select(Notification).where(
        Notification.user_id == newcomer.id, Notification.kind == "membership.decided")) is not None


def test_join_twice_is_refused(app_ctx, world):
    """Asking again while a request is pending is refused."""
    service.request_to_join(world.outsider, world.a.id)
    with pytest.raises(Conflict):
        service.request_to_join(world.outsider, world.a.id)


def test_rejected_resident_may_ask_again(app_ctx, world):
    """After a rejection the resident can ask again (a new pending request)."""
    m = service.request_to_join(world.outsider, world.a.id)
    service.review_membership(world.committee, world.a.id, m.id, False)
    again = service.request_to_join(world.outsider, world.a.id)
    assert again.status == "pending"


def test_only_own_committee_reviews(app_ctx, world):
    """Another community's committee, or a plain resident, cannot confirm a request."""
    m = service.request_to_join(world.outsider, world.a.id)
    for actor in (world.b_committee, world.resident, world.coordinator):
        with pytest.raises(PermissionDenied):
            service.review_membership(actor, world.a.id, m.id, True)


def test_review_with_grid_of_another_community_is_refused(app_ctx, world):
    """A grid of another community cannot be assigned."""
    from civic.communities.models import Grid

    other_grid = db.session.scalar(select(Grid.id).where(Grid.community_id == world.b.id))
    m = service.request_to_join(world.outsider, world.a.id)
    with pytest.raises(Invalid):
        service.review_membership(world.committee, world.a.id, m.id, True, grid_id=other_grid)


def test_cross_community_foreign_keys_are_enforced_by_the_database(app_ctx, world):
    """The schema itself refuses a membership pointing at another community's grid."""
    from sqlalchemy.exc import IntegrityError

    from civic.communities.models import Grid

    other_grid = db.session.scalar(select(Grid.id).where(Grid.community_id == world.b.id))
    db.session.add(Membership(community_id=world.a.id, user_id=world.outsider.id, status="active", grid_id=other_grid))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_roles_are_per_community(app_ctx, world):
    """A committee member of one community is nobody in another."""
    assert can(world.committee, "membership.review", world.a.id)
    assert not can(world.committee, "membership.review", world.b.id)
    assert not can(world.committee, "community.view", world.b.id)
    assert can(world.admin, "membership.review", world.b.id)


def test_grant_and_revoke_roles(app_ctx, world):
    """The committee grants and revokes roles; it is audited; residents cannot."""
    service.grant_role(world.committee, world.a.id, world.resident.id, "coordinator")
    assert "coordinator" in roles_in(world.resident, world.a.id)
    with pytest.raises(PermissionDenied):
        service.grant_role(world.resident, world.a.id, world.resident2.id, "committee")
    service.revoke_role(world.committee, world.a.id, world.resident.id, "coordinator")
    assert roles_in(world.resident, world.a.id) == {"resident"}
    from civic.core.audit import AuditEntry

    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("role.%"))).all() == [
        "role.granted", "role.revoked"]


def test_roles_need_active_membership(app_ctx, world):
    """Only confirmed residents hold roles; the database refuses a role without membership."""
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(Invalid):
        service.grant_role(world.committee, world.a.id, world.outsider.id, "shopkeeper")
    db.session.add(MemberRole(community_id=world.a.id, user_id=world.outsider.id, role="shopkeeper"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_every_action_is_known():
    """Permission checks refuse to guess about an unknown action name."""
    with pytest.raises(KeyError):
        can(None, "no.such.action", 1)
    assert all(roles for roles in ACTIONS.values())


def test_switching_to_a_foreign_community_is_ignored(client, auth, world):
    """Switching the session to a community I do not belong to changes nothing."""
    auth.login(phone=world.b_resident.phone)
    client.post(f"/c/{world.a.id}/switch")
    assert "芙蓉社区" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/me", "/communities", "/notifications/", "/me/password", "/admin/"])
def test_pages_need_sign_in(client, path):
    """Protected pages send visitors to sign in."""
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_pages_need_an_administrator(client, auth, world):
    """Only site administrators reach the administration page."""
    auth.login()
    assert client.get("/admin/").status_code == 403


def test_committee_pages_over_http(app, client, auth, world):
    """The committee confirms a join request through the members page."""
    with app.app_context():
        m = service.request_to_join(db.session.merge(world.outsider), world.a.id, address="5号楼")
        db.session.commit()
        membership_id = m.id
    auth.login()
    page = client.get(f"/c/{world.a.id}/members").get_data(as_text=True)
    assert "路人" in page and "5号楼" in page
    response = client.post(f"/c/{world.a.id}/members/{membership_id}/review",
                           data={"decision": "approve", "grid_id": "0"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Membership, membership_id).status == "active"
