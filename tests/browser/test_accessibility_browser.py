"""Every page of the main journeys, measured in Chromium at 360×740 in normal and elder mode: axe-core finds
no violation, no short label is broken inside a word, every tap target is at least 44×44 px and no text is
smaller than 14 px."""
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from tests.browser.audit import axe_violations, layout_problems

pytestmark = pytest.mark.browser

PASSWORD = "civic-demo-1"
RESIDENT, COMMITTEE, COORDINATOR, SHOPKEEPER = "13800000005", "13800000001", "13800000003", "13800000004"


@pytest.fixture
def demo(app):
    """The demo community (`seed-demo`) with a cancelled and an open order for the demo resident."""
    from civic.accounts.models import User
    from civic.deliberation.models import Meeting, Topic
    from civic.demo import seed_demo
    from civic.extensions import db
    from civic.ledger import service as ledger
    from civic.merit.models import MeritRule
    from civic.patrols.models import Shift
    from civic.shop import service as shop
    from civic.shop.models import Item, Shop

    with app.app_context():
        seed_demo()
        resident = db.session.scalar(select(User).where(User.phone == RESIDENT))
        cid = db.session.scalar(select(Shop.community_id))
        ledger.award(cid, resident.id, 200, idempotency_key="test:a11y", category="labour", memo="清扫楼道")
        # The longest names: a chip beside them is squeezed first.
        items = sorted(db.session.scalars(select(Item)).all(), key=lambda i: -len(i.name))
        cancelled = shop.place_order(resident, cid, items[0].id)
        shop.cancel_order(resident, cid, cancelled.id)
        order = shop.place_order(resident, cid, items[1].id)
        d = SimpleNamespace(
            cid=cid, shop=db.session.scalar(select(Shop.id)), item=items[0].id, order=order.id,
            topic=db.session.scalar(select(Topic.id).order_by(Topic.id)),
            meeting=db.session.scalar(select(Meeting.id)),
            rule=db.session.scalar(select(MeritRule.id).where(MeritRule.kind == "award").order_by(MeritRule.id)),
            shift=db.session.scalar(select(Shift.id).order_by(Shift.id)),
        )
        db.session.commit()
    return d


def journeys(d):
    """(who signs in, pages they visit) for the resident, committee, coordinator and shopkeeper."""
    c = f"/c/{d.cid}"
    return [
        (None, ["/", "/login", "/signup", "/login/code", "/password/reset"]),
        (RESIDENT, ["/", "/me", "/points", "/points/badges", "/points/leaderboard", "/points/household",
                    "/shop", f"/shop/items/{d.item}", "/shop/orders", f"/shop/orders/{d.order}",
                    f"{c}/merit/", f"{c}/merit/mine", f"{c}/merit/notice", f"{c}/merit/rules/{d.rule}/claim",
                    f"{c}/patrols", f"{c}/patrols/track", f"{c}/reports/new", f"{c}/patrols/shifts/{d.shift}",
                    f"{c}/deliberation", f"{c}/deliberation/topics/{d.topic}",
                    f"{c}/deliberation/meetings/{d.meeting}", "/deliberation/card", "/notifications/"]),
        (COMMITTEE, ["/", f"{c}/merit/review", f"{c}/merit/notice", f"{c}/members", f"{c}/merit/manage",
                     f"{c}/deliberation/meetings/new", f"{c}/deliberation/topics/{d.topic}"]),
        (COORDINATOR, [f"{c}/patrols", f"{c}/patrols/review", f"{c}/patrols/shifts/new", f"{c}/reports"]),
        (SHOPKEEPER, [f"{c}/shop", f"{c}/shop/shops/{d.shop}/counter"]),
    ]


@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
def test_every_journey_page_passes_axe_and_the_phone_layout(browser, live_server, app, demo, elder, sign_in):
    """axe-core reports no violation and the layout measures clean on each page of each role's journey."""
    from civic.accounts.models import User
    from civic.extensions import db

    with app.app_context():
        db.session.execute(update(User).values(elder_mode=elder))
        db.session.commit()
    failures = []
    for phone, paths in journeys(demo):
        context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server,
                                      locale="zh-CN", is_mobile=True, has_touch=True,
                                      permissions=["geolocation"],
                                      geolocation={"latitude": 36.669, "longitude": 117.021})
        page = context.new_page()
        page.set_default_timeout(15_000)
        if phone:
            sign_in(page, phone, PASSWORD)
        elif elder:
            page.goto("/")
            page.get_by_role("button", name="长辈模式").click()
        for path in paths:
            response = page.goto(path)
            assert response.status == 200, f"{path}: HTTP {response.status}"
            assert ("elder" in (page.get_attribute("html", "class") or "")) == elder, path
            problems = axe_violations(page) + layout_problems(page)
            failures += [f"{phone or 'visitor'} {path}: {p}" for p in problems]
        context.close()
    assert not failures, "\n".join(failures)


def test_the_layout_measure_sees_a_broken_chip_and_a_small_target(browser):
    """The measure itself: a chip squeezed to one character a line, a 30 px button and 12 px text are found."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.set_content('<body><div style="width:20px;font-size:16px"><span>已取消</span></div>'
                     '<button style="width:30px;height:30px">好</button><p style="font-size:12px">小字说明</p></body>')
    problems = layout_problems(page)
    context.close()
    assert any("broken label" in p and "已取消" in p for p in problems)
    assert any("tap target" in p and "30x30" in p for p in problems)
    assert any("text under 14px" in p and "小字说明" in p for p in problems)
