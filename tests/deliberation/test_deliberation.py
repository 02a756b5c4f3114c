"""Deliberation (议事): topics, review, sessions, QR check-in, votes under quorum and majority,
the residents' veto, implementation, jobs and exports."""
import io
import threading
from datetime import datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from civic.communities.models import Grid, Membership
from civic.core import qr
from civic.core.clock import utcnow
from civic.core.errors import Conflict, Invalid, PermissionDenied
from civic.deliberation import service
from civic.deliberation.models import AgendaItem, Attendance, Topic, Vote
from civic.extensions import db
from civic.ledger.models import Transaction
from civic.ledger.service import balance_of
from civic.notifications.models import Notification
from tests import factories

T0 = datetime(2026, 5, 1, 11, 0, 0)  # a fixed clock (naive UTC) for service tests


def make_meeting(actor, community_id, *, starts_at=T0, hours=2, **fields):
    """A session starting at `starts_at` (flushed)."""
    data = dict(title="四月民主议事会", kind="council", place="社区活动室", starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=hours), quorum_count=0, quorum_percent=0)
    data.update(fields)
    return service.create_meeting(actor, community_id, **data)


def residents(world):
    return [world.committee, world.committee2, world.coordinator, world.shopkeeper, world.resident, world.resident2]


# --- step 1 and 2: topics and review ------------------------------------------------------------

def test_topic_goes_to_committee_at_the_support_threshold(app_ctx, world):
    """Each resident supports once; the proposer cannot; at exactly the threshold the committee is told."""
    service.update_settings(world.committee, world.a.id, support_threshold=2, points_per_attendance=2,
                            veto_percent=30, evaluation_days=7)
    factories.confirm_rule_changes(world.a.id, world.committee2)
    topic = service.propose_topic(world.resident, world.a.id, "楼道灯坏了", "3号楼二单元的灯不亮")
    assert topic.status == "proposed"
    with pytest.raises(Conflict):
        service.support_topic(world.resident, world.a.id, topic.id)
    service.support_topic(world.resident2, world.a.id, topic.id)
    assert topic.status == "proposed" and topic.support_count == 1
    with pytest.raises(Conflict) as twice:
        service.support_topic(world.resident2, world.a.id, topic.id)
    assert twice.value.reason == "already_supported"
    service.support_topic(world.coordinator, world.a.id, topic.id)
    assert topic.status == "committee" and topic.support_count == 2
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "deliberation.topic_ready")).all()
    assert set(told) == {world.committee.id, world.committee2.id}
    with pytest.raises(PermissionDenied):
        service.support_topic(world.b_resident, world.a.id, topic.id)


def test_committee_topics_go_straight_to_the_committee(app_ctx, world):
    """A topic the committee adds itself needs no support."""
    assert service.propose_topic(world.committee, world.a.id, "加装电梯").status == "committee"


def test_review_puts_on_agenda_merges_or_declines_with_a_reason(app_ctx, world):
    """The committee schedules a topic, merges another (carrying supporters), declines a third with a reason."""
    meeting = make_meeting(world.committee, world.a.id)
    a = service.propose_topic(world.resident, world.a.id, "停车难")
    b = service.propose_topic(world.resident2, world.a.id, "车位不够")
    c = service.propose_topic(world.coordinator, world.a.id, "养鸽子")
    service.support_topic(world.shopkeeper, world.a.id, b.id)
    item = service.schedule_topic(world.committee, world.a.id, a.id, meeting.id, is_major=True)
    assert a.status == "scheduled" and item.topic_id == a.id and item.is_major and item.meeting_id == meeting.id
    service.merge_topic(world.committee, world.a.id, b.id, a.id)
    assert b.status == "merged" and b.merged_into_id == a.id
    assert a.support_count == 2  # b's proposer and supporter now support a
    with pytest.raises(Invalid):
        service.decline_topic(world.committee, world.a.id, c.id, "  ")
    service.decline_topic(world.committee, world.a.id, c.id, "不属于社区议事范围")
    assert c.status == "declined" and c.decline_reason == "不属于社区议事范围"
    with pytest.raises(Conflict):
        service.decline_topic(world.committee, world.a.id, a.id, "again")
    with pytest.raises(PermissionDenied):
        service.decline_topic(world.resident, world.a.id, c.id, "x")


def test_meeting_of_another_community_cannot_be_used(app_ctx, world):
    """Object ids are looked up within the community: another community's session is not found."""
    from civic.core.errors import NotFound

    theirs = make_meeting(world.b_committee, world.b.id)
    topic = service.propose_topic(world.committee, world.a.id, "议题")
    with pytest.raises(NotFound):
        service.schedule_topic(world.committee, world.a.id, topic.id, theirs.id)
    other_grid = db.session.scalar(select(Grid.id).where(Grid.community_id == world.b.id))
    with pytest.raises(Invalid):
        make_meeting(world.committee, world.a.id, scope="grid", grid_id=other_grid)


# --- QR check-in --------------------------------------------------------------------------------

def test_check_in_code_round_trip_through_a_qr_image(app, client, world):
    """The check-in code rendered as a PNG decodes (zxing-cpp) to a URL that checks the resident in."""
    with app.app_context():
        meeting = make_meeting(world.committee, world.a.id, starts_at=utcnow() - timedelta(minutes=5))
        db.session.commit()
        meeting_id = meeting.id
    client.post("/login", data={"phone": world.committee.phone, "password": factories.DEFAULT_PASSWORD})
    code = client.get(f"/c/{world.a.id}/deliberation/meetings/{meeting_id}/code.json").json
    assert code["open"] and code["png"].startswith("data:image/png;base64,")
    import base64

    png = base64.b64decode(code["png"].split(",", 1)[1])
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(decoded) == 1
    url = decoded[0].text
    assert "/checkin?t=" in url and url == code["url"]
    client.post("/logout")
    client.post("/login", data={"phone": world.resident.phone, "password": factories.DEFAULT_PASSWORD})
    path = url.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200 and "四月民主议事会" in page.get_data(as_text=True)
    token = url.split("t=", 1)[1]
    response = client.post("/checkin", data={"t": token}, follow_redirects=True)
    assert "签到成功" in response.get_data(as_text=True)
    again = client.post("/checkin", data={"t": token}, follow_redirects=True)
    assert "您已经签到过了" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1
        assert balance_of(world.a.id, world.resident.id) == 0  # on the notice board first
        factories.settle_awards(utcnow())
        db.session.commit()
        assert balance_of(world.a.id, world.resident.id) == 2


def test_code_is_valid_in_its_window_and_the_next_only(app_ctx, world):
    """A code from window w works until the end of window w+1 and is refused from then on; forgeries fail."""
    meeting = make_meeting(world.committee, world.a.id)
    window_start = datetime(2026, 5, 1, 11, 0, 0)  # a multiple of 30 s
    token, refresh_in = service.checkin_token(meeting, now=window_start + timedelta(seconds=5))
    assert refresh_in == 25
    for offset in (0, 29.999, 30, 59.999):
        assert (service.read_checkin_token(token, now=window_start + timedelta(seconds=offset))
                == (world.a.id, meeting.id))
    for offset in (60, 61, 3600):
        with pytest.raises(Invalid) as error:
            service.read_checkin_token(token, now=window_start + timedelta(seconds=offset))
        assert error.value.reason == "expired_token"
    with pytest.raises(Invalid):  # a code from the future (clock games) is refused too
        service.read_checkin_token(token, now=window_start - timedelta(seconds=1))
    body, mac = token.split(".")
    forged = qr._b64(b'{"c":%d,"m":%d,"w":99999999999}' % (world.a.id, meeting.id)) + "." + mac
    other_purpose = qr.make_token("voucher", {"c": world.a.id, "m": meeting.id, "w": 0})
    for bad in (forged, other_purpose, token[:-3] + "AAA", "", "junk"):
        with pytest.raises(Invalid):
            service.read_checkin_token(bad, now=window_start)


def test_expired_code_is_refused_over_http(app, client, world):
    """A photo of an old code, scanned later, is refused with a clear message and records nothing."""
    with app.app_context():
        meeting = make_meeting(world.committee, world.a.id, starts_at=utcnow())
        old, _ = service.checkin_token(meeting, now=utcnow() - timedelta(seconds=90))
        db.session.commit()
    client.post("/login", data={"phone": world.resident.phone, "password": factories.DEFAULT_PASSWORD})
    page = client.get(f"/checkin?t={old}")
    assert page.status_code == 400 and "已过期" in page.get_data(as_text=True)
    response = client.post("/api/v1/deliberation/checkin", json={"token": old})
    assert response.status_code == 422 and response.json["reason"] == "expired_token"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0


def test_checking_in_twice_records_one_attendance_and_pays_once(app_ctx, world):
    """A second check-in says 'already checked in'; one attendance row, one award under the meeting rule."""
    service.update_settings(world.committee, world.a.id, support_threshold=5, points_per_attendance=3,
                            veto_percent=30, evaluation_days=7)
    factories.confirm_rule_changes(world.a.id, world.committee2)
    meeting = make_meeting(world.committee, world.a.id)
    token, _ = service.checkin_token(meeting, now=T0)
    first = service.check_in_by_scan(world.resident, token, now=T0)
    second = service.check_in_by_scan(world.resident, token, now=T0 + timedelta(seconds=10))
    by_name = service.check_in_by_name(world.committee, world.a.id, meeting.id, world.resident.id, now=T0)
    assert first.created and second.already and by_name.already
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1
    from civic.merit.models import Claim

    awards = db.session.scalars(select(Claim)).all()
    assert [(c.source_kind, c.source_id, c.resident_id, c.points) for c in awards] == [
        ("meeting", meeting.id, world.resident.id, 3)]
    assert balance_of(world.a.id, world.resident.id) == 0  # on the notice board first
    assert factories.settle_awards(T0) == 1 and factories.settle_awards(T0 + timedelta(days=1)) == 0
    keys = db.session.scalars(select(Transaction.idempotency_key)).all()
    assert keys == [f"claim:{awards[0].id}:post"]
    assert db.session.scalar(select(Transaction.category)) == "meeting"
    assert balance_of(world.a.id, world.resident.id) == 3
    assert service.attendance_counts(meeting) == (6, 1)


def test_check_in_outside_the_session_window_is_refused(app_ctx, world):
    """Check-in opens 30 minutes before the start and closes at the end, with a clear message."""
    meeting = make_meeting(world.committee, world.a.id, starts_at=T0, hours=1)
    opens = T0 - timedelta(minutes=30)
    for when in (opens - timedelta(seconds=1), T0 + timedelta(hours=1, seconds=1)):
        token, _ = service.checkin_token(meeting, now=when)
        with pytest.raises(Conflict) as error:
            service.check_in_by_scan(world.resident, token, now=when)
        assert error.value.reason == "outside_window"
    token, _ = service.checkin_token(meeting, now=opens)
    assert service.check_in_by_scan(world.resident, token, now=opens).created
    service.close_meeting(world.committee, world.a.id, meeting.id, now=T0 + timedelta(minutes=10))
    with pytest.raises(Conflict, match="ended"):
        service.check_in_by_name(world.committee, world.a.id, meeting.id, world.resident2.id,
                                 now=T0 + timedelta(minutes=11))


def test_only_expected_people_check_in(app_ctx, world):
    """A grid session expects that grid's residents; others (or another community's) are refused."""
    grid = db.session.scalar(select(Grid).where(Grid.community_id == world.a.id))
    db.session.get(Membership, db.session.scalar(select(Membership.id).where(
        Membership.user_id == world.resident.id))).grid_id = grid.id
    meeting = make_meeting(world.committee, world.a.id, scope="grid", grid_id=grid.id)
    assert service.expected_ids(meeting) == {world.resident.id}
    token, _ = service.checkin_token(meeting, now=T0)
    with pytest.raises(PermissionDenied):
        service.check_in_by_scan(world.resident2, token, now=T0)
    with pytest.raises(PermissionDenied):
        service.check_in_by_scan(world.b_resident, token, now=T0)
    assert service.check_in_by_scan(world.resident, token, now=T0).created
    invited = make_meeting(world.committee, world.a.id, scope="invited", invitee_ids=[world.resident2.id])
    assert service.expected_ids(invited) == {world.resident2.id}
    with pytest.raises(Invalid):
        make_meeting(world.committee, world.a.id, scope="invited", invitee_ids=[world.b_resident.id])


def test_personal_card_and_check_in_by_name(app_ctx, world):
    """The organiser scans a resident's personal card or picks them by name; a foreign card is refused."""
    from civic.accounts.service import create_managed_resident

    granny = create_managed_resident(world.committee, world.a.id, "孙奶奶", address="12号")
    meeting = make_meeting(world.committee, world.a.id)
    card = service.person_token(granny)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.qr_png(card))))
    result = service.check_in_by_card(world.committee, world.a.id, meeting.id, decoded[0].text, now=T0)
    assert result.created and result.attendance.method == "card"
    assert result.attendance.recorded_by_id == world.committee.id
    assert service.check_in_by_name(world.committee, world.a.id, meeting.id, world.resident2.id, now=T0).created
    with pytest.raises(PermissionDenied):
        service.check_in_by_card(world.committee, world.a.id, meeting.id, service.person_token(world.b_resident),
                                 now=T0)
    with pytest.raises(Invalid):  # a check-in code is not a personal card
        service.check_in_by_card(world.committee, world.a.id, meeting.id, service.checkin_token(meeting, now=T0)[0],
                                 now=T0)
    with pytest.raises(PermissionDenied):
        service.check_in_by_name(world.resident, world.a.id, meeting.id, world.resident.id, now=T0)


@pytest.mark.postgres
def test_concurrent_double_check_in_records_one(app, world):
    """Eight simultaneous check-ins of one person (double taps, two devices) leave one attendance and one award."""
    with app.app_context():
        meeting = make_meeting(world.committee, world.a.id, starts_at=utcnow())
        db.session.commit()
        token, _ = service.checkin_token(meeting)
        meeting_id = meeting.id
    barrier = threading.Barrier(8)
    outcomes = []

    def attempt():
        with app.app_context():
            from civic.accounts.models import User

            user = db.session.get(User, world.resident.id)
            barrier.wait()
            outcomes.append(service.check_in_by_scan(user, token).created)
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] * 7 + [True]
    with app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(Attendance).where(Attendance.meeting_id == meeting_id)) == 1
        from civic.merit.models import Claim

        assert db.session.scalar(select(func.count()).select_from(Claim)) == 1  # one award on the notice board
        assert factories.settle_awards(utcnow()) == 1
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Transaction)) == 1
        assert balance_of(world.a.id, world.resident.id) == 2


# --- step 4: votes, quorum, majority, veto ------------------------------------------------------

def _voting_item(world, *, major=False, **meeting_fields):
    meeting = make_meeting(world.committee, world.a.id, **meeting_fields)
    item = service.add_agenda_item(world.committee, world.a.id, meeting.id, "更换小区大门", is_major=major)
    return meeting, item


def test_one_vote_per_checked_in_person(app_ctx, world):
    """Only checked-in participants vote, once each, and only while the vote is open."""
    meeting, item = _voting_item(world)
    service.check_in_by_name(world.committee, world.a.id, meeting.id, world.resident.id, now=T0)
    with pytest.raises(Conflict):
        service.cast_vote(world.resident, world.a.id, item.id, "for")
    service.open_vote(world.committee, world.a.id, item.id)
    with pytest.raises(PermissionDenied) as absent:
        service.cast_vote(world.resident2, world.a.id, item.id, "for")
    assert absent.value.reason == "not_present"
    service.cast_vote(world.resident, world.a.id, item.id, "for")
    with pytest.raises(Conflict) as twice:
        service.cast_vote(world.resident, world.a.id, item.id, "against")
    assert twice.value.reason == "already_voted"
    with pytest.raises(Invalid):
        service.cast_vote(world.resident, world.a.id, item.id, "maybe")
    assert db.session.scalar(select(func.count()).select_from(Vote)) == 1
    assert service.vote_counts(item) == {"for": 1, "against": 0, "abstain": 0}


def test_the_database_refuses_a_second_vote(app_ctx, world):
    """The unique constraint holds even if code forgot to check."""
    from sqlalchemy.exc import IntegrityError

    _meeting, item = _voting_item(world)
    db.session.add(Vote(community_id=world.a.id, item_id=item.id, user_id=world.resident.id, choice="for"))
    db.session.flush()
    db.session.add(Vote(community_id=world.a.id, item_id=item.id, user_id=world.resident.id, choice="against"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("count, percent, present, expected, met", [
    (3, 0, 3, 10, True), (3, 0, 2, 10, False),          # at least N
    (0, 50, 5, 10, True), (0, 50, 4, 10, False),        # exactly half is enough; one fewer is not
    (0, 67, 67, 100, True), (0, 67, 66, 100, False),
    (0, 50, 3, 5, True), (0, 50, 2, 5, False),          # 2.5 needed: 3 present
    (4, 50, 4, 6, True), (4, 50, 3, 6, False), (4, 50, 4, 9, False),  # both rules at once
])
def test_quorum_at_its_boundaries(count, percent, present, expected, met):
    """Quorum: at least N present and at least P% of those expected."""
    assert service.quorum_met(count, percent, present, expected) is met


@pytest.mark.parametrize("majority, votes, passed", [
    ("simple", (3, 2, 0), True), ("simple", (2, 2, 0), False), ("simple", (2, 1, 1), False),
    ("simple", (3, 1, 1), True), ("simple", (0, 0, 0), False), ("simple", (1, 0, 0), True),
    ("two_thirds", (2, 1, 0), True), ("two_thirds", (3, 2, 0), False), ("two_thirds", (4, 2, 0), True),
    ("two_thirds", (4, 1, 1), True), ("two_thirds", (6, 3, 1), False),
])
def test_majority_at_its_boundaries(majority, votes, passed):
    """Simple majority: more than half of the votes cast; two thirds: at least two thirds (abstentions are cast)."""
    assert service.majority_passed(majority, *votes) is passed


def test_closing_the_vote_applies_quorum_then_majority(app_ctx, world):
    """With 6 expected and a 50% quorum, 2 present fail for want of quorum; 3 present adopt on a majority."""
    meeting, first = _voting_item(world, quorum_percent=50)
    second = service.add_agenda_item(world.committee, world.a.id, meeting.id, "第二项")
    for person in (world.resident, world.resident2):
        service.check_in_by_name(world.committee, world.a.id, meeting.id, person.id, now=T0)
    service.open_vote(world.committee, world.a.id, first.id)
    service.cast_vote(world.resident, world.a.id, first.id, "for")
    service.cast_vote(world.resident2, world.a.id, first.id, "for")
    assert service.close_vote(world.committee, world.a.id, first.id, now=T0).status == "no_quorum"
    assert (first.present, first.expected, first.votes_for) == (2, 6, 2)
    service.check_in_by_name(world.committee, world.a.id, meeting.id, world.coordinator.id, now=T0)
    service.open_vote(world.committee, world.a.id, second.id)
    service.cast_vote(world.resident, world.a.id, second.id, "for")
    service.cast_vote(world.resident2, world.a.id, second.id, "for")
    service.cast_vote(world.coordinator, world.a.id, second.id, "against")
    assert service.close_vote(world.committee, world.a.id, second.id, now=T0).status == "adopted"


def _evaluating(world, veto_percent=30, days=7):
    service.update_settings(world.committee, world.a.id, support_threshold=5, points_per_attendance=0,
                            veto_percent=veto_percent, evaluation_days=days)
    factories.confirm_rule_changes(world.a.id, world.committee2)
    meeting, item = _voting_item(world, major=True)
    service.check_in_by_name(world.committee, world.a.id, meeting.id, world.resident.id, now=T0)
    service.open_vote(world.committee, world.a.id, item.id)
    service.cast_vote(world.resident, world.a.id, item.id, "for")
    service.close_vote(world.committee, world.a.id, item.id, now=T0)
    return item


def test_veto_at_its_exact_threshold(app_ctx, world):
    """6 residents, veto at 30%: ceil(1.8) = 2 objections veto; 1 does not; objecting twice is refused."""
    item = _evaluating(world)
    assert item.status == "evaluating" and item.veto_needed == 2
    assert item.evaluation_ends_at == T0 + timedelta(days=7)
    service.object_to_item(world.resident2, world.a.id, item.id, "太贵", now=T0 + timedelta(days=1))
    assert item.status == "evaluating"
    with pytest.raises(Conflict):
        service.object_to_item(world.resident2, world.a.id, item.id, now=T0 + timedelta(days=1))
    service.object_to_item(world.coordinator, world.a.id, item.id, now=T0 + timedelta(days=2))
    assert item.status == "vetoed" and item.objections == 2
    with pytest.raises(Conflict):
        service.object_to_item(world.shopkeeper, world.a.id, item.id, now=T0 + timedelta(days=2))
    with pytest.raises(PermissionDenied):
        service.object_to_item(world.b_resident, world.a.id, item.id, now=T0 + timedelta(days=2))


@pytest.mark.parametrize("percent, residents_count, needed", [(30, 6, 2), (50, 6, 3), (34, 6, 3), (33, 6, 2),
                                                             (100, 6, 6), (1, 6, 1), (30, 0, 1)])
def test_veto_threshold_rounds_up(percent, residents_count, needed):
    """The veto needs veto_percent of the active residents, rounded up, at least one."""
    assert service.veto_needed(percent, residents_count) == needed


def test_evaluation_ends_in_adoption_below_the_threshold(app_ctx, world):
    """One objection short of the veto: when the period ends the worker adopts the item; late objections fail."""
    item = _evaluating(world, veto_percent=50, days=3)
    assert item.veto_needed == 3
    service.object_to_item(world.resident2, world.a.id, item.id, now=T0 + timedelta(days=1))
    service.object_to_item(world.coordinator, world.a.id, item.id, now=T0 + timedelta(days=2))
    assert service.finish_evaluations(now=T0 + timedelta(days=3) - timedelta(seconds=1)) == 0
    with pytest.raises(Conflict):
        service.object_to_item(world.shopkeeper, world.a.id, item.id, now=T0 + timedelta(days=3))
    assert service.finish_evaluations(now=T0 + timedelta(days=3)) == 1
    assert item.status == "adopted"
    assert service.finish_evaluations(now=T0 + timedelta(days=4)) == 0


# --- step 5: implementation ---------------------------------------------------------------------

def test_implementation_progress_and_satisfaction(app_ctx, world):
    """The responsible person posts progress and completes; residents rate 1–5 once each."""
    meeting, item = _voting_item(world)
    service.check_in_by_name(world.committee, world.a.id, meeting.id, world.resident.id, now=T0)
    service.open_vote(world.committee, world.a.id, item.id)
    service.cast_vote(world.resident, world.a.id, item.id, "for")
    service.close_vote(world.committee, world.a.id, item.id, now=T0)
    assert item.status == "adopted"
    with pytest.raises(PermissionDenied):
        service.add_progress(world.coordinator, world.a.id, item.id, "开工了")
    with pytest.raises(Invalid):
        service.assign_responsible(world.committee, world.a.id, item.id, world.b_resident.id)
    service.assign_responsible(world.committee, world.a.id, item.id, world.coordinator.id)
    photo = factories.make_upload(world.a, world.coordinator, "a" * 32 + ".jpg")
    update = service.add_progress(world.coordinator, world.a.id, item.id, "开工了", [photo])
    assert update.photos == ["a" * 32 + ".jpg"]
    with pytest.raises(Conflict):
        service.rate_item(world.resident, world.a.id, item.id, 5)
    service.complete_item(world.coordinator, world.a.id, item.id, now=T0 + timedelta(days=10))
    service.rate_item(world.resident, world.a.id, item.id, 5)
    service.rate_item(world.resident2, world.a.id, item.id, 4)
    with pytest.raises(Conflict):
        service.rate_item(world.resident, world.a.id, item.id, 1)
    for bad in (0, 6, True):
        with pytest.raises(Invalid):
            service.rate_item(world.shopkeeper, world.a.id, item.id, bad)
    assert service.rating_summary(item) == (4.5, 2)
    with pytest.raises(Conflict):
        service.add_progress(world.coordinator, world.a.id, item.id, "再补充")


# --- jobs -----------------------------------------------------------------------------------------

def test_invitations_and_reminders_are_sent_once(app_ctx, world):
    """The worker invites everyone expected once, and reminds them once two hours before."""
    meeting = make_meeting(world.committee, world.a.id, starts_at=T0 + timedelta(days=2))
    assert service.send_invitations(now=T0) == 1
    assert service.send_invitations(now=T0 + timedelta(minutes=1)) == 0
    invited = db.session.scalars(
        select(Notification.user_id).where(Notification.kind == "deliberation.invitation")).all()
    assert sorted(invited) == sorted(u.id for u in residents(world))
    assert service.send_reminders(now=T0) == 0
    assert service.send_reminders(now=meeting.starts_at - timedelta(hours=2)) == 1
    assert service.send_reminders(now=meeting.starts_at - timedelta(hours=1)) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "deliberation.reminder")) == 6


def test_worker_runs_the_deliberation_jobs(app, world):
    """The jobs are registered with the worker and run in their own transaction."""
    from civic.worker import JOBS, load_jobs, run_job

    load_jobs()
    assert {"deliberation_invitations", "deliberation_reminders", "deliberation_evaluations"} <= set(JOBS)
    with app.app_context():
        make_meeting(world.committee, world.a.id, starts_at=utcnow() + timedelta(days=1))
        db.session.commit()
    assert run_job(app, "deliberation_invitations") == 1
    assert run_job(app, "deliberation_invitations") == 0


# --- the whole process through the API ------------------------------------------------------------

def test_five_steps_through_the_api(api_token, app, client, world):
    """Propose → support → agenda → session with check-in and vote → evaluation → implementation, all by API."""
    base = f"/api/v1/deliberation/communities/{world.a.id}"
    committee, resident, resident2 = (api_token(p) for p in (world.committee.phone, world.resident.phone,
                                                                    world.resident2.phone))
    assert client.put(f"{base}/settings", json={"support_threshold": 1, "points_per_attendance": 5, "veto_percent": 50,
                                                "evaluation_days": 3}, headers=committee).status_code == 200
    with app.app_context():  # a second committee member confirms the new attendance points (four eyes)
        factories.confirm_rule_changes(world.a.id, db.session.merge(world.committee2))
        db.session.commit()
    topic = client.post(f"{base}/topics", json={"title": "小区健身器材", "description": "旧了"}, headers=resident)
    assert topic.status_code == 201 and topic.json["status"] == "proposed"
    tid = topic.json["id"]
    supported = client.post(f"{base}/topics/{tid}/support", headers=resident2)
    assert supported.json["status"] == "committee"
    assert client.post(f"{base}/topics/{tid}/support", headers=resident2).status_code == 409
    now = utcnow()
    meeting = client.post(f"{base}/meetings", headers=committee, json={
        "title": "居民议事厅", "kind": "hall", "place": "会议室",
        "starts_at": (now - timedelta(minutes=5)).isoformat() + "Z",
        "ends_at": (now + timedelta(hours=2)).isoformat() + "Z", "quorum_percent": 30, "majority": "two_thirds"})
    assert meeting.status_code == 201, meeting.json
    mid = meeting.json["id"]
    assert meeting.json["expected"] == 6 and meeting.json["present"] == 0
    review = client.post(f"{base}/topics/{tid}/review", json={"action": "agenda", "meeting_id": mid, "is_major": True},
                         headers=committee)
    assert review.json["status"] == "scheduled"
    item_id = client.get(f"{base}/meetings/{mid}", headers=resident).json["items"][0]["id"]
    code = client.get(f"{base}/meetings/{mid}/code", headers=committee).json
    assert client.get(f"{base}/meetings/{mid}/code", headers=resident).status_code == 403
    first = client.post("/api/v1/deliberation/checkin", json={"token": code["url"]}, headers=resident)
    assert first.status_code == 200 and first.json["already"] is False and first.json["present"] == 1
    assert client.post("/api/v1/deliberation/checkin", json={"token": code["token"]}, headers=resident).json["already"]
    by_name = client.post(f"{base}/meetings/{mid}/attendance", json={"user_id": world.resident2.id}, headers=committee)
    assert by_name.status_code == 200 and by_name.json["present"] == 2
    assert client.post(f"{base}/meetings/{mid}/attendance", json={}, headers=committee).status_code == 422
    assert client.post(f"{base}/items/{item_id}/voting", json={"open": True},
                       headers=committee).json["status"] == "voting"
    assert client.post(f"{base}/items/{item_id}/vote", json={"choice": "for"}, headers=resident).status_code == 201
    assert client.post(f"{base}/items/{item_id}/vote", json={"choice": "for"}, headers=resident).status_code == 409
    assert client.post(f"{base}/items/{item_id}/vote", json={"choice": "for"}, headers=resident2).status_code == 201
    closed = client.post(f"{base}/items/{item_id}/voting", json={"open": False}, headers=committee).json
    assert closed["status"] == "evaluating" and closed["veto_needed"] == 3
    assert client.post(f"{base}/meetings/{mid}/minutes", json={"minutes": "一致同意"},
                       headers=committee).status_code == 200
    assert client.post(f"{base}/meetings/{mid}/close", headers=committee).json["status"] == "closed"
    objection = client.post(f"{base}/items/{item_id}/objection", json={"reason": "噪音"}, headers=resident2)
    assert objection.status_code == 201 and objection.json["objections"] == 1
    with app.app_context():
        assert service.finish_evaluations(now=utcnow() + timedelta(days=3, minutes=1)) == 1
        db.session.commit()
    assert client.get(f"{base}/items/{item_id}", headers=resident).json["status"] == "adopted"
    assert client.post(f"{base}/items/{item_id}/responsible", json={"user_id": world.resident.id},
                       headers=committee).status_code == 200
    assert client.post(f"{base}/items/{item_id}/progress", json={"text": "已采购"}, headers=resident).status_code == 201
    assert client.post(f"{base}/items/{item_id}/progress", json={"text": "x"}, headers=resident2).status_code == 403
    assert client.post(f"{base}/items/{item_id}/complete", headers=resident).json["completed_at"]
    rating = client.post(f"{base}/items/{item_id}/rating", json={"score": 4}, headers=resident2)
    assert rating.status_code == 201 and rating.json["average"] == 4.0
    assert client.post(f"{base}/items/{item_id}/rating", json={"score": 9}, headers=resident).status_code == 422
    assert client.get(f"{base}/items/{item_id}/progress", headers=resident2).json[0]["text"] == "已采购"
    with app.app_context():
        factories.settle_awards(utcnow())
        db.session.commit()
        assert balance_of(world.a.id, world.resident.id) == 5 and balance_of(world.a.id, world.resident2.id) == 5


def test_api_refuses_other_communities_and_garbage(api_token, client, world):
    """Another community's committee gets 403; bad bodies get 422, never 500."""
    base = f"/api/v1/deliberation/communities/{world.a.id}"
    other = api_token(world.b_committee)
    committee = api_token(world.committee)
    assert client.get(f"{base}/topics", headers=other).status_code == 403
    for payload in ({"title": ""}, {"title": 5}, {"title": "x", "starts_at": "nope", "place": "p", "ends_at": 3}):
        response = client.post(f"{base}/meetings", json=payload, headers=committee)
        assert response.status_code == 422 and response.is_json
    response = client.post(f"{base}/meetings", headers=committee, json={
        "title": "x", "place": "p", "starts_at": "2026-05-01T10:00:00", "ends_at": "2026-05-01T09:00:00"})
    assert response.status_code == 422 and "结束" in response.json["message"]
    assert client.post("/api/v1/deliberation/checkin", json={"token": "garbage"}, headers=committee).status_code == 422
    assert client.get(f"{base}/meetings/999", headers=committee).status_code == 404


# --- pages and exports ----------------------------------------------------------------------------

def test_pages_walk_a_topic_through_every_step(app, client, auth, world):
    """The HTML pages take a topic with a photo from proposal to published results, exports and rating."""
    c = world.a.id
    auth.login(world.resident.phone)
    assert client.get("/deliberation").status_code == 302
    assert client.get(f"/c/{c}/deliberation").status_code == 200
    def jpeg():
        out = io.BytesIO()
        Image.new("RGB", (40, 30), "red").save(out, "JPEG")
        out.seek(0)
        return out

    response = client.post(f"/c/{c}/deliberation/topics/new", data={
        "title": "垃圾分类点太远", "description": "老人走不动", "photos": [(jpeg(), "a.jpg")]},
        content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        topic = db.session.scalar(select(Topic))
        assert len(topic.photos) == 1
        tid = topic.id
    page = client.get(f"/c/{c}/deliberation/topics/{tid}").get_data(as_text=True)
    assert "垃圾分类点太远" in page and "/uploads/" in page
    assert client.get("/deliberation/card").status_code == 200
    auth.logout()
    auth.login(world.committee.phone)
    local = (utcnow() + timedelta(hours=8) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    local_end = (utcnow() + timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/c/{c}/deliberation/meetings/new", data={
        "title": "五月议事会", "kind": "custom", "custom_kind": "楼栋议事会", "place": "3号楼下", "starts_at": local,
        "ends_at": local_end, "scope": "community", "grid_id": "0", "quorum_count": "1", "quorum_percent": "0",
        "majority": "simple"})
    assert response.status_code == 302, response.get_data(as_text=True)
    mid = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert client.post(f"/c/{c}/deliberation/topics/{tid}/review",
                       data={"action": "agenda", "meeting_id": mid}).status_code == 302
    for path in ("", "/screen", "/attendance", "/print", "/code.json"):
        assert client.get(f"/c/{c}/deliberation/meetings/{mid}{path}").status_code == 200, path
    client.post(f"/c/{c}/deliberation/meetings/{mid}/attendance", data={"user_id": world.resident.id})
    with app.app_context():
        item_id = db.session.scalar(select(AgendaItem.id))
    client.post(f"/c/{c}/deliberation/items/{item_id}/voting", data={"choice": "open"})
    auth.logout()
    auth.login(world.resident.phone)
    meeting_page = client.get(f"/c/{c}/deliberation/meetings/{mid}").get_data(as_text=True)
    assert "赞成" in meeting_page and "楼栋议事会" in meeting_page
    client.post(f"/c/{c}/deliberation/items/{item_id}/vote", data={"choice": "for"})
    again = client.post(f"/c/{c}/deliberation/items/{item_id}/vote", data={"choice": "for"}, follow_redirects=True)
    assert "您已经对这一项投过票了" in again.get_data(as_text=True)
    auth.logout()
    auth.login(world.committee.phone)
    client.post(f"/c/{c}/deliberation/items/{item_id}/voting", data={"choice": "close"})
    client.post(f"/c/{c}/deliberation/meetings/{mid}/minutes", data={"minutes": "同意把垃圾点移到3号楼旁"})
    assert client.post(f"/c/{c}/deliberation/meetings/{mid}/close", data={}).status_code == 302
    notice = client.get(f"/c/{c}/deliberation/meetings/{mid}/notice").get_data(as_text=True)
    assert "已通过" in notice and "同意把垃圾点移到3号楼旁" in notice
    attendance_csv = client.get(f"/c/{c}/deliberation/meetings/{mid}/attendance.csv")
    assert attendance_csv.mimetype == "text/csv" and "刘阿姨" in attendance_csv.get_data(as_text=True)
    minutes_csv = client.get(f"/c/{c}/deliberation/meetings/{mid}/minutes.csv").get_data(as_text=True)
    assert "垃圾分类点太远" in minutes_csv and "同意把垃圾点移到3号楼旁" in minutes_csv
    client.post(f"/c/{c}/deliberation/items/{item_id}/responsible", data={"user_id": world.coordinator.id})
    assert client.post(f"/c/{c}/deliberation/items/{item_id}/progress", data={
        "text": "已经搬好", "photos": [(jpeg(), "b.jpg")]}, content_type="multipart/form-data").status_code == 302
    client.post(f"/c/{c}/deliberation/items/{item_id}/complete", data={})
    auth.logout()
    auth.login(world.resident.phone)
    client.post(f"/c/{c}/deliberation/items/{item_id}/rate", data={"score": "5", "comment": "好"})
    item_page = client.get(f"/c/{c}/deliberation/items/{item_id}").get_data(as_text=True)
    assert "已经搬好" in item_page and "您的评分：5" in item_page
    assert client.get(f"/c/{c}/deliberation/meetings/{mid}/screen").status_code == 403


def test_bad_form_input_is_a_clear_message_not_a_500(client, auth, world):
    """Nonsense in forms comes back as a message on the page."""
    c = world.a.id
    auth.login(world.committee.phone)
    response = client.post(f"/c/{c}/deliberation/meetings/new", data={
        "title": "x", "kind": "council", "place": "p", "starts_at": "2026-05-01T10:00", "ends_at": "2026-05-01T09:00",
        "scope": "community", "grid_id": "0", "quorum_count": "0", "quorum_percent": "50", "majority": "simple"},
        follow_redirects=True)
    assert response.status_code == 200 and "结束时间" in response.get_data(as_text=True)
    for url, data in ((f"/c/{c}/deliberation/topics/999/support", {}), (f"/c/{c}/deliberation/items/abc/vote", {}),
                      (f"/c/{c}/deliberation/meetings/999/attendance", {"user_id": "x"})):
        assert 400 <= client.post(url, data=data).status_code < 500, url
    empty_title = client.post(f"/c/{c}/deliberation/topics/new", data={"title": ""})
    assert empty_title.status_code == 200 and "必填" in empty_title.get_data(as_text=True)
    assert client.get("/checkin?t=garbage").status_code == 400
