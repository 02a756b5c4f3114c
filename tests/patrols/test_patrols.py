"""Volunteer patrols: shifts and capacity, tracking with idempotent batches, review into points and
service hours, problem reports, jobs, GPX, and the pages and API over HTTP."""
import threading
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.extensions import db
from civic.ledger.models import Transaction
from civic.ledger.service import balance_of
from civic.notifications.models import Notification
from civic.patrols import gpx, tracking
from civic.patrols import reports as problem_reports
from civic.patrols import review as patrol_review
from civic.patrols import routes as patrol_routes
from civic.patrols import settings as patrol_settings
from civic.patrols import shifts as patrol_shifts
from civic.patrols import stats as patrol_stats
from civic.patrols.models import Patrol, ServiceRecord, Shift, Signup, TrackPoint
from tests import factories
from tests.patrols.helpers import drive, png_bytes, walk

T0 = datetime(2026, 11, 24, 10, 0)  # naive UTC: 18:00 in China


def _user(app_ctx_user):
    return db.session.merge(app_ctx_user)


def _shift(world, *, capacity=3, starts=None, minutes=120, now=T0):
    starts = starts or T0 + timedelta(days=1)
    return patrol_shifts.create_shift(
        _user(world.coordinator), world.a.id, title="晚间巡逻", starts_at=starts,
        ends_at=starts + timedelta(minutes=minutes), capacity=capacity, meeting_point="社区门口", now=now)


def _walked_patrol(world, user=None, *, points=None, now=T0):
    user = _user(user or world.resident)
    patrol = tracking.start_patrol(user, world.a.id, now=now)
    pts = points if points is not None else walk(tracking.unix(now), seconds=1200)
    for i in range(0, len(pts), 50):
        tracking.add_points(user, world.a.id, patrol.id, pts[i:i + 50], now=now + timedelta(minutes=25))
    tracking.end_patrol(user, world.a.id, patrol.id, now=now + timedelta(minutes=25))
    return patrol


# --- shifts -----------------------------------------------------------------------------------------

def test_weekly_shift_makes_one_shift_per_chosen_day(app_ctx, world):
    """Tuesday and Friday 19:00 for two hours over four weeks gives eight shifts at 11:00 UTC."""
    shifts = patrol_shifts.create_weekly_shifts(
        _user(world.coordinator), world.a.id, title="周二周五夜巡", weekdays=[1, 4], local_start=time(19, 0),
        minutes=120, first_date=date(2026, 11, 24), last_date=date(2026, 12, 21), capacity=5, now=T0)
    assert len(shifts) == 8
    assert {s.starts_at.weekday() for s in shifts} == {1, 4}
    assert all(s.starts_at.time() == time(11, 0) and s.ends_at - s.starts_at == timedelta(hours=2) for s in shifts)
    assert len({s.series_id for s in shifts}) == 1


def test_only_coordinators_schedule(app_ctx, world):
    """A resident cannot schedule a shift; nonsense times and capacities are refused."""
    with pytest.raises(PermissionDenied):
        patrol_shifts.create_shift(_user(world.resident), world.a.id, title="x", starts_at=T0 + timedelta(hours=1),
                                   ends_at=T0 + timedelta(hours=2), capacity=2, now=T0)
    with pytest.raises(Invalid):
        patrol_shifts.create_shift(_user(world.coordinator), world.a.id, title="x", starts_at=T0 + timedelta(hours=2),
                                   ends_at=T0 + timedelta(hours=1), capacity=2, now=T0)
    with pytest.raises(Invalid):
        patrol_shifts.create_shift(_user(world.coordinator), world.a.id, title="x", starts_at=T0 + timedelta(hours=1),
                                   ends_at=T0 + timedelta(hours=2), capacity=0, now=T0)


def test_sign_up_withdraw_and_full(app_ctx, world):
    """Places fill up, a full shift refuses, withdrawing frees a place, signing up twice is refused."""
    shift = _shift(world, capacity=2)
    patrol_shifts.sign_up(_user(world.resident), world.a.id, shift.id, now=T0)
    with pytest.raises(Conflict):
        patrol_shifts.sign_up(_user(world.resident), world.a.id, shift.id, now=T0)
    patrol_shifts.sign_up(_user(world.resident2), world.a.id, shift.id, now=T0)
    with pytest.raises(Conflict) as full:
        patrol_shifts.sign_up(_user(world.committee), world.a.id, shift.id, now=T0)
    assert full.value.reason == "shift_full"
    patrol_shifts.withdraw(_user(world.resident), world.a.id, shift.id, now=T0)
    patrol_shifts.sign_up(_user(world.committee), world.a.id, shift.id, now=T0)
    assert shift.taken == 2
    with pytest.raises(PermissionDenied):
        patrol_shifts.sign_up(_user(world.b_resident), world.a.id, shift.id, now=T0)


@pytest.mark.postgres
def test_capacity_holds_under_concurrent_sign_ups(app, world):
    """Twelve volunteers signing up at once for five places: exactly five get in (PostgreSQL, real threads)."""
    with app.app_context():
        shift = _shift(world, capacity=5)
        people = [factories.make_member(db.session.merge(world.a)) for _ in range(12)]
        db.session.commit()
        shift_id, ids = shift.id, [p.id for p in people]
    barrier = threading.Barrier(len(ids))
    results = []

    def attempt(user_id):
        with app.app_context():
            from civic.accounts.models import User

            user = db.session.get(User, user_id)
            barrier.wait(timeout=60)
            try:
                patrol_shifts.sign_up(user, world.a.id, shift_id, now=T0)
                db.session.commit()
                results.append("ok")
            except Conflict:
                db.session.rollback()
                results.append("full")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 5 and results.count("full") == 7
    with app.app_context():
        assert db.session.get(Shift, shift_id).taken == 5
        assert db.session.scalar(select(func.count()).select_from(Signup).where(
            Signup.shift_id == shift_id, Signup.status == "signed_up")) == 5


def test_cancel_shift_tells_everyone_signed_up(app_ctx, world):
    """Cancelling needs a reason and sends it to each volunteer on the shift."""
    shift = _shift(world)
    patrol_shifts.sign_up(_user(world.resident), world.a.id, shift.id, now=T0)
    patrol_shifts.sign_up(_user(world.resident2), world.a.id, shift.id, now=T0)
    with pytest.raises(Invalid):
        patrol_shifts.cancel_shift(_user(world.coordinator), world.a.id, shift.id, reason=" ", now=T0)
    patrol_shifts.cancel_shift(_user(world.coordinator), world.a.id, shift.id, reason="暴雨", now=T0)
    told = db.session.scalars(select(Notification).where(Notification.kind == "patrol.shift_cancelled")).all()
    assert {n.user_id for n in told} == {world.resident.id, world.resident2.id}
    assert told[0].params["reason"] == "暴雨"
    with pytest.raises(Conflict):
        patrol_shifts.sign_up(_user(world.committee), world.a.id, shift.id, now=T0)


def test_reminders_two_hours_before_and_no_shows(app_ctx, world):
    """The reminder goes out once within two hours of the start; after the end, absentees are no-shows."""
    shift = _shift(world, starts=T0 + timedelta(hours=3))
    patrol_shifts.sign_up(_user(world.resident), world.a.id, shift.id, now=T0)
    patrol_shifts.sign_up(_user(world.resident2), world.a.id, shift.id, now=T0)
    assert patrol_shifts.send_reminders(now=T0) == 0
    assert patrol_shifts.send_reminders(now=T0 + timedelta(hours=1, minutes=5)) == 2
    assert patrol_shifts.send_reminders(now=T0 + timedelta(hours=1, minutes=30)) == 0
    # resident2 comes and patrols in the shift
    tracking.start_patrol(_user(world.resident2), world.a.id, shift_id=shift.id, now=T0 + timedelta(hours=3, minutes=5))
    assert patrol_shifts.record_no_shows(now=T0 + timedelta(hours=6)) == 1
    status = dict(db.session.execute(select(Signup.user_id, Signup.status).where(Signup.shift_id == shift.id)).all())
    assert status == {world.resident.id: "no_show", world.resident2.id: "attended"}
    assert patrol_shifts.record_no_shows(now=T0 + timedelta(hours=7)) == 0


def test_shift_patrol_only_in_its_window_and_for_those_signed_up(app_ctx, world):
    """A shift patrol starts from half an hour before the shift until its end, for volunteers on it."""
    shift = _shift(world, starts=T0 + timedelta(hours=3))
    patrol_shifts.sign_up(_user(world.resident), world.a.id, shift.id, now=T0)
    with pytest.raises(Conflict):
        tracking.start_patrol(_user(world.resident), world.a.id, shift_id=shift.id, now=T0)
    with pytest.raises(PermissionDenied):
        tracking.start_patrol(_user(world.resident2), world.a.id, shift_id=shift.id, now=T0 + timedelta(hours=3))
    patrol = tracking.start_patrol(_user(world.resident), world.a.id, shift_id=shift.id,
                                   now=T0 + timedelta(hours=2, minutes=40))
    assert patrol.shift_id == shift.id
    # starting again returns the patrol under way
    assert tracking.start_patrol(_user(world.resident), world.a.id, now=T0 + timedelta(hours=3)).id == patrol.id


# --- tracking ---------------------------------------------------------------------------------------

def test_resent_batch_adds_nothing(app_ctx, world):
    """Fixes carry ids made on the phone: sending the same batch again stores nothing new."""
    user = _user(world.resident)
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    batch = walk(tracking.unix(T0), seconds=98)
    assert tracking.add_points(user, world.a.id, patrol.id, batch, now=T0 + timedelta(minutes=2)) == (50, 0, 0)
    assert tracking.add_points(user, world.a.id, patrol.id, batch, now=T0 + timedelta(minutes=2)) == (0, 50, 0)
    mixed = batch[25:] + walk(tracking.unix(T0) + 100, seconds=48, prefix="q")
    assert tracking.add_points(user, world.a.id, patrol.id, mixed, now=T0 + timedelta(minutes=3)) == (25, 25, 0)
    assert db.session.scalar(
        select(func.count()).select_from(TrackPoint).where(TrackPoint.patrol_id == patrol.id)) == 75
    assert db.session.get(Patrol, patrol.id).point_count == 75


def test_a_phone_that_sends_often_has_its_track_measured_every_30_seconds_of_walking(app_ctx, world):
    """Batches closer than LIVE_MEASURE_EVERY of track time to the last measure only count their fixes; the next
    batch past it measures the whole track, as ending does (the figures then are the whole track's)."""
    user = _user(world.resident)
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    fixes = walk(tracking.unix(T0), seconds=118, dt=2.0)  # 60 fixes, 2 s apart
    later = T0 + timedelta(minutes=3)
    tracking.add_points(user, world.a.id, patrol.id, fixes[:20], now=later)  # first batch: measured
    measured = (patrol.distance_m, patrol.summary["measured_through"])
    assert patrol.point_count == 20 and measured[0] > 0
    tracking.add_points(user, world.a.id, patrol.id, fixes[20:25], now=later)  # 10 s more: counted only
    assert patrol.point_count == 25 and (patrol.distance_m, patrol.summary["measured_through"]) == measured
    tracking.add_points(user, world.a.id, patrol.id, fixes[25:40], now=later)  # 40 s past the measure
    assert patrol.point_count == 40 and patrol.distance_m > measured[0]
    assert patrol.summary["measured_through"] == tracking.unix(tracking.from_unix(fixes[39]["t"]))
    tracking.add_points(user, world.a.id, patrol.id, fixes[40:45], now=later)
    counted_only = patrol.distance_m
    ended = tracking.end_patrol(user, world.a.id, patrol.id, now=later)
    assert ended.point_count == 45 and ended.distance_m > counted_only


def test_points_are_checked_and_only_the_walker_sends_them(app_ctx, world):
    """Malformed fixes and fixes from another person are refused; one far outside the patrol's time is dropped."""
    user = _user(world.resident)
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    good = walk(tracking.unix(T0), seconds=4)
    with pytest.raises(PermissionDenied):
        tracking.add_points(_user(world.resident2), world.a.id, patrol.id, good, now=T0)
    for bad in ({"id": "x", "t": tracking.unix(T0), "lat": 95, "lon": 1},
                {"id": "", "t": tracking.unix(T0), "lat": 1, "lon": 1},
                {"t": tracking.unix(T0), "lat": 1, "lon": 1}):
        with pytest.raises(Invalid):
            tracking.add_points(user, world.a.id, patrol.id, [bad], now=T0)
    old = {"id": "x", "t": tracking.unix(T0) - 3 * 86400, "lat": 1, "lon": 1}
    assert tracking.add_points(user, world.a.id, patrol.id, [old], now=T0) == (0, 0, 1)
    assert db.session.get(Patrol, patrol.id).dropped_points == 1


def test_idle_patrol_is_closed_after_thirty_minutes(app_ctx, world):
    """A patrol with no point for 30 minutes is ended by the job and measured."""
    user = _user(world.resident)
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    tracking.add_points(user, world.a.id, patrol.id, walk(tracking.unix(T0), seconds=98), now=T0 + timedelta(minutes=2))
    assert tracking.close_idle_patrols(now=T0 + timedelta(minutes=31)) == 0
    assert tracking.close_idle_patrols(now=T0 + timedelta(minutes=33)) == 1
    patrol = db.session.get(Patrol, patrol.id)
    assert patrol.status == "ended" and patrol.ended_by == "timeout" and patrol.distance_m > 50


# --- review -----------------------------------------------------------------------------------------

def test_approval_posts_points_and_hours_exactly_once(app_ctx, world):
    """Approving puts points per km and per hour on the notice board once (one gate for every point issued); the
    notice job posts them once when the period ends; service hours are recorded once."""
    from civic.merit import service as merit
    from civic.merit.models import Claim

    patrol = _walked_patrol(world)
    assert 1400 < patrol.distance_m < 1750 and not patrol.flag_list
    coordinator = _user(world.coordinator)
    patrol_review.review_patrol(coordinator, world.a.id, patrol.id, approve=True, now=T0 + timedelta(hours=1))
    expected = patrol_review.points_for(patrol_settings.settings_for(world.a.id), patrol.distance_m,
                                        patrol.moving_seconds)
    assert expected > 0 and patrol.points_awarded == expected
    with pytest.raises(Conflict):
        patrol_review.review_patrol(_user(world.committee), world.a.id, patrol.id, approve=True)
    award = merit.sourced_award(world.a.id, "patrol", patrol.id, world.resident.id)
    assert (award.status, award.points, award.first_approver_id) == ("notice", expected, world.coordinator.id)
    assert balance_of(world.a.id, world.resident.id) == 0
    # a retried award for the same patrol adds nothing
    assert merit.put_award_on_notice(world.a.id, world.resident.id, expected, source_kind="patrol",
                                     source_id=patrol.id, category="patrol", reason="x", decided_by=coordinator,
                                     now=T0 + timedelta(hours=2)) is award
    assert db.session.scalar(select(func.count()).select_from(Claim)) == 1
    assert merit.close_notices(now=award.notice_ends_at - timedelta(minutes=1)) == 0
    assert merit.close_notices(now=award.notice_ends_at) == 1
    assert merit.close_notices(now=award.notice_ends_at + timedelta(days=1)) == 0
    assert balance_of(world.a.id, world.resident.id) == expected
    assert db.session.scalar(select(func.count()).select_from(Transaction).where(
        Transaction.idempotency_key == f"claim:{award.id}:post")) == 1
    records = db.session.scalars(select(ServiceRecord)).all()
    assert len(records) == 1 and records[0].seconds == int(patrol.moving_seconds) > 800
    stats = patrol_stats.volunteer_stats(world.a.id, world.resident.id)
    assert stats["patrols"] == 1 and stats["km"] == round(patrol.distance_m / 1000, 2)


def test_flagged_patrol_needs_a_written_reason(app_ctx, world):
    """A patrol the engine flags as a vehicle cannot be approved without a reason; with one it can."""
    patrol = _walked_patrol(world, points=drive(tracking.unix(T0)))
    assert "vehicle" in patrol.flag_list
    coordinator = _user(world.coordinator)
    with pytest.raises(Invalid) as refused:
        patrol_review.review_patrol(coordinator, world.a.id, patrol.id, approve=True)
    assert refused.value.reason == "reason_required"
    patrol_review.review_patrol(coordinator, world.a.id, patrol.id, approve=True, note="骑电动车巡逻，已核实")
    assert patrol.status == "approved" and patrol.review_note


def test_rejection_needs_a_reason_and_pays_nothing(app_ctx, world):
    """Rejecting says why, tells the volunteer and moves no points; nobody reviews their own patrol."""
    patrol = _walked_patrol(world, user=world.coordinator)
    with pytest.raises(PermissionDenied):
        patrol_review.review_patrol(_user(world.coordinator), world.a.id, patrol.id, approve=True)
    with pytest.raises(Invalid):
        patrol_review.review_patrol(_user(world.committee), world.a.id, patrol.id, approve=False)
    patrol_review.review_patrol(_user(world.committee), world.a.id, patrol.id, approve=False, note="轨迹不完整")
    assert patrol.status == "rejected" and balance_of(world.a.id, world.coordinator.id) == 0
    assert db.session.scalar(select(Notification.id).where(Notification.kind == "patrol.rejected"))


# --- problem reports ----------------------------------------------------------------------------------

def test_report_workflow_to_confirmation_and_points(app_ctx, world):
    """Submitted → accepted → assigned → resolved with a photo → confirmed by the reporter, who earns points once."""
    reporter, coordinator = _user(world.resident), _user(world.coordinator)
    category = problem_reports.report_categories(world.a.id)[3]
    report = problem_reports.submit_report(reporter, world.a.id, category_id=category.id, description="路灯坏了",
                                           photo=None, lat=36.67, lon=117.02, now=T0)
    handlers = {n.user_id for n in db.session.scalars(select(Notification).where(
        Notification.kind == "patrol.report_new"))}
    assert handlers == {world.committee.id, world.committee2.id, world.coordinator.id}
    with pytest.raises(PermissionDenied):
        problem_reports.accept_report(_user(world.resident2), world.a.id, report.id)
    with pytest.raises(Conflict):
        problem_reports.confirm_report(reporter, world.a.id, report.id)
    problem_reports.accept_report(coordinator, world.a.id, report.id, now=T0)
    problem_reports.assign_report(coordinator, world.a.id, report.id, assignee_id=world.resident2.id, now=T0)
    with pytest.raises(Invalid):
        problem_reports.resolve_report(_user(world.resident2), world.a.id, report.id, photo=None)
    photo = factories.make_upload(world.a, world.resident2, "a" * 32 + ".png")
    problem_reports.resolve_report(_user(world.resident2), world.a.id, report.id, photo=photo, now=T0)
    with pytest.raises(PermissionDenied):
        problem_reports.confirm_report(_user(world.resident2), world.a.id, report.id)
    problem_reports.confirm_report(reporter, world.a.id, report.id, now=T0)
    assert report.status == "confirmed"
    assert [e.action for e in problem_reports.timeline(report)] == ["submitted", "accepted", "assigned", "resolved",
                                                                    "confirmed"]
    assert balance_of(world.a.id, world.resident.id) == 0  # on the notice board first
    factories.settle_awards(T0)
    assert balance_of(world.a.id, world.resident.id) == patrol_settings.settings_for(world.a.id).report_points
    told = db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == world.resident.id, Notification.kind == "patrol.report"))
    assert told == 4


def test_duplicates_merge_and_reports_can_be_closed(app_ctx, world):
    """A duplicate is merged into the earlier report; a report needing no action is closed with a reason."""
    category = problem_reports.report_categories(world.a.id)[0]
    first = problem_reports.submit_report(_user(world.resident), world.a.id, category_id=category.id,
                                          description="乱停车")
    second = problem_reports.submit_report(_user(world.resident2), world.a.id, category_id=category.id,
                                           description="乱停车!")
    problem_reports.merge_report(_user(world.coordinator), world.a.id, second.id, into_id=first.id)
    assert second.status == "merged" and second.merged_into_id == first.id
    with pytest.raises(Invalid):
        problem_reports.close_report(_user(world.coordinator), world.a.id, first.id, note="")
    problem_reports.close_report(_user(world.coordinator), world.a.id, first.id, note="已劝离")
    assert first.status == "closed"


def test_a_report_step_is_taken_by_name_in_one_place(app_ctx, world):
    """reports.act runs the named step with the fields that step takes (the pages and the API post more);
    the step's own rule still decides who may take it, and an unknown step is not found."""
    category = problem_reports.report_categories(world.a.id)[0]
    report = problem_reports.submit_report(_user(world.resident), world.a.id, category_id=category.id,
                                           description="井盖松动")
    with pytest.raises(PermissionDenied):
        problem_reports.act(_user(world.resident), world.a.id, report.id, "accept", note="")
    with pytest.raises(NotFound):
        problem_reports.act(_user(world.coordinator), world.a.id, report.id, "approve")
    problem_reports.act(_user(world.coordinator), world.a.id, report.id, "accept", note="马上去看", into_id=1,
                        assignee_id=None, department="", csrf_token="x")
    assert report.status == "accepted"
    problem_reports.act(_user(world.coordinator), world.a.id, report.id, "close", note="已修好")
    assert report.status == "closed"
    assert [(e.action, e.note) for e in problem_reports.timeline(report)][1:] == [("accepted", "马上去看"),
                                                                                 ("closed", "已修好")]


def test_categories_are_editable(app_ctx, world):
    """The five default categories exist; a handler adds, renames and hides them."""
    names = [c.name for c in problem_reports.report_categories(world.a.id)]
    assert names == list(problem_reports.DEFAULT_REPORT_CATEGORIES)
    coordinator = _user(world.coordinator)
    extra = problem_reports.add_category(coordinator, world.a.id, "高空抛物")
    with pytest.raises(Conflict):
        problem_reports.add_category(coordinator, world.a.id, "高空抛物")
    problem_reports.update_category(coordinator, world.a.id, extra.id, active=False)
    assert "高空抛物" not in [c.name for c in problem_reports.report_categories(world.a.id)]


# --- stats and GPX ----------------------------------------------------------------------------------

def test_stats_coverage_and_stars(app_ctx, world):
    """Community totals count approved patrols; coverage has cells; 100 verified hours make one star."""
    patrol = _walked_patrol(world)
    patrol_review.review_patrol(_user(world.coordinator), world.a.id, patrol.id, approve=True,
                                now=T0 + timedelta(hours=1))
    stats = patrol_stats.community_stats(world.a.id, now=T0 + timedelta(hours=2))
    assert stats["total"]["patrols"] == 1 and stats["month"]["patrols"] == 1 and stats["total"]["km"] > 1
    cov = patrol_stats.coverage(world.a.id)
    assert 14 <= len(cov["cells"]) <= 40
    assert patrol_stats.coverage_svg(cov).startswith("<svg")
    assert [patrol_stats.stars_for(h) for h in (99, 100, 300, 1499, 1500)] == [0, 1, 2, 4, 5]
    db.session.add(ServiceRecord(community_id=world.a.id, user_id=world.resident2.id, source="import:1",
                                 seconds=101 * 3600))
    board = patrol_stats.star_volunteers(world.a.id)
    assert board[0]["user_id"] == world.resident2.id and board[0]["stars"] == 1


def test_gpx_round_trip(app_ctx, world):
    """A patrol exported as GPX imports back as a route with the same points."""
    patrol = _walked_patrol(world)
    points = tracking.track_of(patrol)
    text = gpx.patrol_gpx(patrol, points)
    assert [(round(a, 6), round(b, 6)) for a, b, _t in gpx.read_points(text)] == [
        (round(p["lat"], 6), round(p["lon"], 6)) for p in points]
    times = [t for _a, _b, t in gpx.read_points(text)]
    assert times[0].timestamp() == pytest.approx(points[0]["t"])
    route = patrol_routes.import_route(_user(world.coordinator), world.a.id, name="导入路线", gpx_text=text.encode())
    assert 2 <= len(route.waypoints) <= gpx.MAX_ROUTE_POINTS
    assert route.waypoints[0] == [round(points[0]["lat"], 7), round(points[0]["lon"], 7)]
    with pytest.raises(Invalid):
        gpx.route_points("<gpx>not really")


def test_real_gpx_file_imports_as_a_route(app_ctx, world):
    """A real recording (gpxpy's sample) becomes a route of at most 500 points."""
    from pathlib import Path

    data = (Path(__file__).resolve().parents[1] / "data/gpx/korita-zbevnica.gpx").read_bytes()
    route = patrol_routes.import_route(_user(world.coordinator), world.a.id, name="korita", gpx_text=data)
    assert 100 <= len(route.waypoints) <= 500


# --- HTTP -------------------------------------------------------------------------------------------

def test_patrol_through_the_api(api_token, app, client, world):
    """Coordinator schedules, volunteer signs up, patrols and reports, coordinator approves: points arrive."""
    import time as clock

    coord, vol = api_token(world.coordinator), api_token(world.resident)
    base = f"/api/v1/communities/{world.a.id}"
    starts = (datetime.now() + timedelta(days=2)).replace(microsecond=0).isoformat()
    ends = (datetime.now() + timedelta(days=2, hours=2)).replace(microsecond=0).isoformat()
    r = client.post(f"{base}/shifts", json={"title": "夜巡", "capacity": 1, "starts_at": starts, "ends_at": ends},
                    headers=coord)
    assert r.status_code == 201, r.json
    shift_id = r.json[0]["id"]
    assert client.post(f"{base}/shifts/{shift_id}/signup", headers=vol).status_code == 201
    assert client.post(f"{base}/shifts/{shift_id}/signup", headers=coord).json["reason"] == "shift_full"
    weekly = client.post(f"{base}/shifts", json={
        "title": "周巡", "capacity": 4, "weekdays": [1, 4], "local_start": "19:00", "minutes": 120,
        "first_date": (date.today() + timedelta(days=1)).isoformat(),
        "last_date": (date.today() + timedelta(days=14)).isoformat()}, headers=coord)
    assert weekly.status_code == 201 and len(weekly.json) == 4
    assert client.post(f"{base}/shifts", json={"title": "x", "capacity": 1}, headers=coord).status_code == 422

    patrol = client.post(f"{base}/patrols", json={}, headers=vol).json
    with app.app_context():  # the volunteer has been walking for 20 minutes (the server's start, moved back)
        db.session.get(Patrol, patrol["id"]).started_at = datetime.utcnow() - timedelta(minutes=21)
        db.session.commit()
    points = walk(clock.time() - 1200, seconds=1190)
    url = f"{base}/patrols/{patrol['id']}/points"
    shown = []
    for i in range(0, len(points), 50):
        answer = client.post(url, json={"points": points[i:i + 50]}, headers=vol).json
        assert answer["accepted"] == len(points[i:i + 50]) and answer["dropped"] == 0
        shown.append(answer["distance_m"])
    again = client.post(url, json={"points": points[:50]}, headers=vol).json
    assert (again["accepted"], again["duplicates"], again["point_count"]) == (0, 50, len(points))
    assert client.post(url, json={"points": [{"id": "x", "t": "soon", "lat": 1, "lon": 2}]},
                       headers=vol).status_code == 422
    assert client.post(url, json={"points": points[:1]}, headers=coord).status_code == 403
    ended = client.post(f"{base}/patrols/{patrol['id']}/end", headers=vol).json
    assert ended["status"] == "ended" and ended["distance_m"] > 1000
    # the live figure the phone showed last is the saved one (the same engine), not a bigger guess
    assert shown[-1] == again["distance_m"] == ended["distance_m"]
    assert ended["flags"] == [], ended

    cats = client.get(f"{base}/report-categories", headers=vol).json
    report = client.post(f"{base}/reports", json={"category_id": cats[1]["id"], "description": "垃圾乱扔",
                                                  "lat": 36.67, "lon": 117.02}, headers=vol)
    assert report.status_code == 201 and report.json["category"] == "不文明"
    rid = report.json["id"]
    assert client.post(f"{base}/reports/{rid}", json={"action": "accept"}, headers=coord).json["status"] == "accepted"
    assert client.post(f"{base}/reports/{rid}", json={"action": "accept"}, headers=vol).status_code == 403

    review = client.post(f"{base}/patrols/{patrol['id']}/review", json={"approve": True}, headers=coord)
    assert review.status_code == 200 and review.json["points_awarded"] > 0
    stats = client.get(f"{base}/patrol-stats", headers=vol).json
    assert stats["me"]["patrols"] == 1 and stats["total"]["hours"] > 0.2
    with app.app_context():
        assert balance_of(world.a.id, world.resident.id) == 0  # on the notice board first
        factories.settle_awards(datetime.utcnow())
        db.session.commit()
        assert balance_of(world.a.id, world.resident.id) == review.json["points_awarded"]


def test_pages_work_for_coordinator_and_resident(app, client, auth, world):
    """Every patrol page renders; sign-up, .ics, roster CSV, reports with photos and review work over HTTP."""
    with app.app_context():
        shift = _shift(world, starts=datetime.utcnow() + timedelta(days=1), now=datetime.utcnow())
        db.session.commit()
        shift_id = shift.id
    cid = world.a.id
    auth.login(phone=world.resident.phone)
    assert client.get("/patrols").headers["Location"].endswith(f"/c/{cid}/patrols")
    page = client.get(f"/c/{cid}/patrols").get_data(as_text=True)
    assert "晚间巡逻" in page and "报名" in page, page[page.find("<main"):]
    assert client.post(f"/c/{cid}/patrols/shifts/{shift_id}/signup").status_code == 302
    ics = client.get(f"/c/{cid}/patrols/shifts/{shift_id}/shift.ics")
    assert ics.mimetype == "text/calendar" and b"BEGIN:VEVENT" in ics.data and b"TRIGGER:-PT2H" in ics.data
    assert client.get(f"/c/{cid}/patrols/shifts/{shift_id}/roster.csv").status_code == 403
    for path in ("/patrols/track", "/reports", "/reports/new", "/patrols/stats", f"/patrols/shifts/{shift_id}"):
        assert client.get(f"/c/{cid}{path}").status_code == 200, path
    client.post(f"/c/{cid}/patrols/start", data={})
    assert "patrol-live" in client.get(f"/c/{cid}/patrols/track").get_data(as_text=True)
    import io

    with app.app_context():
        cat = problem_reports.report_categories(cid)[2].id
        db.session.commit()
    r = client.post(f"/c/{cid}/reports/new", data={
        "category_id": cat, "description": "台阶破损", "lat": "36.67", "lon": "117.02",
        "photo": (io.BytesIO(png_bytes()), "p.png")}, content_type="multipart/form-data")
    assert r.status_code == 302
    report_page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "台阶破损" in report_page and "/uploads/" in report_page
    bad = client.post(f"/c/{cid}/reports/new", data={"category_id": cat, "description": ""},
                      content_type="multipart/form-data")
    assert bad.status_code == 302
    auth.logout()

    auth.login(phone=world.coordinator.phone)
    for path in ("/patrols", "/patrols/routes", "/patrols/shifts/new", "/patrols/review", "/reports?scope=all",
                 "/reports/categories", f"/patrols/shifts/{shift_id}"):
        assert client.get(f"/c/{cid}{path}").status_code == 200, path
    csv_text = client.get(f"/c/{cid}/patrols/shifts/{shift_id}/roster.csv").data.decode("utf-8-sig")
    assert "刘阿姨" in csv_text and "已报名" in csv_text
    r = client.post(f"/c/{cid}/patrols/routes",
                    data={"name": "芙蓉街环线", "waypoints": "[[36.67,117.02],[36.671,117.021]]"})
    assert r.status_code == 302 and client.get(r.headers["Location"]).status_code == 200
    r = client.post(f"/c/{cid}/patrols/shifts/new", data={
        "title": "周末巡逻", "repeat": "weekly", "day": (date.today() + timedelta(days=1)).isoformat(),
        "last_day": (date.today() + timedelta(days=21)).isoformat(), "weekdays": ["5", "6"], "start": "09:00",
        "end": "11:00", "capacity": "6", "route_id": "0"})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Shift).where(Shift.title == "周末巡逻")) >= 5
    auth.logout()
    auth.login(phone=world.committee.phone)
    assert client.get(f"/c/{cid}/patrols/settings").status_code == 200
    r = client.post(f"/c/{cid}/patrols/settings", data={"points_per_km": "20", "points_per_hour": "5",
                                                       "max_points_per_patrol": "80", "report_points": "3",
                                                       "max_points_per_day": "150", "max_hours_per_day": "6",
                                                       "area_lat": "36.6683", "area_lon": "117.0204",
                                                       "area_radius_m": "1200"})
    assert r.status_code == 302
    with app.app_context():
        assert patrol_settings.settings_for(cid).points_per_km == 10  # proposed: waits for a second member
        factories.confirm_rule_changes(cid, db.session.merge(world.committee2))
        db.session.commit()
        assert patrol_settings.settings_for(cid).points_per_km == 20
        settings = patrol_settings.settings_for(cid)
        assert settings.max_points_per_day == 150 and settings.area_radius_m == 1200
