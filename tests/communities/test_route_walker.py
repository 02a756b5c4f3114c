"""The tenancy route-walker (issue 10, item 9): one object of every kind in community A, every route of the
app walked with real ids. Each route first answers its normal status to A's own committee member (so the
object exists and the route works: a later 403/404 is a refusal, not a missing row), and only then is it
walked as B's committee and B's resident, who must get 403 or 404 and change nothing in A.

The routes are read from the URL map: a new route fails this test until it is classified below (with a
`community_id`, its ids filled from the objects; without one, in PERSONAL_ROUTES or NOT_COMMUNITY_DATA).
"""
import io
import re
import time as clock
from datetime import timedelta
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from civic.accounts.models import User
from civic.communities.models import Grid, Household, MemberRole, Membership
from civic.core.clock import local_date, utcnow
from civic.core.uploads import save_photo
from civic.deliberation import service as delib
from civic.extensions import db
from civic.grid.disputes import open_dispute
from civic.grid.models import GridRole
from civic.ledger import service as ledger
from civic.ledger.digest import publish_digests
from civic.merit import service as merit
from civic.patrols import service as patrols
from civic.rules import service as rules
from civic.shop import service as shop
from tests.merit.conftest import make_rules
from tests.patrols.helpers import walk

# Routes a community is chosen for in the URL but anyone signed in may use (asking to join, switching).
OPEN_TO_ALL = {"communities.join", "api_communities.Join", "home.switch_community"}
# Routes without community_id that reach one community's objects: walked below with the owner's session.
PERSONAL_ROUTES = {"shop.item", "shop.order", "shop.voucher", "shop.voucher_qr", "shop.cancel", "uploads.photo",
                   "deliberation.checkin", "deliberation.checkin_post", "api_deliberation.Checkin",
                   "deliberation.my_card"}
# Routes without community_id that show only the signed-in person's own data, or none: nothing of A to reach.
NOT_COMMUNITY_DATA = {
    "static", "home.index", "home.manifest", "home.offline", "home.service_worker", "home.section", "home.me",
    "accounts.act_for", "accounts.stop_acting", "accounts.login", "accounts.login_code", "accounts.send_sign_in_code",
    "accounts.logout", "accounts.signup", "accounts.password", "accounts.reset_password", "accounts.send_reset_code",
    "accounts.email", "accounts.remove_email", "accounts.verify_email", "accounts.preferences", "accounts.language",
    "accounts.elder_mode", "accounts.sent_messages", "admin.index", "rules.areas", "api_rules.Ceilings",
    "api_docs.docs", "api-docs.openapi_json", "api_auth.Token", "api_auth.Me", "api_auth.MyEmail",
    "api_auth.MyEmailVerify", "api_communities.Communities", "api_notifications.Inbox", "api_notifications.Read",
    "api_privacy.CloseAccount", "api_privacy.MyData", "communities.browse", "deliberation.index", "patrols.index",
    "ledger.passbook", "ledger.badges_view", "ledger.household_view", "ledger.leaderboard_view",
    "ledger.passbook_csv", "ledger.passbook_print", "shop.index", "shop.orders", "notifications.inbox",
    "notifications.open_one", "notifications.read_all", "privacy.my_privacy", "privacy.download",
    "privacy.download_zip", "operations.healthz", "operations.prometheus_metrics",
}
# Street- and district-level routes of grid governance (a street's cases, departments, command view and
# summaries): no community in the URL, and their visibility is by area, not community. tests/grid walks them:
# a department sees only the cases sent to it, another street's administrator and a community's people
# see nothing (test_grid.py, test_grid_pages.py).
AREA_ROUTES = {"grid.cases", "grid.case", "grid.departments", "grid.command_view", "grid.summary_list",
               "grid.summary", "api_grid.Cases", "api_grid.AcceptCase"}
# Who normally uses a route, when not A's committee member: the owner of an order (A's resident), or the
# administrator (the street's, or the site's) who appoints A's committee.
NORMAL_USER = {"api_shop.OneOrder": "resident", "api_shop.CancelOrder": "resident", "admin.appoint": "admin",
               "patrols.end": "resident", "api_patrols.PatrolEnd": "resident", "api_patrols.PatrolPoints": "resident",
               "grid.command_community": "admin"}
# What A's committee member (who also coordinates and keeps A's shop) normally gets from a GET, when not 200.
GET_NOT_200 = {"merit.index": (200, 302)}


def _jpeg():
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 40)).save(out, "JPEG")
    return FileStorage(io.BytesIO(out.getvalue()), filename="p.jpg")


def _objects_of_every_kind(world):
    """Claims, objections, rules, orders, items, shops, routes, shifts, patrols, reports, topics, meetings,
    agenda items, rule changes, join requests, households, uploads … in community A (committed)."""
    a = world.a.id
    committee, committee2 = db.session.get(User, world.committee.id), db.session.get(User, world.committee2.id)
    resident, resident2 = db.session.get(User, world.resident.id), db.session.get(User, world.resident2.id)
    for role in ("coordinator", "shopkeeper"):  # A's committee member walks every staff page of A
        db.session.add(MemberRole(community_id=a, user_id=committee.id, role=role))
    db.session.flush()
    o = SimpleNamespace()
    catalogue = make_rules(a, committee, committee2)
    o.rule_id = catalogue.fixed
    claim = merit.submit_claim(resident, a, catalogue.fixed, description="扶老人过马路")
    merit.approve_claim(committee, a, claim.id)
    o.objection_id = merit.object_to_claim(resident2, a, claim.id, "没看见他扶").id
    o.claim_id = merit.submit_claim(resident, a, catalogue.range, description="清扫街道").id
    ledger.award(a, resident.id, 500, idempotency_key="walker:award")
    o.shop_id = shop.create_shop(committee, a, "村口小卖部").id
    photo = save_photo(_jpeg(), uploader=committee, community_id=a)
    o.shop_item_id = shop.add_item(committee, a, o.shop_id, stock=20, name="香皂", price=5, photo=photo).id
    order = shop.place_order(resident, a, o.shop_item_id, 1)
    o.order_id, o.voucher = order.id, shop.voucher_token(order)
    o.route_id = patrols.create_route(committee, a, name="芙蓉街环线",
                                      waypoints=[[36.67, 117.02], [36.671, 117.021]]).id
    start = utcnow() + timedelta(hours=2)
    o.shift_id = patrols.create_shift(committee, a, title="夜巡", starts_at=start, ends_at=start + timedelta(hours=2),
                                      capacity=5, route_id=o.route_id).id
    patrols.sign_up(resident, a, o.shift_id)
    patrol = patrols.start_patrol(resident, a)
    patrols.add_points(resident, a, patrol.id, walk(clock.time() - 5, seconds=4))
    patrols.end_patrol(resident, a, patrol.id)
    o.patrol_id = patrol.id
    category = patrols.report_categories(a)[0]
    report_photo = save_photo(_jpeg(), uploader=resident, community_id=a)
    o.report_id = patrols.submit_report(resident, a, category_id=category.id, description="井盖坏了",
                                        photo=report_photo).id
    o.category_id = category.id
    o.upload = report_photo
    o.topic_id = delib.propose_topic(resident, a, "垃圾点太远", "老人走不动").id
    meeting = delib.create_meeting(committee, a, title="十二月议事会", kind="council", place="活动室",
                                   starts_at=utcnow() - timedelta(minutes=5), ends_at=utcnow() + timedelta(hours=2),
                                   quorum_count=0, quorum_percent=0)
    o.meeting_id = meeting.id
    o.agenda_item_id = delib.add_agenda_item(committee, a, meeting.id, "垃圾点搬迁").id
    o.checkin = delib.checkin_token(meeting)[0]
    closed = delib.create_meeting(committee, a, title="十一月议事会", kind="council", place="活动室",
                                  starts_at=utcnow() - timedelta(hours=3), ends_at=utcnow() - timedelta(hours=1),
                                  quorum_count=0, quorum_percent=0)
    delib.close_meeting(committee, a, closed.id)
    o.closed_meeting_id = closed.id  # its results are published (the notice page)
    o.card = delib.person_token(resident)
    o.change_id = rules.propose_change(committee, a, "patrols", "report_points", 7).id
    o.membership_id = __import__("civic.communities.service", fromlist=["x"]).request_to_join(
        db.session.get(User, world.outsider.id), a, address="9号楼").id
    grid_id = db.session.scalar(select(Grid.id).where(Grid.community_id == a).order_by(Grid.id))
    home = Household(community_id=a, grid_id=grid_id, label="3号楼302")
    db.session.add(home)
    db.session.add(GridRole(community_id=a, grid_id=grid_id, user_id=committee.id, role="grid_worker"))
    db.session.flush()
    o.dispute_id = open_dispute(committee, a, title="楼上漏水", parties="3号楼302 与 402",
                                mediator_id=committee.id).id
    db.session.execute(Membership.__table__.update()
                       .where(Membership.community_id == a, Membership.user_id == resident.id)
                       .values(household_id=home.id))
    o.household_id = home.id
    o.user_id = resident.id
    o.b_shop_id = shop.create_shop(db.session.get(User, world.b_committee.id), world.b.id, "曲水亭小店").id
    publish_digests(now=utcnow() + timedelta(days=2), community_ids=[a])  # today's ledger digest, as if tomorrow
    o.day = local_date(utcnow()).isoformat()
    db.session.commit()
    return o


def _ids(o, rule):
    """The value for each URL argument of `rule`: A's own objects."""
    deliberation = "deliberation" in rule.rule
    return {"claim_id": o.claim_id, "objection_id": o.objection_id, "rule_id": o.rule_id, "shop_id": o.shop_id,
            "item_id": o.agenda_item_id if deliberation else o.shop_item_id, "order_id": o.order_id,
            "route_id": o.route_id, "shift_id": o.shift_id, "patrol_id": o.patrol_id, "report_id": o.report_id,
            "topic_id": o.topic_id,
            "meeting_id": o.closed_meeting_id if rule.endpoint == "deliberation.notice" else o.meeting_id,
            "change_id": o.change_id,
            "membership_id": o.membership_id, "household_id": o.household_id, "user_id": o.user_id,
            "category_id": o.category_id, "action": "accept", "name": o.upload, "dispute_id": o.dispute_id,
            "day": o.day}


def _url(rule, community_id, ids):
    missing = rule.arguments - set(ids) - {"community_id"}
    assert not missing, f"{rule.rule}: no object of A for {missing}: add one to _objects_of_every_kind"
    url = rule.rule
    for name in rule.arguments:
        value = community_id if name == "community_id" else ids[name]
        url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
    return url


def _community_rules(app):
    for rule in app.url_map.iter_rules():
        if "community_id" in rule.arguments and rule.endpoint not in OPEN_TO_ALL:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _call(client, method, url, headers):
    """Pages with the signed-in session; the API with the bearer token alone (no cookies: Flask-Login prefers
    a session to a token, so a client holding both would not be the person the token names)."""
    if url.startswith("/api/"):
        return client.application.test_client().open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={})


def _a_rows(app, community_id):
    """Every row of every community-owned table of A (to prove the walk as B changed nothing)."""
    from civic.privacy.service import community_tables

    with app.app_context():
        seen = {t.name: db.session.execute(select(func.count()).select_from(t).where(t.c.community_id == community_id)
                                           ).scalar() for t in community_tables()}
        seen["roles"] = sorted(db.session.execute(select(MemberRole.user_id, MemberRole.role).where(
            MemberRole.community_id == community_id)).all())
        db.session.remove()
    return seen


@pytest.fixture
def a_world(app, world):
    with app.app_context():
        objects = _objects_of_every_kind(world)
        db.session.remove()
    return objects


def test_every_route_is_closed_to_another_community(app, client, auth, api_token, world, a_world):
    """Every route with a community_id answers A's committee normally with A's real ids (GET 200; a write with
    an empty body is taken up by the handler: not 403/404/5xx), then answers B's committee and B's resident
    403 or 404, both at A's URL and at their own community's URL carrying A's ids; nothing in A changes."""
    o = a_world
    rules_walked = list(_community_rules(app))
    assert len(rules_walked) >= 120
    # 1. A's own people: every GET is a 200 (the objects exist), then every write reaches its handler.
    for who in ("committee", "resident", "admin"):
        person = getattr(world, who)
        auth.login(phone=person.phone)
        token = api_token(person.phone)
        for phase in ("GET", "write"):
            for rule, method in rules_walked:
                if (method == "GET") != (phase == "GET") or NORMAL_USER.get(rule.endpoint, "committee") != who:
                    continue
                url = _url(rule, world.a.id, _ids(o, rule))
                answer = _call(client, method, url, token)
                if method == "GET":
                    assert answer.status_code in GET_NOT_200.get(rule.endpoint, (200,)), \
                        f"A's {person.display_name}: {method} {url} answered {answer.status_code}"
                else:
                    assert answer.status_code not in (403, 404, 405) and answer.status_code < 500, \
                        f"A's {person.display_name}: {method} {url} answered {answer.status_code} " \
                        f"{re.findall(chr(60) + 'p[^>]*>([^<]+)', answer.get_data(as_text=True))}"
        auth.logout()
    before = _a_rows(app, world.a.id)

    # 2. B's committee and B's resident: A's URL, and their own community's URL with A's ids.
    for outsider in (world.b_committee, world.b_resident):
        auth.login(phone=outsider.phone)
        token = api_token(outsider.phone)
        for rule, method in rules_walked:
            ids = _ids(o, rule)
            for community_id in (world.a.id, world.b.id):
                carries_ids = set(rule.arguments) - {"community_id"}
                if community_id == world.b.id and not carries_ids - {"action"}:
                    continue  # B's own page without A's ids: B's business
                url = _url(rule, community_id, ids)
                answer = _call(client, method, url, token)
                # At B's URL a write with an empty body may be refused as invalid before any lookup (a page
                # answers that with a redirect and a message); that it changed nothing in A is checked below.
                allowed = ((403, 404) if community_id == world.a.id or method == "GET"
                           else (302, 400, 403, 404, 409, 422))
                assert answer.status_code in allowed, f"{outsider.display_name}: {method} {url} answered " \
                                                      f"{answer.status_code}"
        auth.logout()
    assert _a_rows(app, world.a.id) == before


def test_routes_without_a_community_id_are_closed_to_another_community(app, client, auth, api_token, world, a_world):
    """Vouchers, goods, orders, photos, check-in codes and personal cards reach A's objects without A in the
    URL: the owner gets them, B's committee and B's resident get 403/404 (or a refusal that changes nothing)."""
    o = a_world
    unclassified = sorted(r.endpoint for r in app.url_map.iter_rules() if "community_id" not in r.arguments
                          and r.endpoint not in PERSONAL_ROUTES | NOT_COMMUNITY_DATA | AREA_ROUTES)
    assert unclassified == [], "classify these routes in tests/communities/test_route_walker.py"
    personal = [
        ("GET", f"/shop/items/{o.shop_item_id}", None), ("GET", f"/shop/orders/{o.order_id}", None),
        ("GET", f"/shop/orders/{o.order_id}/qr.png", None), ("GET", f"/uploads/{o.upload}", None),
        ("GET", f"/checkin?t={o.checkin}", None),
    ]
    writes = [
        ("POST", f"/shop/items/{o.shop_item_id}/order", {"quantity": "1", "request_key": "walker-order-of-b"}),
        ("POST", f"/shop/orders/{o.order_id}/cancel", {}),
        ("POST", "/checkin", {"t": o.checkin}),
        ("POST", "/api/v1/deliberation/checkin", {"token": o.checkin}),
    ]
    auth.login(phone=world.resident.phone)  # the owner, whose current community is A
    for method, url, _data in personal:
        answer = client.open(url, method=method)
        assert answer.status_code == 200, f"A's resident: {method} {url} answered {answer.status_code}"
    auth.logout()
    before = _a_rows(app, world.a.id)
    for outsider in (world.b_committee, world.b_resident):
        auth.login(phone=outsider.phone)
        headers = api_token(outsider.phone)
        for method, url, data in personal + writes:
            if url.startswith("/api/"):
                answer = app.test_client().open(url, method=method, json=data, headers=headers)
            else:
                answer = client.open(url, method=method, data=data)
            assert answer.status_code in (403, 404), f"{outsider.display_name}: {method} {url} answered " \
                                                     f"{answer.status_code}"
        # A's voucher at B's counter, and A's resident's personal card at B's meeting: refused.
        for step in ("check", "redeem"):
            answer = app.test_client().post(
                f"/api/v1/communities/{world.b.id}/shop/shops/{o.b_shop_id}/vouchers/{step}",
                json={"code": o.voucher}, headers=headers)
            assert answer.status_code in (403, 404, 409, 422), (step, answer.status_code, answer.json)
        auth.logout()
    assert _a_rows(app, world.a.id) == before
