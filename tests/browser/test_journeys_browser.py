"""One journey per role, in a real headless Chromium at 360×740 in Chinese, pressing the real buttons
(issue 15). Each journey checks what the person sees; the `phones` fixture saves a screenshot of every
open phone into test-artifacts/ when a journey fails. What other people do in a journey is set up
through the services, so each journey presses only its own person's buttons."""
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from civic.accounts.models import User
from civic.communities import service as communities
from civic.core.clock import utcnow
from civic.deliberation import service as deliberation
from civic.extensions import db
from civic.ledger import service as ledger
from civic.merit import service as merit
from civic.merit.models import Claim
from civic.patrols import shifts as patrol_shifts
from civic.patrols import tracking
from civic.shop import service as shop
from civic.worker import run_job
from tests import factories
from tests.browser.steps import claim_with_photo, sign_up
from tests.patrols.helpers import BASE, gps_walk, walk

pytestmark = pytest.mark.browser


def _fits(page):
    """Nothing is wider than the phone."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def _setup(app, build):
    """Run `build(merge)` in its own app context and commit; `merge` attaches a detached world object."""
    with app.app_context():
        result = build(db.session.merge)
        db.session.commit()
        db.session.remove()
    return result


def _rule(committee, community_id, name, low, high=None, **extra):
    cats = {c.code: c.id for c in merit.categories(community_id)}
    data = {"category_id": cats["labour"], "kind": "award", "description": "", "cap_period": "none",
            "evidence_required": False, "active": True, "name": name, "points_min": low, "points_max": high}
    data.update(extra)
    rule_id = merit.create_rule(committee, community_id, data).id
    _second_member_confirms(committee, community_id)
    return rule_id


def _second_member_confirms(committee, community_id):
    """Another committee member of the community confirms the waiting rule changes (four eyes)."""
    from civic.communities.models import MemberRole

    other = db.session.scalar(select(User).join(MemberRole, MemberRole.user_id == User.id).where(
        MemberRole.community_id == community_id, MemberRole.role == "committee", User.id != committee.id).limit(1))
    factories.confirm_rule_changes(community_id, other)


def _shop_with(merge, world, *goods):
    """Community A's shop run by its shopkeeper, with goods [(name, price)]; returns (shop_id, {name: id})."""
    committee, keeper = merge(world.committee), merge(world.shopkeeper)
    s = shop.create_shop(committee, world.a.id, "村口小超市", "芙蓉街 1 号")
    shop.assign_keeper(committee, world.a.id, s.id, keeper.id)
    items = {name: shop.add_item(keeper, world.a.id, s.id, name=name, description="", price=price, stock=5,
                                 monthly_limit=None, low_stock_at=1).id for name, price in goods}
    ledger.hold_account(world.a.id)
    return s.id, items


# --- resident ---------------------------------------------------------------------------------------

def test_resident_signs_up_joins_claims_sees_the_notice_orders_and_cancels(app, phones, world):
    """A new resident signs up, asks to join, claims 清扫街道 with a photo, finds the approved claim on the
    notice board, cannot tap to buy what costs more than they have (the shortfall is shown), orders what
    they can afford, and cancels it: the points come back. No developer link on 我的."""
    a = world.a.id
    rule_id = _setup(app, lambda merge: _rule(merge(world.committee), a, "清扫街道", 2, 10))
    _setup(app, lambda merge: _shop_with(merge, world, ("洗衣粉", 30), ("电饭锅", 100)))
    page = phones.new()

    sign_up(page, "13912345678", "赵大爷", "my-secret-pw")

    expect(page).to_have_url(re.compile("/communities$"))  # straight to the list of communities
    page.locator(".list-item", has_text=world.a.name).get_by_role("link", name="申请加入").click()
    page.get_by_label("您在本社区的住址").fill("3号楼2单元")
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator(".flash-success")).to_contain_text("村（居）委会")
    _fits(page)

    def confirm(merge):
        person = db.session.scalar(select(User).where(User.phone == "13912345678"))
        pending = communities.pending_requests(merge(world.committee), a)
        communities.review_membership(merge(world.committee), a, pending[0].id, True)
        return person.id
    me = _setup(app, confirm)

    page.goto("/")
    claim_with_photo(page, "清扫街道", "清扫了三号楼前的路面")

    def approve(merge):
        claim = db.session.scalar(select(Claim).where(Claim.rule_id == rule_id))
        merit.approve_claim(merge(world.committee), a, claim.id, 8)
        ledger.award(a, me, 40, idempotency_key="test:journey:seed", category="labour", memo="打扫楼道")
    _setup(app, approve)

    page.goto(f"/c/{a}/merit/notice")
    notice = page.locator(".merit-notice", has_text="清扫街道")
    expect(notice).to_contain_text("赵大爷")
    expect(notice).to_contain_text("+8")

    page.goto("/shop")
    page.get_by_test_id("item").filter(has_text="电饭锅").click()
    expect(page.get_by_test_id("shortfall")).to_have_text("您的积分还差 60 分。")
    expect(page.get_by_test_id("order")).to_be_disabled()
    page.goto("/shop")
    page.get_by_test_id("item").filter(has_text="洗衣粉").click()
    expect(page.get_by_test_id("shortfall")).to_have_count(0)
    page.get_by_test_id("order").click()
    expect(page.get_by_test_id("status")).to_have_text("待领取")
    page.get_by_role("button", name="取消兑换").click()  # the confirm dialog is accepted
    expect(page.get_by_test_id("status")).to_have_text("已取消")
    page.goto("/shop")
    expect(page.get_by_test_id("balance")).to_have_text("40")
    _fits(page)

    page.locator("[data-nav=me]").click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    expect(page.get_by_role("link", name="接口文档")).to_have_count(0)


# --- committee --------------------------------------------------------------------------------------

def test_committee_confirms_approves_twice_dismisses_reviews_a_topic_and_runs_the_vote(app, phones, sign_in, world):
    """Two committee members confirm a join request, approve a big claim and approve it a second time,
    dismiss an objection, put a topic on a meeting's agenda as a major matter, open the vote, and close
    it after a checked-in resident has tapped 赞成 on her phone: the residents' veto evaluation opens."""
    a = world.a.id
    now = utcnow()

    def build(merge):
        committee, resident = merge(world.committee), merge(world.resident)
        communities.request_to_join(merge(world.outsider), a, address="6号楼")
        big = _rule(committee, a, "见义勇为", 30, 50)
        claim = merit.submit_claim(resident, a, big, description="帮邻居抓住了小偷")
        small = merit.submit_claim(resident, a, _rule(committee, a, "扶老助残", 5), description="陪孙奶奶看病")
        merit.approve_claim(committee, a, small.id)
        merit.object_to_claim(merge(world.resident2), a, small.id, "那天孙奶奶自己去的医院")
        meeting = deliberation.create_meeting(
            committee, a, title="六月民主议事会", kind="council", place="活动室",
            starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=2), quorum_percent=0)
        topic = deliberation.propose_topic(merge(world.committee2), a, "楼道加装扶手", "老人上楼不方便")
        deliberation.check_in_by_name(committee, a, meeting.id, resident.id)
        return claim.id, meeting.id, topic.id
    claim_id, meeting_id, topic_id = _setup(app, build)

    first = sign_in(phones.new(), world.committee)
    first.get_by_role("link", name="居民和入户申请").first.click()
    request = first.locator(".list-item", has_text="6号楼")
    request.get_by_role("button", name="确认").click()
    expect(first.get_by_text("没有待处理的申请。")).to_be_visible()
    _fits(first)

    first.goto(f"/c/{a}/merit/review")
    card = first.locator(f".merit-review[data-claim='{claim_id}']")
    card.get_by_label(re.compile("积分（30 到 50）")).fill("40")
    card.locator("[data-action=approve]").click()
    expect(first.locator(".flash-success")).to_contain_text("还需要另一位委员审核")

    second = sign_in(phones.new(), world.committee2)
    second.goto(f"/c/{a}/merit/review")
    second.locator(f".merit-review[data-claim='{claim_id}']").get_by_role("button", name="第二人审核通过").click()
    expect(second.locator(".flash-success")).to_contain_text("公示")
    objection = second.locator(".merit-objection", has_text="孙奶奶自己去的医院")
    objection.get_by_label("处理理由（会公开）").fill("有医院的陪护记录")
    objection.locator("[data-action=dismiss]").click()
    expect(second.get_by_text("异议不成立。")).to_be_visible()
    _fits(second)

    first.goto(f"/c/{a}/deliberation/topics/{topic_id}")
    first.get_by_label("会议").select_option(value=str(meeting_id))
    first.get_by_label("重大事项（居民可一票否决）").check()
    first.get_by_test_id("to-agenda").click()
    expect(first.locator(".flash-success")).to_have_text(re.compile("议题已列入议程"))

    first.goto(f"/c/{a}/deliberation/meetings/{meeting_id}")
    agenda_item = first.locator(".delib-item", has_text="楼道加装扶手")
    agenda_item.get_by_role("button", name="开始表决").click()
    expect(first.locator(".flash-success")).to_have_text(re.compile("表决已开始"))

    resident = sign_in(phones.new(), world.resident)
    resident.goto(f"/c/{a}/deliberation/meetings/{meeting_id}")
    resident.locator(".delib-item", has_text="楼道加装扶手").get_by_role("button", name="赞成").click()
    expect(resident.get_by_text("您投的是：赞成")).to_be_visible()
    _fits(resident)

    first.reload()
    first.locator(".delib-item", has_text="楼道加装扶手").get_by_role("button", name="结束表决").click()
    expect(first.locator(".flash-success")).to_have_text(re.compile("表决结束：居民评议中"))
    expect(first.locator(".delib-item", has_text="楼道加装扶手")).to_contain_text("赞成 1 票")

    resident.reload()
    resident.locator(".delib-item", has_text="楼道加装扶手").get_by_role("link").first.click()
    expect(resident.get_by_test_id("item-status")).to_have_text("居民评议中")
    expect(resident.get_by_role("button", name="我反对")).to_be_visible()
    with app.app_context():
        assert db.session.get(Claim, claim_id).status == "notice"


# --- coordinator ------------------------------------------------------------------------------------

def test_coordinator_schedules_a_shift_and_approves_a_patrol(app, phones, sign_in, world):
    """The coordinator schedules a shift through the form, opens a finished patrol from the review list,
    taps 通过 and sees the points; the volunteer then sees them in the passbook (after the notice job,
    run with a later clock, in case the points wait for a notice period)."""
    a = world.a.id
    start = utcnow() - timedelta(minutes=40)

    def build(merge):
        volunteer = merge(world.resident)
        patrol = tracking.start_patrol(volunteer, a, now=start)
        fixes = walk(tracking.unix(start) + 1, seconds=1200, dt=4.0)
        tracking.add_points(volunteer, a, patrol.id, fixes, now=start + timedelta(minutes=21))
        tracking.end_patrol(volunteer, a, patrol.id, now=start + timedelta(minutes=22))
        return patrol.id
    patrol_id = _setup(app, build)

    page = sign_in(phones.new(), world.coordinator)
    page.goto(f"/c/{a}/patrols")
    page.get_by_role("link", name="新班次").click()
    page.get_by_label("标题").fill("晚间巡逻")
    page.get_by_label("日期（每周的填第一天）").fill((date.today() + timedelta(days=3)).isoformat())
    page.get_by_label("开始时间").fill("19:00")
    page.get_by_label("结束时间").fill("21:00")
    page.get_by_role("button", name="安排").click()
    expect(page.locator(".flash-success")).to_have_text("班次已安排。")
    expect(page.get_by_role("link", name=re.compile("晚间巡逻.*19:00–21:00"))).to_be_visible()
    _fits(page)

    page.goto(f"/c/{a}/patrols/review")
    page.locator(f"a[href$='/patrols/{patrol_id}']").first.click()
    page.get_by_test_id("approve").click()
    added = page.locator(".flash-success")
    expect(added).to_have_text(re.compile(r"已通过：加 \d+ 分，先进入公示。"))
    points = int(re.search(r"加 (\d+) 分", added.inner_text()).group(1))
    assert points > 0
    _fits(page)

    run_job(app, "merit_close_notices", now=utcnow() + timedelta(days=30))
    volunteer = sign_in(phones.new(), world.resident)
    volunteer.goto(f"/c/{a}/merit/")
    expect(volunteer.get_by_test_id("balance")).to_have_text(str(points))


# --- volunteer --------------------------------------------------------------------------------------

def test_volunteer_signs_up_and_patrols_with_gps_part_of_it_offline(app, phones, sign_in, world):
    """A volunteer signs up for a shift, starts it, walks with the phone's (emulated) GPS, loses the
    network for part of the walk, ends the patrol and sees it waiting for review with every point kept."""
    a = world.a.id

    def build(merge):
        shift = patrol_shifts.create_shift(merge(world.coordinator), a, title="今晚巡逻",
                                           starts_at=utcnow() + timedelta(minutes=2),
                                           ends_at=utcnow() + timedelta(hours=2), capacity=5)
        return shift.id
    shift_id = _setup(app, build)

    page = phones.new(permissions=["geolocation"], geolocation={"latitude": BASE[0], "longitude": BASE[1],
                                                               "accuracy": 5})
    sign_in(page, world.resident)
    page.goto(f"/c/{a}/patrols/shifts/{shift_id}")
    page.get_by_role("button", name="报名").click()
    expect(page.locator(".flash-success")).to_be_visible()
    page.goto(f"/c/{a}/patrols/track")
    page.get_by_test_id("start-shift").click()
    expect(page.locator("#patrol-live")).to_be_visible()
    steps = 14
    gps_walk(page, steps, offline=(5, 10))
    _fits(page)
    page.get_by_test_id("end-patrol").click()
    expect(page.get_by_test_id("patrol-status")).to_have_text("等待审核")
    with app.app_context():
        from civic.patrols.models import Patrol
        patrol = db.session.scalar(select(Patrol).where(Patrol.user_id == world.resident.id))
        assert patrol.shift_id == shift_id and patrol.point_count == steps


# --- shopkeeper -------------------------------------------------------------------------------------

def test_shopkeeper_redeems_a_voucher_and_refuses_it_the_second_time(app, phones, sign_in, world):
    """At the counter the shopkeeper types a voucher's code, sees who and what, hands the goods over; the
    same code again, and a cancelled voucher, show an unmistakable "do not hand over" state with no button."""
    a = world.a.id

    def build(merge):
        shop_id, items = _shop_with(merge, world, ("洗衣粉", 30))
        resident = merge(world.resident)
        ledger.award(a, resident.id, 100, idempotency_key="test:journey:keeper", category="labour", memo="打扫楼道")
        used = shop.place_order(resident, a, items["洗衣粉"])
        cancelled = shop.place_order(resident, a, items["洗衣粉"])
        shop.cancel_order(resident, a, cancelled.id)
        return shop_id, used.code, cancelled.code
    shop_id, code, cancelled_code = _setup(app, build)

    page = sign_in(phones.new(), world.shopkeeper)
    page.goto(f"/c/{a}/shop/shops/{shop_id}/counter")
    page.get_by_label("券码").fill(code.lower())
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("found")).to_contain_text("刘阿姨")
    expect(page.get_by_test_id("refused")).to_have_count(0)
    page.get_by_test_id("confirm").click()
    expect(page.locator(".flash-success")).to_contain_text("刘阿姨")

    page.get_by_label("券码").fill(code)
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("refused")).to_have_text("已使用，请勿发货")
    expect(page.get_by_test_id("confirm")).to_have_count(0)
    _fits(page)

    page.get_by_role("link", name="核对下一张").click()
    page.get_by_label("券码").fill(cancelled_code)
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("refused")).to_have_text("已取消，请勿发货")
    expect(page.get_by_test_id("confirm")).to_have_count(0)
