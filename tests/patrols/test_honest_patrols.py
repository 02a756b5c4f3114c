"""Honest patrols on the server (issue 10, item 3): whatever the phone or a script sends, fixes must lie within
the patrol's own start..end, one patrol is open per person, moving time fits the time the patrol was open,
per-day caps hold, a walk outside the community or a made-up track is flagged, and a flagged patrol is
approved only with a written reason."""
import threading
import time as clock
from datetime import datetime, timedelta

import pytest

from civic.core.errors import Conflict, Invalid
from civic.extensions import db
from civic.ledger.service import balance_of
from civic.patrols import review as patrol_review
from civic.patrols import routes as patrol_routes
from civic.patrols import settings as patrol_settings
from civic.patrols import shifts as patrol_shifts
from civic.patrols import track, tracking
from civic.patrols.models import Patrol, PatrolRoute, Shift
from tests import factories
from tests.patrols.helpers import BASE, walk

T0 = datetime(2026, 11, 24, 10, 0)  # naive UTC: 18:00 in China


def _u(user):
    return db.session.merge(user)


def _patrol(user, community_id, points, *, start=T0, minutes=None):
    """Start at `start`, send the fixes in batches, end when the last fix was taken (or after `minutes`)."""
    patrol = tracking.start_patrol(user, community_id, now=start)
    end = start + timedelta(minutes=minutes) if minutes else tracking.from_unix(max(p["t"] for p in points))
    for i in range(0, len(points), 200):
        tracking.add_points(user, community_id, patrol.id, points[i:i + 200], now=end)
    return tracking.end_patrol(user, community_id, patrol.id, now=end)


def test_the_farming_attack_through_the_api_earns_nothing_unreviewed(app, client, world, api_token):
    """The attack from the issue: start, upload a smooth two-hour walk with past timestamps, end a second
    later, six times with the same timestamps. Every fix is dropped and counted, each patrol is flagged
    suspicious, none can be approved without a written reason, and nothing was paid."""
    vol, coord = api_token(world.resident.phone), api_token(world.coordinator.phone)
    base = f"/api/v1/communities/{world.a.id}"
    fake = walk(clock.time() - 3 * 3600, seconds=7200, dt=2, speed=1.34, fake=True)
    ids = []
    for _ in range(6):
        patrol = client.post(f"{base}/patrols", json={}, headers=vol).json
        url = f"{base}/patrols/{patrol['id']}/points"
        dropped = 0
        for i in range(0, len(fake), 500):
            answer = client.post(url, json={"points": fake[i:i + 500]}, headers=vol).json
            assert answer["accepted"] == 0
            dropped += answer["dropped"]
        assert dropped == len(fake)
        ended = client.post(f"{base}/patrols/{patrol['id']}/end", headers=vol).json
        assert ended["distance_m"] == 0 and ended["moving_seconds"] <= 5
        assert ended["dropped_points"] == len(fake) and "suspicious" in ended["flags"], ended
        ids.append(patrol["id"])
    for pid in ids:
        refused = client.post(f"{base}/patrols/{pid}/review", json={"approve": True}, headers=coord)
        assert refused.status_code == 422 and refused.json["reason"] == "reason_required", refused.json
    with app.app_context():
        assert balance_of(world.a.id, world.resident.id) == 0


def test_a_made_up_track_within_the_patrol_time_is_suspicious(app_ctx, world):
    """Fixes typed by a script (no GPS jitter, one accuracy, perfectly regular) are flagged even when their
    times fit the patrol; the same walk as a phone records it is not."""
    user = _u(world.resident)
    made_up = _patrol(user, world.a.id, walk(tracking.unix(T0), seconds=1800, fake=True))
    assert "suspicious" in made_up.flag_list
    assert set(made_up.summary["suspicious"]) >= {"constant_accuracy", "no_jitter", "regular_intervals"}
    honest = _patrol(_u(world.resident2), world.a.id, walk(tracking.unix(T0), seconds=1800, seed=7, prefix="h"))
    assert honest.flag_list == [] and honest.distance_m > 2000


def test_the_same_fixes_shifted_in_time_are_a_copy(app_ctx, world):
    """A second patrol re-using an earlier patrol's fixes with the times moved on is flagged suspicious."""
    user = _u(world.resident)
    first_points = walk(tracking.unix(T0), seconds=1800, seed=3)
    first = _patrol(user, world.a.id, first_points)
    assert first.flag_list == []
    later = T0 + timedelta(days=1)
    shifted = [dict(p, t=p["t"] + 86400, id="c" + p["id"]) for p in first_points]
    copy = _patrol(user, world.a.id, shifted, start=later)
    assert "suspicious" in copy.flag_list and copy.summary["copied_from"] == first.id
    assert copy.summary["suspicious"] == ["copied_track"]


def test_future_fixes_and_fixes_before_the_start_are_dropped(app_ctx, world):
    """Fixes from the future or from before the patrol started are dropped and counted, never measured."""
    user = _u(world.resident)
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    now = T0 + timedelta(minutes=10)
    good = walk(tracking.unix(T0) + 5, seconds=590, dt=4.0, seed=5)
    future = walk(tracking.unix(now) + 20 * 3600, seconds=300, prefix="f", seed=6)
    before = walk(tracking.unix(T0) - 3600, seconds=300, prefix="b", seed=8)
    assert tracking.add_points(user, world.a.id, patrol.id, good + future + before, now=now) == (
        len(good), 0, len(future) + len(before))
    ended = tracking.end_patrol(user, world.a.id, patrol.id, now=now)
    assert ended.point_count == len(good) and ended.dropped_points == len(future) + len(before)
    assert ended.distance_m < 900  # ~770 m walked in ten minutes; the 780 m outside its time were dropped


def test_moving_time_cannot_exceed_the_time_the_patrol_was_open(app_ctx, world):
    """Ended early with fixes up to the skew: moving time is at most the server's elapsed time."""
    user = _u(world.resident)
    patrol = tracking.start_patrol(user, world.a.id, now=T0)
    points = walk(tracking.unix(T0) - 100, seconds=200, seed=9)  # all within the two-minute skew
    end = T0 + timedelta(seconds=30)
    tracking.add_points(user, world.a.id, patrol.id, points, now=end)
    ended = tracking.end_patrol(user, world.a.id, patrol.id, now=end)
    assert ended.moving_seconds <= 30 and ended.summary["server_elapsed_seconds"] == 30


def test_one_open_patrol_per_person_and_no_overlap(app_ctx, world):
    """Starting again returns the open patrol; starting in another community while one is open is refused;
    a patrol cannot start before the last one ended; the database refuses a second open patrol in a community
    outright (its unique key keeps community_id, as every one does)."""
    user = _u(world.resident)
    factories.make_member(_u(world.b), user=user)
    first = tracking.start_patrol(user, world.a.id, now=T0)
    assert tracking.start_patrol(user, world.a.id, now=T0 + timedelta(minutes=1)).id == first.id
    with pytest.raises(Conflict) as refused:
        tracking.start_patrol(user, world.b.id, now=T0 + timedelta(minutes=1))
    assert refused.value.reason == "patrol_under_way"
    tracking.end_patrol(user, world.a.id, first.id, now=T0 + timedelta(hours=1))
    with pytest.raises(Conflict) as overlap:
        tracking.start_patrol(user, world.b.id, now=T0 + timedelta(minutes=30))
    assert overlap.value.reason == "patrol_overlap"
    second = tracking.start_patrol(user, world.b.id, now=T0 + timedelta(hours=2))
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(Patrol(community_id=world.b.id, user_id=user.id, status="active",
                                  started_at=T0 + timedelta(hours=2)))
    assert second.status == "active"


@pytest.mark.postgres
def test_concurrent_starts_leave_one_open_patrol(app, world):
    """Eight simultaneous "start patrol" calls by one person leave exactly one open patrol (PostgreSQL, threads)."""
    with app.app_context():
        user_id = world.resident.id
    barrier = threading.Barrier(8)
    results, errors = [], []

    def attempt():
        with app.app_context():
            from civic.accounts.models import User

            user = db.session.get(User, user_id)
            barrier.wait(timeout=60)
            try:
                patrol = tracking.start_patrol(user, world.a.id)
                db.session.commit()
                results.append(patrol.id)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded and fails the test
                db.session.rollback()
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 8
    assert len(set(results)) == 1
    with app.app_context():
        from sqlalchemy import func, select

        assert db.session.scalar(select(func.count()).select_from(Patrol).where(
            Patrol.user_id == user_id, Patrol.status == "active")) == 1


def test_daily_caps_limit_points_and_hours(app_ctx, world):
    """Three long patrols on one day earn no more than the day's caps of points and service hours."""
    committee, coordinator = _u(world.committee), _u(world.coordinator)
    patrol_settings.update_settings(committee, world.a.id, points_per_km=10, points_per_hour=10,
                                    max_points_per_patrol=100,
                                    report_points=5, max_points_per_day=50, max_hours_per_day=1)
    factories.confirm_rule_changes(world.a.id, _u(world.committee2))
    user = _u(world.resident)
    awarded, seconds = [], []
    for n in range(3):
        start = T0 + timedelta(hours=n)
        p = _patrol(user, world.a.id, walk(tracking.unix(start), seconds=2400, seed=20 + n, prefix=f"d{n}-",
                                           bearing_deg=60 + 100 * n), start=start)
        assert p.flag_list == [], p.summary
        p = patrol_review.review_patrol(coordinator, world.a.id, p.id, approve=True, now=start + timedelta(hours=1))
        awarded.append(p.points_awarded)
        from civic.patrols.models import ServiceRecord

        seconds.append(db.session.scalar(db.select(ServiceRecord.seconds).where(
            ServiceRecord.source == f"patrol:{p.id}")))
    assert awarded[0] > 0 and sum(awarded) == 50 and awarded[2] == 0
    assert sum(seconds) == 3600
    assert balance_of(world.a.id, world.resident.id) == 0  # on the notice board first
    factories.settle_awards(T0)
    assert balance_of(world.a.id, world.resident.id) == 50


def test_a_walk_outside_the_community_area_is_flagged(app_ctx, world):
    """With a centre and radius set, a walk wholly elsewhere is `outside_area` and needs a reason;
    a walk inside is not flagged."""
    patrol_settings.set_patrol_area(_u(world.committee), world.a.id, lat=BASE[0], lon=BASE[1], radius_m=1500)
    inside = _patrol(_u(world.resident), world.a.id, walk(tracking.unix(T0), seconds=600, seed=11))
    assert inside.flag_list == [] and inside.summary["area_share"] == 1
    far = (BASE[0] + 0.2, BASE[1] + 0.2)  # ~28 km away
    outside = _patrol(_u(world.resident2), world.a.id, walk(tracking.unix(T0), seconds=600, seed=12, base=far))
    assert outside.flag_list == ["outside_area"] and outside.summary["area_share"] == 0
    with pytest.raises(Invalid) as refused:
        patrol_review.review_patrol(_u(world.coordinator), world.a.id, outside.id, approve=True,
                                    now=T0 + timedelta(hours=1))
    assert refused.value.reason == "reason_required"
    ok = patrol_review.review_patrol(_u(world.coordinator), world.a.id, outside.id, approve=True,
                                     note="在外村支援巡逻，已电话核实", now=T0 + timedelta(hours=1))
    assert ok.status == "approved"


def test_off_route_share_is_measured_against_the_shift_route(app_ctx, world):
    """A shift with a route: the share of the track within the route's corridor is kept, and a walk
    wholly off the route is flagged `outside_area`."""
    coordinator = _u(world.coordinator)
    on_route = walk(0, seconds=600, seed=1, fake=True)
    route = patrol_routes.create_route(coordinator, world.a.id, name="泉城路",
                                       waypoints=[[on_route[0]["lat"], on_route[0]["lon"]],
                                            [on_route[-1]["lat"], on_route[-1]["lon"]]])
    shift = patrol_shifts.create_shift(coordinator, world.a.id, title="夜巡", starts_at=T0 + timedelta(hours=1),
                                       ends_at=T0 + timedelta(hours=3), capacity=3, route_id=route.id, now=T0)
    shift2 = patrol_shifts.create_shift(coordinator, world.a.id, title="夜巡2", starts_at=T0 + timedelta(hours=1),
                                        ends_at=T0 + timedelta(hours=3), capacity=3, route_id=route.id, now=T0)
    start = T0 + timedelta(hours=1)
    results = {}
    for who, s, bearing in ((world.resident, shift, 60.0), (world.resident2, shift2, 240.0)):
        user = _u(who)
        patrol_shifts.sign_up(user, world.a.id, s.id, now=T0)
        p = tracking.start_patrol(user, world.a.id, shift_id=s.id, now=start)
        points = walk(tracking.unix(start), seconds=600, seed=4, bearing_deg=bearing,
                      base=(BASE[0] - 0.005, BASE[1]) if bearing == 240.0 else BASE)
        end = start + timedelta(minutes=10)
        tracking.add_points(user, world.a.id, p.id, points, now=end)
        results[bearing] = tracking.end_patrol(user, world.a.id, p.id, now=end)
    assert results[60.0].summary["route_share"] > 0.9 and results[60.0].flag_list == []
    assert results[240.0].summary["route_share"] == 0 and results[240.0].flag_list == ["outside_area"]
    assert db.session.get(Shift, shift.id).route_id == route.id and db.session.get(PatrolRoute, route.id)


def test_dev_tracks_are_not_flagged_as_made_up():
    """No honest development track (walks, still phones, vehicles, teleports) looks made up."""
    import json

    from tests.patrols.test_track import DEV_TRACKS

    cases = json.loads(DEV_TRACKS.read_text())["cases"]
    assert cases
    for case in cases:
        assert not track.looks_fabricated(track.fabrication_signs(case["points"])), case.get("kind")
