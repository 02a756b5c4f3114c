"""The tracking page in a real headless Chromium: emulated GPS walking, an offline spell, nothing lost."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from civic.extensions import db
from civic.patrols.models import Patrol, TrackPoint
from tests.patrols.helpers import BASE, gps_walk, step

pytestmark = pytest.mark.browser


@pytest.fixture
def gps_page(browser, live_server, app):
    """A phone-sized page whose context may use (emulated) geolocation; CSRF on as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    context = browser.new_context(viewport={"width": 360, "height": 780}, base_url=live_server, locale="zh-CN",
                                  is_mobile=True, has_touch=True, permissions=["geolocation"],
                                  geolocation={"latitude": BASE[0], "longitude": BASE[1], "accuracy": 5})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    yield context, page
    context.close()
    app.config["WTF_CSRF_ENABLED"] = False


def test_walk_with_an_offline_spell_loses_no_point(gps_page, sign_in, app, world):
    """A volunteer starts a free patrol, walks 30 GPS steps, loses the network for ten of them,
    gets it back, ends the patrol: the server has every point exactly once."""
    context, page = gps_page
    sign_in(page, world.resident)
    page.locator("[data-nav=patrols]").click()
    page.get_by_test_id("go-patrol").click()
    page.get_by_test_id("start-free").click()
    expect(page.locator("#patrol-live")).to_be_visible()
    steps = 30
    gps_walk(page, steps, offline=(10, 20))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_test_id("end-patrol").click()
    expect(page.get_by_test_id("patrol-status")).to_have_text("等待审核")

    with app.app_context():
        patrol = db.session.scalar(select(Patrol).where(Patrol.user_id == world.resident.id))
        rows = db.session.execute(select(TrackPoint.client_id, TrackPoint.lat, TrackPoint.lon).where(
            TrackPoint.patrol_id == patrol.id).order_by(TrackPoint.t)).all()
        assert patrol.status == "ended" and patrol.point_count == steps
        assert len(rows) == steps and len({r.client_id for r in rows}) == steps
        for i, row in enumerate(rows):
            assert (row.lat, row.lon) == pytest.approx(step(i), abs=1e-7)


def test_live_distance_is_the_saved_distance(gps_page, app, world, sign_in):
    """The live 公里 figure comes from the server's engine: after the last batch it equals the saved figure."""
    context, page = gps_page
    sign_in(page, world.resident)
    page.goto(f"/c/{world.a.id}/patrols/track")
    page.get_by_test_id("start-free").click()
    count = page.get_by_test_id("live-count")
    expect(count).to_have_text("1")
    for i in range(1, 12):
        lat, lon = step(i * 0.3)
        context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5 + i % 3})
        expect(count).to_have_text(str(i + 1))
    expect(page.get_by_test_id("live-pending")).to_have_text("0", timeout=20_000)
    assert page.locator(".leaflet-control-scale").is_visible()  # a scale bar even without tiles
    live = page.get_by_test_id("live-km").inner_text()
    page.get_by_test_id("end-patrol").click()
    expect(page.get_by_test_id("patrol-status")).to_have_text("等待审核")
    assert page.get_by_test_id("patrol-km").inner_text() == live


def test_coordinator_sees_the_route_and_needs_a_reason_for_an_off_route_patrol(browser, live_server, app, world,
                                                                               sign_in):
    """On the review page a coordinator sees the shift's route beside the track, drawn over the community's
    own geography with a scale bar (no tiles), the share of the track on the route, and cannot approve the
    off-route patrol without writing why; with a reason, 通过 approves it."""
    from datetime import datetime, timedelta

    from civic.patrols import routes as patrol_routes
    from civic.patrols import settings as patrol_settings
    from civic.patrols import shifts as patrol_shifts
    from civic.patrols import tracking
    from tests.patrols.helpers import walk

    with app.app_context():
        coordinator, resident = db.session.merge(world.coordinator), db.session.merge(world.resident)
        now = datetime.utcnow()
        patrol_settings.set_patrol_area(db.session.merge(world.committee), world.a.id, lat=BASE[0], lon=BASE[1],
                                        radius_m=3000)
        route = patrol_routes.create_route(coordinator, world.a.id, name="泉城路线",
                                           waypoints=[[BASE[0], BASE[1]], [BASE[0] + 0.004, BASE[1] + 0.004]])
        shift = patrol_shifts.create_shift(coordinator, world.a.id, title="夜巡", starts_at=now - timedelta(minutes=50),
                                           ends_at=now + timedelta(hours=1), capacity=3, route_id=route.id,
                                           now=now - timedelta(hours=1))
        patrol_shifts.sign_up(resident, world.a.id, shift.id, now=now - timedelta(hours=1))
        patrol = tracking.start_patrol(resident, world.a.id, shift_id=shift.id, now=now - timedelta(minutes=40))
        points = walk(tracking.unix(now - timedelta(minutes=40)), seconds=1200, dt=4.0, bearing_deg=240, seed=2,
                      base=(BASE[0] - 0.004, BASE[1]))
        tracking.add_points(resident, world.a.id, patrol.id, points, now=now - timedelta(minutes=15))
        tracking.end_patrol(resident, world.a.id, patrol.id, now=now - timedelta(minutes=15))
        db.session.commit()
        patrol_id = patrol.id
    app.config["WTF_CSRF_ENABLED"] = True
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, world.coordinator)
        page.goto(f"/c/{world.a.id}/patrols/{patrol_id}")
        expect(page.get_by_test_id("route-share")).to_contain_text("泉城路线")
        expect(page.get_by_test_id("route-share")).to_contain_text("0% 的轨迹")
        expect(page.get_by_test_id("patrol-flags")).to_contain_text("不在巡逻范围")
        assert page.locator(".leaflet-control-scale").is_visible()
        # the community area, the route (as a community route and as the shift's) and the track are drawn
        assert page.locator(".patrol-map path").count() >= 4
        page.get_by_role("button", name="通过", exact=True).click()
        expect(page.locator(".flash-error").first).to_be_visible()
        expect(page.get_by_test_id("patrol-status")).to_have_text("等待审核")
        page.get_by_label("备注").fill("路线临时改道，已核实")
        page.get_by_role("button", name="通过", exact=True).click()
        page.goto(f"/c/{world.a.id}/patrols/{patrol_id}")
        expect(page.get_by_test_id("patrol-status")).to_have_text("已通过")
    finally:
        context.close()
        app.config["WTF_CSRF_ENABLED"] = False


def test_a_report_is_accepted_passed_on_fixed_and_confirmed_with_its_buttons(phones, sign_in, app, world, tmp_path):
    """Each step of a report is its page's real button (one dispatch, problem_reports.act): the coordinator
    accepts, passes it to a department and marks it fixed with a photo; the reporter confirms the fix."""
    from civic.patrols import reports as problem_reports
    from tests.patrols.helpers import png_bytes

    with app.app_context():
        category = problem_reports.report_categories(world.a.id)[0]
        report = problem_reports.submit_report(db.session.merge(world.resident), world.a.id,
                                               category_id=category.id, description="楼道灯不亮")
        db.session.commit()
        url = f"/c/{world.a.id}/reports/{report.id}"
    photo = tmp_path / "fixed.png"
    photo.write_bytes(png_bytes())

    coordinator = sign_in(phones.new(), world.coordinator)
    coordinator.goto(url)
    coordinator.get_by_role("button", name="受理", exact=True).click()
    expect(coordinator.locator(".flash-success")).to_contain_text("已受理，这件事由您来处理。")
    coordinator.get_by_label("或者交给部门").fill("物业")
    coordinator.get_by_role("button", name="交办", exact=True).click()
    expect(coordinator.locator(".flash-success")).to_contain_text("已转交，对方已收到通知。")
    coordinator.get_by_label("解决后的照片").set_input_files(str(photo))
    coordinator.get_by_role("button", name="已解决", exact=True).click()
    expect(coordinator.locator(".flash-success")).to_contain_text("已标为解决，会请报告人确认。")

    resident = sign_in(phones.new(), world.resident)
    resident.goto(url)
    resident.get_by_test_id("confirm-report").click()
    expect(resident.locator(".flash-success")).to_contain_text("谢谢您确认问题已解决，这件事已办结。")
    with app.app_context():
        events = [e.action for e in problem_reports.timeline(problem_reports.get_report(world.a.id, report.id))]
    assert events == ["submitted", "accepted", "assigned", "resolved", "confirmed"]
