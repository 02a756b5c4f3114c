"""Four eyes on the rules, through HTTP: a point-deciding setting changes only when a second committee
member confirms; the street/district administrator's ceilings hold; the committee cannot pack itself;
the history shows both names to residents. And communities start complete: reads never write."""
from sqlalchemy import func, select

from civic.communities import service as communities
from civic.communities.models import MemberRole, Membership
from civic.deliberation import service as deliberation
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Category
from civic.merit import service as merit
from civic.patrols import service as patrols
from civic.rules import service as rules
from civic.rules.models import RuleChange
from tests import factories


def _attendance_points(app, community_id):
    with app.app_context():
        return deliberation.settings_for(community_id).points_per_attendance


def test_one_member_alone_cannot_raise_points(app, client, world, api_token):
    """The attack of issue 10: raising points_per_attendance through the API leaves it unchanged; it waits."""
    one = api_token(world.committee.phone)
    url = f"/api/v1/deliberation/communities/{world.a.id}/settings"
    body = {"support_threshold": 5, "points_per_attendance": 1000, "veto_percent": 30, "evaluation_days": 7}
    response = client.put(url, json=body, headers=one)
    assert response.status_code == 200
    assert response.json["points_per_attendance"] == 2
    assert _attendance_points(app, world.a.id) == 2
    changes = client.get(f"/api/v1/communities/{world.a.id}/rule-changes", headers=one).json
    assert [(c["field"], c["new_value"], c["status"]) for c in changes] == [("points_per_attendance", 1000, "pending")]
    # The proposer cannot confirm their own proposal.
    own = client.post(f"/api/v1/communities/{world.a.id}/rule-changes/{changes[0]['id']}",
                      json={"decision": "confirm"}, headers=one)
    assert own.status_code == 403
    assert _attendance_points(app, world.a.id) == 2


def test_second_member_confirms_and_history_shows_both_names(app, client, auth, world, api_token):
    """A different committee member confirms: in effect; the public history page names both people."""
    one, two = api_token(world.committee.phone), api_token(world.committee2.phone)
    base = f"/api/v1/communities/{world.a.id}/rule-changes"
    proposal = client.post(base, json={"area": "patrols", "field": "report_points", "value": 8}, headers=one)
    assert proposal.status_code == 201 and proposal.json["status"] == "pending"
    with app.app_context():
        assert patrols.settings_for(world.a.id).report_points == 5
    done = client.post(f"{base}/{proposal.json['id']}", json={"decision": "confirm"}, headers=two)
    assert done.status_code == 200, done.json
    assert (done.json["status"], done.json["proposed_by"], done.json["decided_by"]) == ("confirmed", "王主任", "李委员")
    with app.app_context():
        assert patrols.settings_for(world.a.id).report_points == 8
    again = client.post(f"{base}/{proposal.json['id']}", json={"decision": "confirm"}, headers=two)
    assert again.status_code == 409
    # Another community's committee cannot read it.
    assert client.get(f"/api/v1/communities/{world.a.id}/rule-changes",
                      headers=api_token(world.b_committee.phone)).status_code in (403, 404)
    # A resident reads the history page with both names.
    auth.login(world.resident.phone)
    page = client.get(f"/c/{world.a.id}/rules")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "王主任" in text and "李委员" in text and "5 → 8" in text


def test_threshold_and_budget_need_four_eyes_through_the_forms(app, client, auth, world):
    """Lifting second_approval_above through the merit form only proposes; the budget is set the same way."""
    auth.login(world.committee.phone)
    assert client.post(f"/c/{world.a.id}/merit/manage",
                       data={"notice_days": "3", "second_approval_above": "100000"}).status_code == 302
    with app.app_context():
        assert merit.settings_for(world.a.id).second_approval_above == 20
    assert client.post(f"/c/{world.a.id}/rules", data={"p-setting": "ledger:yearly_budget", "p-value": "5000"}
                       ).status_code == 302
    with app.app_context():
        year_budget = rules.setting("ledger", "yearly_budget").read(world.a.id)
        assert year_budget != 5000
        pending = db.session.scalars(select(RuleChange).where(RuleChange.status == "pending")
                                     .order_by(RuleChange.id)).all()
        assert [(c.field, c.new_value) for c in pending] == [("second_approval_above", 100000), ("yearly_budget", 5000)]
        ids = [c.id for c in pending]
    auth.logout()
    auth.login(world.committee2.phone)
    for change_id in ids:
        assert client.post(f"/c/{world.a.id}/rules/{change_id}", data={"decision": "confirm"}).status_code == 302
    with app.app_context():
        assert merit.settings_for(world.a.id).second_approval_above == 100000
        assert rules.setting("ledger", "yearly_budget").read(world.a.id) == 5000


def test_ceiling_of_the_street_refuses_a_proposal(app, client, world, api_token):
    """The street's administrator caps report_points at 10; a proposal of 50 is refused with the reason."""
    with app.app_context():
        street_admin = factories.make_user(name="街道管理员")
        community = db.session.get(type(world.a), world.a.id)
        rules.assign_area_admin(db.session.merge(world.admin), street_admin, street_id=community.street_id)
        db.session.commit()
        phone, street_id = street_admin.phone, community.street_id
    admin_headers = api_token(phone)
    # A committee member cannot set ceilings.
    refused = client.put("/api/v1/ceilings", json={"area": "patrols", "field": "report_points", "maximum": 1,
                                                   "street_id": street_id}, headers=api_token(world.committee.phone))
    assert refused.status_code == 403
    ok = client.put("/api/v1/ceilings", json={"area": "patrols", "field": "report_points", "maximum": 10,
                                              "street_id": street_id}, headers=admin_headers)
    assert ok.status_code == 200, ok.json
    over = client.post(f"/api/v1/communities/{world.a.id}/rule-changes",
                       json={"area": "patrols", "field": "report_points", "value": 50},
                       headers=api_token(world.committee.phone))
    assert over.status_code == 422
    assert "10" in over.json["message"]
    within = client.post(f"/api/v1/communities/{world.a.id}/rule-changes",
                         json={"area": "patrols", "field": "report_points", "value": 10},
                         headers=api_token(world.committee.phone))
    assert within.status_code == 201


def test_committee_cannot_be_packed(app, client, auth, world):
    """Member confirms a fresh sign-up, tries to make them committee (refused), cannot remove a colleague."""
    with app.app_context():
        puppet = factories.make_user(name="傀儡")
        db.session.add(Membership(community_id=world.a.id, user_id=puppet.id, status="pending", address="9号楼"))
        db.session.commit()
        puppet_id, membership_id = puppet.id, db.session.scalar(
            select(Membership.id).where(Membership.user_id == puppet.id))
    auth.login(world.committee.phone)
    assert client.post(f"/c/{world.a.id}/members/{membership_id}/review", data={"decision": "approve"}
                       ).status_code == 302
    client.post(f"/c/{world.a.id}/roles", data={"user_id": str(puppet_id), "role": "committee", "action": "grant"})
    client.post(f"/c/{world.a.id}/roles", data={"user_id": str(world.committee2.id), "role": "committee",
                                                "action": "revoke"})
    with app.app_context():
        committee = set(db.session.scalars(select(MemberRole.user_id).where(
            MemberRole.community_id == world.a.id, MemberRole.role == "committee")))
        assert committee == {world.committee.id, world.committee2.id}
        # The street's administrator appoints and removes; every committee member is told.
        street_admin = factories.make_user(name="街道管理员")
        rules.assign_area_admin(db.session.merge(world.admin), street_admin,
                                street_id=db.session.get(type(world.a), world.a.id).street_id)
        communities.grant_role(street_admin, world.a.id, puppet_id, "committee")
        communities.revoke_role(street_admin, world.a.id, puppet_id, "committee")
        from civic.notifications.models import Notification
        told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "committee.changed")))
        assert {world.committee.id, world.committee2.id, puppet_id} <= told
        # A coordinator role stays with the committee.
        communities.grant_role(db.session.merge(world.committee), world.a.id, puppet_id, "coordinator")


def test_fresh_install_creates_its_first_rule(app, client, auth, api_token):
    """A community made by an administrator (no demo data) has its categories at once: first rule via API
    and form; reading pages adds no rows."""
    with app.app_context():
        admin = factories.make_user(name="管理员", is_admin=True, phone="13900000001")
        district = communities.get_or_create_district(admin, "历城区")
        street = communities.get_or_create_street(admin, district, "洪家楼街道")
        community = communities.create_community(admin, street, "新社区")
        committee = factories.make_user(name="新主任", phone="13900000002")
        db.session.add(Membership(community_id=community.id, user_id=committee.id, status="active", address="1号"))
        db.session.flush()
        communities.grant_role(admin, community.id, committee.id, "committee")
        db.session.commit()
        community_id = community.id
        before = db.session.scalar(select(func.count(Category.id)))
    headers = api_token("13900000002")
    assert client.get(f"/api/v1/communities/{community_id}/merit/rules", headers=headers).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(Category.id))) == before
        category_id = ledger.categories_of(community_id)[0].id
    made = client.post(f"/api/v1/communities/{community_id}/merit/rules", headers=headers, json={
        "kind": "award", "category_id": category_id, "name": "拾金不昧", "points_min": 5, "points_max": 10})
    assert made.status_code == 201, made.json
    auth.login("13900000002")
    form = client.post(f"/c/{community_id}/merit/manage/rules/new", data={
        "kind": "award", "category_id": str(category_id), "name": "扶老人过马路", "points_min": "2",
        "points_max": "3", "cap_period": "none", "active": "y"})
    assert form.status_code == 302


def test_street_administrator_page_appoints_removes_and_sets_ceilings(app, client, auth, world):
    """Through /areas: the site admin names a street administrator, who appoints and removes a committee
    member and sets a ceiling; a committee member gets 403 on the page."""
    with app.app_context():
        factories.make_user(name="街道主任", phone="13900000009")
        newbie = factories.make_user(name="新委员", phone="13900000010")
        db.session.commit()
        street_id, newbie_id = db.session.get(type(world.a), world.a.id).street_id, newbie.id
    auth.login(world.committee.phone)
    assert client.get("/areas").status_code == 403
    auth.logout()
    auth.login(world.admin.phone)
    assert client.post("/areas", data={"a-phone": "13900000009", "a-area": f"street:{street_id}"}).status_code == 302
    auth.logout()
    auth.login("13900000009")
    assert client.post("/areas", data={"community_id": str(world.a.id), "m-phone": "13900000010"}).status_code == 302
    assert client.post("/areas", data={"c-area": f"street:{street_id}", "c-setting": "patrols:report_points",
                                       "c-maximum": "6"}).status_code == 302
    with app.app_context():
        assert rules.ceiling_for(world.a.id, "patrols", "report_points") == 6
        assert newbie_id in {u.id for u in communities.committee_of(world.a.id)}
    assert client.post("/areas", data={"community_id": str(world.a.id), "remove_user_id": str(newbie_id)}
                       ).status_code == 302
    with app.app_context():
        assert newbie_id not in {u.id for u in communities.committee_of(world.a.id)}
