"""Grid governance in a real Chromium at 360×740 (zh-CN): a grid worker's round raises a problem, the grid leader
blows the whistle, the street sends it to 城管, 城管 accepts and fixes it with a photo, and the street office sees
it on the command view on a phone and on a desk PC. Then every grid page passes axe and the phone layout."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from civic.extensions import db
from tests.browser.audit import axe_violations, layout_problems
from tests.browser.steps import photo

pytestmark = pytest.mark.browser


def test_round_whistle_dispatch_fix_and_command_view(phones, sign_in, app, grid_world):
    """The whole 吹哨报到 chain through the real buttons, ending red-free and fixed on the command view."""
    from civic.grid.models import Case, Visit
    from civic.patrols.models import Report

    w = grid_world
    page = phones.new()

    # the grid worker's daily round
    sign_in(page, w.worker)
    page.get_by_test_id("my-grid").click()
    rounds = page.get_by_test_id("rounds-due")
    expect(rounds).to_contain_text("1号楼101")
    expect(rounds).to_contain_text("孙奶奶")
    rounds.get_by_role("link", name="1号楼101").click()
    form = page.get_by_test_id("visit-form")
    form.get_by_label("见到了谁").fill("刘阿姨")
    form.get_by_label("走访情况").fill("楼道堆放纸箱")
    form.locator("input[type=file]").set_input_files(photo())
    form.get_by_label("上报走访中发现的问题").check()
    form.get_by_label("问题类型").select_option(index=1)
    form.get_by_label("是什么问题？").fill("楼道堆放纸箱，堵塞消防通道")
    form.get_by_role("button", name="保存走访").click()
    expect(page.get_by_text("走访已记录，并已上报问题")).to_be_visible()
    expect(page.get_by_test_id("rounds-due")).not_to_contain_text("1号楼101")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    with app.app_context():
        report_id = db.session.scalar(select(Visit.report_id))
        assert report_id

    # the grid leader blows the whistle
    sign_in(page, w.leader)
    page.get_by_test_id("my-grid").click()
    page.get_by_role("button", name="上报街道（吹哨）").click()
    expect(page.get_by_text("已上报街道")).to_be_visible()

    # the street office sends it to 城管
    sign_in(page, w.street_admin)
    page.get_by_test_id("cases-link").click()
    page.get_by_test_id("street-cases").get_by_role("link", name=f"#{report_id}").click()
    page.get_by_label("职能部门").select_option(label="城管")
    page.get_by_role("button", name="派单").click()
    expect(page.get_by_text("已派给职能部门并设定时限")).to_be_visible()

    # 城管 reports for duty and fixes it with a photo
    sign_in(page, w.staff)
    page.get_by_test_id("cases-link").click()
    page.get_by_test_id("department-cases").get_by_role("link", name=f"#{report_id}").click()
    page.get_by_role("button", name="签收案件").click()
    expect(page.get_by_text("已签收，请在时限内办结。")).to_be_visible()
    page.locator("input[type=file]").set_input_files(photo())
    page.get_by_label("处理情况").fill("已清理")
    page.get_by_role("button", name="已解决").click()
    expect(page.get_by_test_id("case-state")).to_contain_text("已办结，待确认")
    expect(page.get_by_test_id("timeline")).to_contain_text("部门已签收")
    with app.app_context():
        case = db.session.scalar(select(Case))
        assert case.accepted_at and case.resolved_at and not case.overdue
        assert db.session.get(Report, report_id).status == "resolved"

    # the street office's command view, on a phone and on a desk PC
    sign_in(page, w.street_admin)
    page.get_by_test_id("command-link").click()
    card = page.get_by_test_id(f"community-{w.a.id}")
    expect(card).to_contain_text(w.a.name)
    expect(card.get_by_test_id("open")).to_have_text("1")
    expect(card.get_by_test_id("overdue")).to_have_text("0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    desk = phones.new(viewport={"width": 1280, "height": 800}, is_mobile=False, has_touch=False)
    sign_in(desk, w.street_admin)
    desk.get_by_test_id("command-link").click()
    a, b = desk.get_by_test_id(f"community-{w.a.id}"), desk.get_by_test_id(f"community-{w.b.id}")
    expect(a).to_be_visible()
    assert a.bounding_box()["y"] == b.bounding_box()["y"]  # side by side on a wide screen
    a.get_by_role("link", name=w.a.name).click()
    expect(desk.get_by_text("楼道堆放纸箱，堵塞消防通道")).to_be_visible()


DEMO_PASSWORD = "civic-demo-1"


@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
def test_grid_pages_pass_axe_and_the_phone_layout(browser, live_server, app, elder):
    """Every grid page of the demo, for the grid worker, the committee, the street office and a department."""
    from civic.accounts.models import User
    from civic.communities.models import Community, Household
    from civic.demo import seed_demo
    from civic.grid import summaries
    from civic.grid.models import Case, Dispute, Summary

    with app.app_context():
        seed_demo()
        summaries.make_summaries("week")
        db.session.execute(update(User).values(elder_mode=elder))
        db.session.commit()
        cid = db.session.scalar(select(Community.id).where(Community.name == "芙蓉社区"))
        house = db.session.scalar(select(Household.id).where(Household.community_id == cid,
                                                             Household.grid_id.is_not(None)))
        case = db.session.scalar(select(Case.id).where(Case.overdue.is_(True)))
        summary = db.session.scalar(select(Summary.id).where(Summary.community_id.is_(None)))
        dispute = db.session.scalar(select(Dispute.id).where(Dispute.status == "agreed"))
        open_dispute = db.session.scalar(select(Dispute.id).where(Dispute.status == "open"))
    c = f"/c/{cid}"
    journeys = [
        ("13800000007", ["/", f"{c}/grid", f"{c}/grid/households/{house}", f"{c}/grid/disputes/{dispute}",
                         f"{c}/grid/disputes/{open_dispute}"]),
        ("13800000001", [f"{c}/grid", f"{c}/grid/manage", f"{c}/grid/disputes"]),
        ("13800000020", ["/", "/grid/command", f"/grid/command/c/{cid}", "/grid/cases", f"/grid/cases/{case}",
                         "/grid/departments", "/grid/summaries", f"/grid/summaries/{summary}"]),
        ("13800000021", ["/grid/cases", f"/grid/cases/{case}"]),
    ]
    failures = []
    for phone, paths in journeys:
        context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server,
                                      locale="zh-CN", is_mobile=True, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/login")
        page.get_by_label("手机号").fill(phone)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        page.wait_for_url(lambda url: "/login" not in url)
        for path in paths:
            response = page.goto(path)
            assert response.status == 200, f"{phone} {path}: HTTP {response.status}"
            failures += [f"{phone} {path}: {p}" for p in axe_violations(page) + layout_problems(page)]
        context.close()
    assert not failures, "\n".join(failures)


def test_committee_presses_the_grid_manage_and_dispute_buttons(phones, sign_in, app, grid_world):
    """The committee gives a grid role, saves a visiting cycle and removes the role; records a dispute naming a
    mediator; the mediator records a session, the agreement and the follow-up visit that closes it."""
    from civic.grid.models import Dispute, GridCycle, GridRole

    w = grid_world
    page = phones.new()
    sign_in(page, w.committee)
    page.goto(f"/c/{w.a.id}/grid/manage")
    roles = page.locator("form").filter(has=page.get_by_role("button", name="设置角色"))
    roles.get_by_label("个人").select_option(label="刘阿姨")
    roles.get_by_label("角色").select_option(label="信息员/楼长")
    roles.get_by_role("button", name="设置角色").click()
    expect(page.get_by_text("已设置角色。")).to_be_visible()
    cycle = page.locator("form").filter(has=page.get_by_role("button", name="保存周期"))
    cycle.get_by_label("每户走访周期（天）").fill("14")
    cycle.get_by_role("button", name="保存周期").click()
    expect(page.get_by_text("走访周期已保存。")).to_be_visible()
    expect(page.get_by_test_id("visit-points")).to_contain_text("0")
    page.locator("li.row").filter(has_text="刘阿姨").get_by_role("button", name="移除").click()
    expect(page.get_by_text("角色已移除。")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    with app.app_context():
        assert db.session.scalar(select(GridCycle.days).where(GridCycle.grid_id == w.grid.id)) == 14
        assert db.session.scalar(select(GridRole.id).where(GridRole.user_id == w.resident.id)) is None

    page.goto(f"/c/{w.a.id}/grid/disputes")
    page.get_by_label("纠纷事由").fill("楼上漏水")
    page.get_by_label("当事人").fill("1号楼101与201")
    page.get_by_label("调解员").select_option(label=w.leader.display_name)
    page.get_by_role("button", name="登记纠纷").click()
    expect(page.get_by_text("纠纷已登记，已通知调解员。")).to_be_visible()
    dispute_url = page.url

    sign_in(page, w.leader)
    page.goto(dispute_url)
    page.get_by_label("到场人员").fill("双方及楼长")
    page.get_by_label("调解内容").fill("201答应修好防水层")
    page.get_by_role("button", name="保存调解记录").click()
    expect(page.get_by_text("调解记录已保存。")).to_be_visible()
    page.get_by_label("调解协议").fill("201一周内修好，101不再追究")
    page.get_by_label("几天后回访").fill("7")
    page.get_by_role("button", name="达成协议", exact=True).click()
    expect(page.get_by_text("调解结果已记录，请按期回访。")).to_be_visible()
    page.get_by_label("回访情况").fill("已修好，双方满意")
    page.get_by_role("button", name="保存并结案").click()
    expect(page.get_by_text("回访已记录，纠纷已结案。")).to_be_visible()
    expect(page.get_by_test_id("dispute-status")).to_have_text("已回访结案")
    with app.app_context():
        dispute = db.session.scalar(select(Dispute))
        assert dispute.status == "closed" and dispute.agreement.startswith("201") and dispute.followed_up_at


def test_street_admin_sees_the_problem_map_and_drills_down(phones, sign_in, app, grid_world):
    """On a phone the command view draws one dot per open problem with a place (red when overdue) without any
    tile server, lists the same problems, and a dot's community opens read-only: its problems, notice board,
    patrols and meetings, with nothing to press."""
    from civic.grid.models import Case
    from tests.grid.conftest import make_report_with_place

    w = grid_world
    late = make_report_with_place(app, w)
    fresh = make_report_with_place(app, w)
    with app.app_context():
        db.session.add(Case(community_id=w.a.id, report_id=late, street_id=w.street_id, overdue=True))
        db.session.commit()
    page = phones.new()
    sign_in(page, w.street_admin)
    page.get_by_test_id("command-link").click()
    expect(page.locator("path.map-mark")).to_have_count(2)
    expect(page.locator("path.map-mark-red")).to_have_count(1)
    expect(page.locator(".leaflet-control-scale")).to_be_visible()
    page.locator("details.problem-map-list summary").click()
    listed = page.get_by_test_id("problem-map-list")
    expect(listed.locator("li").first).to_contain_text(f"#{late}")
    expect(listed.locator("li.case-red")).to_have_count(1)
    expect(listed).to_contain_text(f"#{fresh}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    listed.get_by_role("link").first.click()
    expect(page.get_by_test_id("drill-problems")).to_contain_text(f"#{late}")
    for tab, testid in (("公示栏", "drill-notices"), ("巡逻", "drill-patrols"), ("议事", "drill-meetings")):
        page.get_by_test_id("drill-tabs").get_by_role("link", name=tab).click()
        expect(page.get_by_test_id(testid)).to_be_visible()
        assert page.locator("main section.card form").count() == 0
