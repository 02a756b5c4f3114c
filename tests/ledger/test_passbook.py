"""The passbook (存折): running balance, months, category filter, keyset pages, CSV, print, households, API."""
import csv
import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from civic.communities.models import Household, Membership
from civic.core.errors import Invalid, NotFound, PermissionDenied
from civic.extensions import db
from civic.ledger import passbook
from civic.ledger import service as ledger
from tests.sql import recorded

T0 = datetime(2026, 10, 20, 2, 0)  # naive UTC


def _award(world, user, amount, n, *, category="labour", memo="", at=T0):
    return ledger.award(world.a.id, user.id, amount, idempotency_key=f"test:{user.id}:{n}", category=category,
                        memo=memo, now=at)


def test_entries_newest_first_with_running_balance_and_china_months(app_ctx, world):
    """Entries come newest first with the balance after each; months follow China time, not UTC."""
    _award(world, world.resident, 10, 1, at=T0)
    _award(world, world.resident, 5, 2, category="moral", at=datetime(2026, 10, 31, 17, 0))  # Nov 1, 01:00 China
    ledger.deduct(world.a.id, world.resident.id, 3, idempotency_key="d1", category="moral",
                  now=datetime(2026, 11, 2, 1, 0))
    ledger.hold(world.a.id, world.resident.id, 4, idempotency_key="h1", now=datetime(2026, 11, 3, 1, 0))
    page = passbook.entries(world.resident, world.a.id, world.resident.id)
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in page["entries"]] == [
        ("hold", -4, 8), ("deduction", -3, 12), ("award", 5, 15), ("award", 10, 10)]
    assert page["next_cursor"] is None
    months = passbook.by_month(page["entries"])
    assert [(key, len(items)) for key, items in months] == [((2026, 11), 3), ((2026, 10), 1)]
    summary = passbook.summary(world.resident, world.a.id, world.resident.id)
    assert summary["balance"] == 8 and summary["lifetime"] == 12  # spending is not merit; deductions are


def test_filter_by_category_and_unknown_category(app_ctx, world):
    """The category filter shows only that category's entries; an unknown category is refused."""
    _award(world, world.resident, 10, 1, category="labour")
    _award(world, world.resident, 7, 2, category="moral")
    page = passbook.entries(world.resident, world.a.id, world.resident.id, category="moral")
    assert [e["amount"] for e in page["entries"]] == [7]
    assert page["entries"][0]["balance_after"] == 17  # the running balance is the account's, not the filter's
    with pytest.raises(Invalid):
        passbook.entries(world.resident, world.a.id, world.resident.id, category="nope")


def test_pages_are_stable_while_new_entries_arrive(app_ctx, world):
    """Following the cursor gives every entry exactly once even when new ones arrive between pages."""
    for n in range(25):
        _award(world, world.resident, n + 1, n, at=T0 + timedelta(minutes=n))
    first = passbook.entries(world.resident, world.a.id, world.resident.id, limit=10)
    for n in range(25, 30):  # new entries between page 1 and page 2
        _award(world, world.resident, 100, n, at=T0 + timedelta(hours=1, minutes=n))
    seen = [e["id"] for e in first["entries"]]
    cursor = first["next_cursor"]
    while cursor:
        page = passbook.entries(world.resident, world.a.id, world.resident.id, before=cursor, limit=10)
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 25
    assert seen == sorted(seen, reverse=True)


def test_pages_use_a_keyset_never_offset(app_ctx, world):
    """A later page is asked for by posting id (keyset), never with OFFSET."""
    for n in range(5):
        _award(world, world.resident, 1, n)
    with recorded() as statements:
        first = passbook.entries(world.resident, world.a.id, world.resident.id, limit=2)
        passbook.entries(world.resident, world.a.id, world.resident.id, before=first["next_cursor"], limit=2)
    posting_reads = [(s, s.params) for s in statements if "FROM ledger_posting" in s]
    assert len(posting_reads) == 2 and "ledger_posting.id <" in posting_reads[1][0]
    for sql, params in posting_reads:  # SQLite spells LIMIT n as LIMIT n OFFSET 0
        assert "OFFSET" not in sql.upper() or list(params)[-1] == 0


def test_only_the_resident_and_the_committee_see_a_passbook(app_ctx, world):
    """A neighbour cannot read my passbook; my committee can; another community's committee cannot."""
    _award(world, world.resident, 10, 1)
    with pytest.raises(PermissionDenied):
        passbook.entries(world.resident2, world.a.id, world.resident.id)
    assert passbook.entries(world.committee, world.a.id, world.resident.id)["entries"]
    with pytest.raises(PermissionDenied):
        passbook.entries(world.b_committee, world.a.id, world.resident.id)
    with pytest.raises(NotFound):  # a person of another community, asked through this one
        passbook.entries(world.committee, world.a.id, world.b_resident.id)


def _household(world, label, *members):
    home = Household(community_id=world.a.id, label=label)
    db.session.add(home)
    db.session.flush()
    for user in members:
        db.session.scalar(select(Membership).where(
            Membership.community_id == world.a.id, Membership.user_id == user.id)).household_id = home.id
    db.session.flush()
    return home


def test_household_sums_its_members(app_ctx, world):
    """A household's total is the sum of its members' balances; lifetime merit is summed too."""
    home = _household(world, "芙蓉街3号", world.resident, world.resident2)
    _award(world, world.resident, 30, 1)
    _award(world, world.resident2, 12, 2)
    _award(world, world.coordinator, 99, 3)  # not in the household
    ledger.hold(world.a.id, world.resident2.id, 2, idempotency_key="h")
    data = passbook.household(world.resident, world.a.id, home.id)
    assert data["balance"] == 40 and data["lifetime"] == 42
    assert sorted(m["balance"] for m in data["members"]) == [10, 30]
    with pytest.raises(NotFound):  # a resident of another household
        passbook.household(world.coordinator, world.a.id, home.id)
    assert passbook.household(world.committee, world.a.id, home.id)["balance"] == 40


def test_household_page(client, auth, app, world):
    """The household page shows the sum; without a household it says to ask the committee."""
    auth.login(phone=world.resident.phone)
    assert "还没有" in client.get("/points/household").get_data(as_text=True)
    with app.app_context():
        _household(world, "三号院", world.resident, world.resident2)
        _award(world, world.resident, 8, 1)
        _award(world, world.resident2, 4, 2)
        db.session.commit()
    page = client.get("/points/household").get_data(as_text=True)
    assert "三号院" in page and 'data-testid="household-balance">12<' in page


def test_passbook_page_shows_balance_stars_and_months(client, auth, app, world):
    """The passbook page shows the balance, the star level and entries under their month."""
    with app.app_context():
        _award(world, world.resident, 25, 1, memo="清扫楼道")
        db.session.commit()
    auth.login(phone=world.resident.phone)
    response = client.get("/points")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="balance">25<' in page and "一星" in page and "清扫楼道" in page
    assert "2026年10月" in page and "+25" in page
    assert client.get("/points?category=nope").status_code == 422
    assert client.get("/points?before=abc").status_code == 422


def test_csv_export(client, auth, app, world):
    """The CSV has a Chinese header, one row per entry newest first, and defuses formula cells."""
    with app.app_context():
        _award(world, world.resident, 10, 1, memo="=HYPERLINK(\"x\")")
        _award(world, world.resident, 5, 2, category="moral", memo="扶老人过马路", at=T0 + timedelta(days=1))
        db.session.commit()
    auth.login(phone=world.resident.phone)
    response = client.get("/points/passbook.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["日期", "项目", "类别", "备注", "积分", "余额"]
    assert rows[1][1:] == ["获得积分", "道德品行", "扶老人过马路", "5", "15"]
    assert rows[1][0] == "2026-10-21 10:00"  # China time
    assert rows[2][3] == "'=HYPERLINK(\"x\")" and rows[2][4:] == ["10", "10"]
    filtered = list(csv.reader(io.StringIO(client.get("/points/passbook.csv?category=moral").get_data(as_text=True))))
    assert len(filtered) == 2


def test_print_view(client, auth, app, world):
    """The printable view lists the chosen year's entries with totals."""
    with app.app_context():
        _award(world, world.resident, 10, 1)
        _award(world, world.resident, 6, 2, at=datetime(2025, 5, 1, 3, 0))
        db.session.commit()
    auth.login(phone=world.resident.phone)
    page = client.get("/points/print?year=2026").get_data(as_text=True)
    assert page.count('data-testid="print-entry"') == 1 and "data-print" in page
    page = client.get("/points/print?year=2025").get_data(as_text=True)
    assert page.count('data-testid="print-entry"') == 1 and "2025年5月" in page
    assert client.get("/points/print?year=1800").status_code == 422


def test_committee_sees_a_residents_passbook_but_not_another_communitys(client, auth, app, world):
    """The committee opens a resident's passbook; a resident of another community is not found through it."""
    with app.app_context():
        _award(world, world.resident, 10, 1)
        db.session.commit()
    auth.login()
    url = f"/c/{world.a.id}/residents/{world.resident.id}/passbook"
    assert 'data-testid="balance">10<' in client.get(url).get_data(as_text=True)
    assert client.get(f"/c/{world.a.id}/residents/{world.b_resident.id}/passbook").status_code == 404
    auth.logout()
    auth.login(phone=world.resident2.phone)
    assert client.get(url).status_code == 403


def test_passbook_without_a_community(client, auth, world):
    """Someone who has not joined a community is invited to join instead of seeing an error."""
    auth.login(phone=world.outsider.phone)
    for url in ("/points", "/points/passbook.csv", "/points/print", "/points/household", "/points/badges",
                "/points/leaderboard"):
        response = client.get(url)
        assert response.status_code == 200 and "加入社区" in response.get_data(as_text=True), url


def test_api_balance_and_cursor_pages(api_token, client, app, world):
    """The API gives balance and level, and passbook pages linked by next_cursor."""
    with app.app_context():
        for n in range(5):
            _award(world, world.resident, 10, n, at=T0 + timedelta(minutes=n))
        db.session.commit()
    headers = api_token(world.resident)
    body = client.get(f"/api/v1/communities/{world.a.id}/points", headers=headers).json
    assert body["balance"] == 50 and body["level"]["stars"] == 1 and body["level"]["name"] == "一星"
    url = f"/api/v1/communities/{world.a.id}/points/passbook"
    page = client.get(url, query_string={"limit": 3}, headers=headers).json
    assert [e["balance_after"] for e in page["entries"]] == [50, 40, 30]
    page2 = client.get(url, query_string={"limit": 3, "cursor": page["next_cursor"]}, headers=headers).json
    assert [e["balance_after"] for e in page2["entries"]] == [20, 10] and page2["next_cursor"] is None
    assert client.get(url, query_string={"limit": 0}, headers=headers).status_code == 422
    # A neighbour may not read it; the committee may; another community's committee gets nothing.
    neighbour = api_token(world.resident2)
    response = client.get(url, query_string={"user_id": world.resident.id}, headers=neighbour)
    assert response.status_code == 403 and response.json["reason"] == "forbidden"
    committee = api_token(world.committee)
    assert client.get(url, query_string={"user_id": world.resident.id}, headers=committee).status_code == 200
    other = api_token(world.b_committee)
    assert client.get(url, query_string={"user_id": world.resident.id}, headers=other).status_code == 403


def test_openapi_lists_the_passbook_endpoints(client):
    """The passbook, balance, leaderboard and badges endpoints are in the OpenAPI document."""
    paths = client.get("/api/openapi.json").json["paths"]
    for path in ("/api/v1/communities/{community_id}/points", "/api/v1/communities/{community_id}/points/passbook",
                 "/api/v1/communities/{community_id}/points/leaderboard",
                 "/api/v1/communities/{community_id}/people/{user_id}/badges"):
        assert path in paths


def test_passbook_and_home_show_points_on_notice_and_held_orders(client, auth, app, world):
    """Issue 15: after a 30-point award is approved the passbook says "30 分公示中，M/D 入账" (not just 0 and no
    entries); an open shop order shows as reserved ("可用 X / 预留 Y", the entry 预留), a collected one as spent;
    the home page shows the balance and the points on their way."""
    from types import SimpleNamespace

    from civic.merit import service as merit
    from civic.shop import service as shop
    from tests.shop.conftest import stock_shop

    with app.app_context():
        w = SimpleNamespace(**vars(world))
        for name in ("committee", "resident", "resident2", "shopkeeper"):
            setattr(w, name, db.session.merge(getattr(world, name)))
        s = stock_shop(w, price=30, points=100)
        held = shop.place_order(w.resident, w.a.id, s.item.id, 1)
        held_id = held.id
        collected = shop.place_order(w.resident, w.a.id, s.item.id, 1)
        shop.redeem_voucher(w.shopkeeper, w.a.id, s.shop.id, collected.code)
        award = merit.put_award_on_notice(w.a.id, w.resident.id, 30, source_kind="patrol", source_id=7,
                                          category="patrol", reason="巡逻 2.00 公里", decided_by=w.committee.id,
                                          now=datetime(2026, 11, 30, 4, 0))
        assert award.notice_ends_at == datetime(2026, 12, 3, 4, 0)
        db.session.commit()
        held_txn = passbook.held_holds(w.a.id, w.resident.id)
        assert list(held_txn.values()) == [30] and len(held_txn) == 1
        glance = passbook.glance(w.resident, w.a.id, w.resident.id)  # the home page's part of the summary
        full = passbook.summary(w.resident, w.a.id, w.resident.id)
        assert glance == {key: full[key] for key in glance} and (glance["balance"], glance["held"]) == (40, 30)
    auth.login(phone=world.resident.phone)
    page = client.get("/points").get_data(as_text=True)
    assert 'data-testid="balance">40<' in page
    assert "可用 40 / 预留 30" in page
    assert "30 分公示中，12/3 入账" in page
    assert page.count('data-held="1"') == 1 and "积分超市订单预留" in page
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-balance">40<' in home and "30 分公示中，12/3 入账" in home and "可用 40 / 预留 30" in home
    with app.app_context():
        shop.cancel_order(db.session.merge(world.resident), world.a.id, held_id)
        db.session.commit()
    page = client.get("/points").get_data(as_text=True)
    assert 'data-testid="balance">70<' in page and "预留 30" not in page and 'data-held="1"' not in page
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-balance">70<' in home and "预留" not in home
