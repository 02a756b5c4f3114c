"""One gate for every point issued (issue 10, items 1 and 4), through HTTP: an approved patrol, a confirmed
problem report and a meeting's attendance put their points on the notice board instead of the passbook,
and nobody decides an award of which they are the beneficiary, on any path."""
import time as clock
from datetime import datetime, timedelta

from sqlalchemy import select

from civic.deliberation import service as deliberation
from civic.extensions import db
from civic.ledger.service import balance_of
from civic.merit.models import Claim
from civic.patrols import reports as problem_reports
from civic.patrols import tracking
from civic.patrols.models import Patrol
from civic.worker import run_job
from tests import factories
from tests.patrols.helpers import walk

API = "/api/v1/communities"


def _walked(app, person, community_id):
    """An ended 20-minute walk of `person` (made through the service: what is tested is its review)."""
    with app.app_context():
        user = db.session.merge(person)
        patrol = tracking.start_patrol(user, community_id)
        db.session.get(Patrol, patrol.id).started_at = datetime.utcnow() - timedelta(minutes=21)
        db.session.flush()
        points = walk(clock.time() - 1200, seconds=1190)
        for i in range(0, len(points), 100):
            tracking.add_points(user, community_id, patrol.id, points[i:i + 100])
        tracking.end_patrol(user, community_id, patrol.id)
        db.session.commit()
        return patrol.id


def _notice(client, community_id, headers):
    return client.get(f"{API}/{community_id}/merit/notice", headers=headers).json


def test_approved_patrol_goes_on_the_notice_board_and_posts_when_the_period_ends(app, client, api_token, world):
    """Approving a patrol moves no points: the award is on the notice board with its reason; a neighbour may
    object; the posting job credits it only when the notice period ends, once."""
    a = world.a.id
    patrol_id = _walked(app, world.resident, a)
    review = client.post(f"{API}/{a}/patrols/{patrol_id}/review", json={"approve": True},
                         headers=api_token(world.coordinator))
    assert review.status_code == 200, review.json
    points = review.json["points_awarded"]
    assert points > 0
    with app.app_context():
        assert balance_of(a, world.resident.id) == 0
    neighbour = api_token(world.resident2)
    board = _notice(client, a, neighbour)["on_notice"]
    assert [(c["source_kind"], c["source_id"], c["points"], c["resident_name"]) for c in board] == [
        ("patrol", patrol_id, points, "刘阿姨")]
    assert "巡逻" in board[0]["rule_name"]
    ends = datetime.fromisoformat(board[0]["notice_ends_at"])
    assert run_job(app, "merit_close_notices", now=ends - timedelta(minutes=1)) == 0
    assert run_job(app, "merit_close_notices", now=ends + timedelta(minutes=1)) == 1
    assert run_job(app, "merit_close_notices", now=ends + timedelta(days=1)) == 0
    with app.app_context():
        assert balance_of(a, world.resident.id) == points


def test_an_upheld_objection_stops_a_patrol_award(app, client, api_token, world):
    """A neighbour objects to a patrol award; the committee upholds it; the job posts nothing."""
    a = world.a.id
    patrol_id = _walked(app, world.resident, a)
    assert client.post(f"{API}/{a}/patrols/{patrol_id}/review", json={"approve": True},
                       headers=api_token(world.coordinator)).status_code == 200
    claim_id = _notice(client, a, api_token(world.resident2))["on_notice"][0]["id"]
    client.post("/login", data={"phone": world.resident2.phone, "password": factories.DEFAULT_PASSWORD})
    board = client.get(f"/c/{a}/merit/notice").get_data(as_text=True)
    assert 'data-source="patrol"' in board and "巡逻" in board and "刘阿姨" in board
    assert client.get(f"/c/{a}/merit/claims/{claim_id}").status_code == 200
    client.post("/logout")
    objection = client.post(f"{API}/{a}/merit/claims/{claim_id}/objections", json={"reason": "那天他在外地"},
                            headers=api_token(world.resident2))
    assert objection.status_code == 201, objection.json
    decided = client.post(f"{API}/{a}/merit/objections/{objection.json['id']}/decision",
                          json={"uphold": True, "note": "轨迹与值班记录不符"}, headers=api_token(world.committee))
    assert decided.status_code == 200, decided.json
    client.post("/login", data={"phone": world.committee.phone, "password": factories.DEFAULT_PASSWORD})
    assert client.get(f"/c/{a}/merit/review").status_code == 200
    assert "轨迹与值班记录不符" in client.get(f"/c/{a}/merit/notice").get_data(as_text=True)
    client.post("/logout")
    assert run_job(app, "merit_close_notices", now=datetime.utcnow() + timedelta(days=31)) == 0
    with app.app_context():
        assert balance_of(a, world.resident.id) == 0
        assert db.session.get(Claim, claim_id).status == "cancelled"


def test_nobody_reviews_their_own_patrol_not_even_an_administrator(app, client, api_token, world):
    """A coordinator, and a site administrator, cannot approve their own patrol (403, reason own_award)."""
    a = world.a.id
    own = _walked(app, world.coordinator, a)
    refused = client.post(f"{API}/{a}/patrols/{own}/review", json={"approve": True},
                          headers=api_token(world.coordinator))
    assert refused.status_code == 403 and refused.json["reason"] == "own_award"
    assert refused.json["message"] == "自己的巡逻要由别人审核。"
    admins = _walked(app, world.admin, a)
    refused = client.post(f"{API}/{a}/patrols/{admins}/review", json={"approve": True},
                          headers=api_token(world.admin))
    assert refused.status_code == 403 and refused.json["reason"] == "own_award"
    with app.app_context():
        assert db.session.get(Patrol, admins).status == "ended"
        assert db.session.scalar(select(Claim.id)) is None


def test_a_coordinator_cannot_handle_their_own_report(app, client, api_token, world):
    """Issue 10 item 4: a coordinator reports a problem and tries to accept it (and to pass it to themselves):
    refused; another handler accepts it; confirming puts the points on notice, decided by the resolver."""
    a = world.a.id
    coord = api_token(world.coordinator)
    cats = client.get(f"{API}/{a}/report-categories", headers=coord).json
    report = client.post(f"{API}/{a}/reports", json={"category_id": cats[2]["id"], "description": "井盖松动",
                                                    "lat": 36.67, "lon": 117.02}, headers=coord)
    assert report.status_code == 201
    rid = report.json["id"]
    accepted = client.post(f"{API}/{a}/reports/{rid}", json={"action": "accept"}, headers=coord)
    assert accepted.status_code == 403 and accepted.json["reason"] == "own_award"
    assert accepted.json["message"] == "您自己上报的问题须由其他人处理。"
    committee = api_token(world.committee)
    to_self = client.post(f"{API}/{a}/reports/{rid}",
                          json={"action": "assign", "assignee_id": world.coordinator.id}, headers=committee)
    assert to_self.status_code == 403 and to_self.json["reason"] == "own_award"
    assert client.post(f"{API}/{a}/reports/{rid}", json={"action": "accept"}, headers=committee).status_code == 200
    with app.app_context():
        photo = factories.make_upload(a, world.committee)  # the resolver's own photo of the fix
        problem_reports.resolve_report(db.session.merge(world.committee), a, rid, photo=photo)
        db.session.commit()
    confirmed = client.post(f"{API}/{a}/reports/{rid}", json={"action": "confirm"}, headers=coord)
    assert confirmed.status_code == 200, confirmed.json
    with app.app_context():
        award = db.session.scalar(select(Claim).where(Claim.source_kind == "report"))
        assert (award.status, award.resident_id, award.first_approver_id) == (
            "notice", world.coordinator.id, world.committee.id)
        assert balance_of(a, world.coordinator.id) == 0


def test_an_organiser_checking_themself_in_earns_no_points_without_someone_else(app, client, api_token, world):
    """A committee member checks themself in by name at a meeting that starts now: counted present, no points
    on notice; when another organiser checks them in, the attendance points go on the notice board."""
    a = world.a.id
    with app.app_context():
        now = datetime.utcnow()
        meeting = deliberation.create_meeting(
            db.session.merge(world.committee), a, title="临时议事会", kind="council", place="活动室",
            starts_at=now, ends_at=now + timedelta(hours=2), quorum_count=0, quorum_percent=0)
        db.session.commit()
        meeting_id = meeting.id
    url = f"/api/v1/deliberation/communities/{a}/meetings/{meeting_id}/attendance"
    me = client.post(url, json={"user_id": world.committee.id}, headers=api_token(world.committee))
    assert me.status_code == 200, me.json
    run_job(app, "merit_close_notices", now=datetime.utcnow() + timedelta(days=31))
    with app.app_context():
        assert deliberation.attendance_counts(db.session.get(type(meeting), meeting_id))[1] == 1
        assert balance_of(a, world.committee.id) == 0
        assert db.session.scalar(select(Claim.id)) is None
    other = client.post(url, json={"user_id": world.committee.id}, headers=api_token(world.committee2))
    assert other.status_code == 200
    with app.app_context():
        award = db.session.scalar(select(Claim))
        assert (award.source_kind, award.resident_id, award.first_approver_id, award.status) == (
            "meeting", world.committee.id, world.committee2.id, "notice")


def test_no_committee_member_approves_their_own_claim(app, client, api_token, world, rules):
    """A committee member's own claim cannot be approved, first or second, by themselves (403)."""
    a = world.a.id
    mine = api_token(world.committee)
    claim = client.post(f"{API}/{a}/merit/claims", json={"rule_id": rules.big, "description": "下水救人"},
                        headers=mine)
    assert claim.status_code == 201, claim.json
    own = client.post(f"{API}/{a}/merit/claims/{claim.json['id']}/approval", json={"approve": True, "points": 40},
                      headers=mine)
    assert own.status_code == 403
    first = client.post(f"{API}/{a}/merit/claims/{claim.json['id']}/approval",
                        json={"approve": True, "points": 40}, headers=api_token(world.committee2))
    assert first.status_code == 200 and first.json["status"] == "second"
    second = client.post(f"{API}/{a}/merit/claims/{claim.json['id']}/approval", json={"approve": True},
                         headers=mine)
    assert second.status_code == 403
    with app.app_context():
        assert db.session.get(Claim, claim.json["id"]).status == "second"
