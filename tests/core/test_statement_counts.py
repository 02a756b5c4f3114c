"""Every main page and API call costs the same number of SQL statements at 10 residents and at many more
(issue 11): statements are counted with SQLAlchemy's `before_cursor_execute` event on a small world, then
again after adding many rows of every kind a page lists or counts."""
from contextlib import contextmanager
from datetime import timedelta

import pytest

from civic.core.clock import utcnow
from civic.extensions import db
from tests import factories
from tests.merit.conftest import make_rules
from tests.shop.conftest import stock_shop
from tests.sql import recorded

MAX_PER_PAGE = 20

PAGES = [
    "/",
    "/points",
    "/c/{a}/merit/notice",
    "/c/{a}/merit/review",
    "/shop",
    "/shop/orders",
    "/c/{a}/honour-roll",
    "/c/{a}/patrols",
    "/notifications/",
    "/c/{a}/deliberation",
]

API = [
    "/api/v1/me",
    "/api/v1/communities",
    "/api/v1/notifications",
    "/api/v1/communities/{a}/points",
    "/api/v1/communities/{a}/points/passbook",
    "/api/v1/communities/{a}/points/leaderboard",
    "/api/v1/communities/{a}/merit/notice",
    "/api/v1/communities/{a}/merit/claims",
    "/api/v1/communities/{a}/shop/items",
    "/api/v1/communities/{a}/shop/orders",
    "/api/v1/communities/{a}/patrols",
    "/api/v1/deliberation/communities/{a}/meetings",
    "/api/v1/deliberation/communities/{a}/topics",
]


@contextmanager
def counted(app):
    """Collect the SQL statements the engine runs inside the block."""
    with app.app_context():
        engine = db.engine
    with recorded(engine) as seen:
        yield seen


def measure(app, client, urls, headers=None):
    """Statements per URL (second request, so one-off first-visit work is not counted)."""
    counts = {}
    for url in urls:
        first = client.get(url, headers=headers)
        assert first.status_code == 200, (url, first.status_code)
        with counted(app) as seen:
            assert client.get(url, headers=headers).status_code == 200
        counts[url] = len(seen)
    return counts


def grow(app, world, ids, n, tag):
    """Add `n` rows of every kind the pages show: residents, claims on notice and pending, orders,
    ended patrols, notifications, postings."""
    from civic.ledger import service as ledger
    from civic.merit import service as merit
    from civic.notifications.service import notify
    from civic.patrols.models import Patrol
    from civic.shop import service as shop

    now = utcnow()
    with app.app_context():
        a = db.session.merge(world.a)
        committee, committee2 = db.session.merge(world.committee), db.session.merge(world.committee2)
        resident = db.session.merge(world.resident)
        for i in range(n):
            neighbour = factories.make_member(a)
            ledger.award(a.id, neighbour.id, 5 + i, idempotency_key=f"grow:{tag}:{neighbour.id}", category="labour",
                         memo="打扫楼道", actor=committee)
            ledger.award(a.id, resident.id, 1, idempotency_key=f"grow:{tag}:r:{i}", category="labour", memo="x",
                         actor=committee)
            on_notice = merit.submit_claim(neighbour, a.id, ids.rules.fixed, description=f"扶老 {tag} {i}", now=now)
            merit.approve_claim(committee, a.id, on_notice.id, now=now)
            merit.submit_claim(neighbour, a.id, ids.rules.range, description=f"清扫 {tag} {i}", now=now)
            for buyer in (resident, committee):
                shop.place_order(buyer, a.id, ids.item_id, 1, now=now)
            db.session.add(Patrol(community_id=a.id, user_id=neighbour.id, status="ended",
                                  started_at=now - timedelta(hours=2), ended_at=now - timedelta(hours=1)))
            for user in (committee, resident):
                notify(user, "test", "Points awarded", community_id=a.id, now=now)
        assert committee2 is not None
        db.session.commit()
        db.session.remove()


@pytest.fixture
def ids(app, world):
    """The merit catalogue and a stocked shop with plenty of stock and points, committed."""
    from types import SimpleNamespace

    from civic.ledger import service as ledger

    with app.app_context():
        committee = db.session.merge(world.committee)
        rules = make_rules(world.a.id, committee, db.session.merge(world.committee2))
        w = SimpleNamespace(**{k: db.session.merge(v) for k, v in vars(world).items()})
        s = stock_shop(w, stock=10_000, price=1, points=10_000)
        ledger.award(w.a.id, w.committee.id, 10_000, idempotency_key="test:seed:committee", category="labour",
                     memo="打扫楼道", actor=w.committee)
        result = SimpleNamespace(rules=rules, item_id=s.item.id, shop_id=s.shop.id)
        db.session.commit()
        db.session.remove()
    return result


def _token(client):
    response = client.post("/api/v1/auth/token", json={"phone": factories.DEFAULT_PHONE,
                                                       "password": factories.DEFAULT_PASSWORD})
    assert response.status_code in (200, 201), response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_no_page_or_api_call_grows_with_the_data(app, client, auth, world, ids):
    """Statements per page and API call are the same on a small and a large world, and at most 20."""
    pages = [p.format(a=world.a.id) for p in PAGES]
    api = [p.format(a=world.a.id) for p in API]
    grow(app, world, ids, 2, "small")  # a few rows of each kind, so every list shows something
    auth.login()
    headers = _token(client)
    small = {**measure(app, client, pages), **measure(app, client, api, headers)}
    grow(app, world, ids, 30, "large")
    large = {**measure(app, client, pages), **measure(app, client, api, headers)}
    report = "\n".join(f"{url}: {small[url]} -> {large[url]}" for url in small)
    grown = [url for url in small if large[url] > small[url]]
    assert not grown, "statement counts grow with the data:\n" + report
    heavy = [url for url in large if large[url] > MAX_PER_PAGE]
    assert not heavy, f"more than {MAX_PER_PAGE} statements:\n" + report


def test_the_home_page_is_six_statements(app, client, auth, world, ids):
    """Issue 11 (home >= 0.25 of /healthz): a member's home page with points on their way, open orders and
    unread notices runs six statements: the session, memberships with roles, the community, the points card
    (account with its open holds, points on their way) and the signed-in person's figures (the bell)."""
    grow(app, world, ids, 2, "home")
    auth.login()
    assert measure(app, client, ["/"]) == {"/": 6}


# --- grid governance (civic.grid): who opens which page, and what grows under it --------------------

GRID_PAGES = {
    "worker": ["/c/{a}/grid"],
    "committee": ["/c/{a}/grid/manage", "/c/{a}/grid/disputes"],
    "staff": ["/grid/cases"],
    "street_admin": ["/grid/command", "/grid/cases", "/grid/summaries", "/grid/summaries/{summary}",
                     "/grid/command/c/{a}/overview", "/grid/command/c/{a}/problems", "/grid/command/c/{a}/notices",
                     "/grid/command/c/{a}/patrols", "/grid/command/c/{a}/meetings"],
}


def grow_grid(app, w, n, tag):
    """Add `n` of each thing the grid pages list or count: households with a resident, visits, problems with a
    place escalated and dispatched to a department, disputes, and a week's summary."""
    from civic.accounts.models import User
    from civic.communities.models import Household, Membership
    from civic.grid import disputes, service, summaries
    from civic.patrols import reports as patrols
    from tests.grid.conftest import first_category

    now = utcnow()
    with app.app_context():
        people = {name: db.session.get(User, getattr(w, name).id)
                  for name in ("worker", "leader", "street_admin", "committee", "resident")}
        category = first_category(w.a.id)
        for i in range(n):
            house = Household(community_id=w.a.id, grid_id=w.grid.id, label=f"{tag}{i}号")
            db.session.add(house)
            db.session.flush()
            neighbour = factories.make_member(db.session.merge(w.a))
            db.session.query(Membership).filter_by(community_id=w.a.id, user_id=neighbour.id).update(
                {"household_id": house.id})
            service.record_visit(people["worker"], w.a.id, house.id, notes="一切正常", now=now)
            report = patrols.submit_report(people["resident"], w.a.id, category_id=category.id,
                                           description=f"{tag} {i}", lat=36.66 + i / 1000, lon=117.02, now=now)
            case = service.escalate_report(people["leader"], w.a.id, report.id, now=now)
            service.dispatch_case(people["street_admin"], case.id, w.dept.id, now=now)
            disputes.open_dispute(people["committee"], w.a.id, title=f"邻里纠纷 {tag} {i}", parties="楼上楼下",
                                  mediator_id=people["leader"].id, now=now)
        summaries.make_summaries("week", now=now - timedelta(days=7 * (1 if tag == "small" else 2)))
        db.session.commit()
        db.session.remove()


def test_grid_pages_do_not_grow_with_the_data(app, client, auth):
    """The grid worker's home, the committee's grid pages, the case lists of the street and its department,
    the command view with its drill-down and the summaries cost the same statements with 2 and 30 of each."""
    from civic.grid.models import Summary
    from tests.grid.conftest import make_grid_world

    with app.app_context():
        db.session().expire_on_commit = False
        w = make_grid_world()
        db.session.commit()
        db.session.expunge_all()
        db.session.remove()
    grow_grid(app, w, 2, "small")
    with app.app_context():
        summary = db.session.scalar(db.select(Summary.id).where(Summary.community_id.is_(None)))

    def measure_all():
        counts = {}
        for who, urls in GRID_PAGES.items():
            auth.switch_to(getattr(w, who))
            counts.update({f"{who} {url}": n for url, n in measure(
                app, client, [u.format(a=w.a.id, summary=summary) for u in urls]).items()})
        return counts

    small = measure_all()
    grow_grid(app, w, 30, "large")
    large = measure_all()
    report = "\n".join(f"{url}: {small[url]} -> {large[url]}" for url in small)
    assert not [url for url in small if large[url] > small[url]], "grid pages grow with the data:\n" + report
