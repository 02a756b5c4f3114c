"""Merit claims through the service: catalogue, claims, review, caps, the public notice, objections,
posting to the ledger by the scheduled job, and the daily digest."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Transaction
from civic.merit import service
from civic.merit.models import Claim, DigestSent, MeritObjection
from civic.notifications.models import Notification
from tests import factories
from tests.merit.conftest import T0


def _claim(world, rule_id, who=None, now=T0, **kw):
    kw.setdefault("description", "帮邻居搬家")
    return service.submit_claim(who or world.resident, world.a.id, rule_id, now=now, **kw)


def _on_notice(world, rule_id, points=None, now=T0, who=None):
    claim = _claim(world, rule_id, who=who, now=now)
    service.approve_claim(world.committee, world.a.id, claim.id, points, now=now)
    assert claim.status == "notice"
    return claim


def _kinds(user_id):
    """The merit notifications a person received, in order (other parts add their own, e.g. badges)."""
    return db.session.scalars(select(Notification.kind).where(
        Notification.user_id == user_id, Notification.kind.like("merit.%")).order_by(Notification.id)).all()


# --- catalogue ----------------------------------------------------------------------------------

def test_the_five_default_categories_and_custom_ones(app_ctx, world):
    """The catalogue starts with the seed's five categories; the committee renames and adds; residents cannot."""
    codes = [c.code for c in service.categories(world.a.id)]
    assert codes[:5] == ["moral", "poverty", "filial", "labour", "environment"]
    moral = service.categories(world.a.id)[0]
    service.rename_category(world.committee, world.a.id, moral.id, "文明新风")
    added = service.add_category(world.committee, world.a.id, "移风易俗")
    names = [c.name for c in service.categories(world.a.id)]
    assert "文明新风" in names and names[-1] == "移风易俗" and added.code.startswith("custom-")
    with pytest.raises(PermissionDenied):
        service.add_category(world.resident, world.a.id, "x")
    with pytest.raises(NotFound):  # another community's category
        other = service.categories(world.b.id)[0]
        service.rename_category(world.committee, world.a.id, other.id, "x")


def test_rule_validation(app_ctx, world):
    """Points are whole and ranges ordered; a limit needs a number; only the committee edits."""
    cat = service.categories(world.a.id)[0].id
    good = {"category_id": cat, "name": "孝敬老人", "points_min": 3, "points_max": 8}
    for bad in ({"points_min": 0}, {"points_min": 5, "points_max": 4}, {"name": " "},
                {"cap_period": "month"}, {"cap_period": "week", "cap_times": 1}, {"kind": "gift"}):
        with pytest.raises(Invalid):
            service.create_rule(world.committee, world.a.id, {**good, **bad})
    with pytest.raises(PermissionDenied):
        service.create_rule(world.coordinator, world.a.id, good)
    rule = service.create_rule(world.committee, world.a.id, {**good, "points_max": None})
    assert rule.points_min == rule.points_max == 3 and rule.fixed


def test_claim_keeps_the_rule_as_it_was(app_ctx, world, rules):
    """Editing an item later changes neither a pending claim nor the points it may be granted."""
    claim = _claim(world, rules.range)
    rule = service.get_rule(world.a.id, rules.range)
    service.update_rule(world.committee, world.a.id, rule.id, {
        "category_id": rule.category_id, "name": "打扫楼道", "points_min": 20, "points_max": 30})
    assert (claim.rule_name, claim.points_min, claim.points_max) == ("清扫街道", 2, 10)
    service.approve_claim(world.committee, world.a.id, claim.id, 10, now=T0)
    assert claim.points == 10 and claim.rule_name == "清扫街道"


def test_inactive_item_and_foreign_item_cannot_be_claimed(app_ctx, world, rules):
    """An item no longer offered, or another community's, cannot be claimed."""
    rule = service.get_rule(world.a.id, rules.fixed)
    rule.active = False
    with pytest.raises(Conflict):
        _claim(world, rules.fixed)
    with pytest.raises(NotFound):
        service.submit_claim(world.b_resident, world.b.id, rules.range, description="在别村申报")


# --- claims and review ---------------------------------------------------------------------------

def test_points_range_is_checked_at_its_boundaries(app_ctx, world, rules):
    """Approval points must be within the claimed item's range: 1 and 11 refused, 2 and 10 accepted."""
    for points in (1, 11, None):
        claim = _claim(world, rules.range)
        with pytest.raises(Invalid):
            service.approve_claim(world.committee, world.a.id, claim.id, points, now=T0)
        assert claim.status == "pending"
    for points in (2, 10):
        claim = _claim(world, rules.range)
        service.approve_claim(world.committee, world.a.id, claim.id, points, now=T0)
        assert claim.points == points and claim.status == "notice"


def test_fixed_item_needs_no_points(app_ctx, world, rules):
    """A fixed item is approved with its own points."""
    claim = _on_notice(world, rules.fixed)
    assert claim.points == 5 and claim.notice_ends_at == T0 + timedelta(days=3)


def test_description_photos_and_evidence(app_ctx, world, rules):
    """A description is needed; at most three photos; an item that needs evidence needs a photo."""
    with pytest.raises(Invalid):
        _claim(world, rules.fixed, description="x")
    photo = factories.make_upload(world.a, world.resident, "a" * 32 + ".jpg")
    with pytest.raises(Invalid):
        _claim(world, rules.fixed, photos=[photo] * 4)
    with pytest.raises(Invalid):
        _claim(world, rules.fixed, photos=["../../etc/passwd"])
    with pytest.raises(Invalid):
        _claim(world, rules.photo)
    assert _claim(world, rules.photo, photos=[photo] * 3).photos == [photo] * 3


def test_nobody_reviews_their_own_claim(app_ctx, world, rules):
    """A committee member cannot approve or reject their own claim, nor one they recorded."""
    own = _claim(world, rules.fixed, who=world.committee)
    for act in (lambda: service.approve_claim(world.committee, world.a.id, own.id, now=T0),
                lambda: service.reject_claim(world.committee, world.a.id, own.id, "不行", now=T0)):
        with pytest.raises(PermissionDenied):
            act()
    recorded = _claim(world, rules.fixed, who=world.committee, resident_id=world.resident.id)
    with pytest.raises(PermissionDenied):
        service.approve_claim(world.committee, world.a.id, recorded.id, now=T0)
    service.approve_claim(world.committee2, world.a.id, recorded.id, now=T0)
    assert recorded.status == "notice" and recorded.first_approver_id == world.committee2.id


def test_only_this_communitys_committee_reviews(app_ctx, world, rules):
    """Residents, grid leaders and another community's committee cannot approve."""
    claim = _claim(world, rules.fixed)
    for actor in (world.resident2, world.coordinator, world.b_committee):
        with pytest.raises(PermissionDenied):
            service.approve_claim(actor, world.a.id, claim.id, now=T0)
    with pytest.raises(NotFound):  # the claim is looked up within the community
        service.approve_claim(world.b_committee, world.b.id, claim.id, now=T0)


def test_second_approver_above_the_threshold(app_ctx, world, rules):
    """At the threshold one approval is enough; above it a second, different member must approve."""
    settings = service.settings_for(world.a.id)
    settings.second_approval_above = 30
    at = _claim(world, rules.big)
    service.approve_claim(world.committee, world.a.id, at.id, 30, now=T0)
    assert at.status == "notice" and at.second_approver_id is None
    above = _claim(world, rules.big)
    service.approve_claim(world.committee, world.a.id, above.id, 31, now=T0)
    assert above.status == "second"
    assert "merit.second_approval" in _kinds(world.committee2.id)
    with pytest.raises(PermissionDenied):
        service.approve_claim(world.committee, world.a.id, above.id, now=T0)
    with pytest.raises(Invalid):  # the second approval confirms the points, it does not change them
        service.approve_claim(world.committee2, world.a.id, above.id, 40, now=T0)
    service.approve_claim(world.committee2, world.a.id, above.id, now=T0 + timedelta(hours=1))
    assert above.status == "notice" and above.second_approver_id == world.committee2.id
    assert above.notice_ends_at == T0 + timedelta(days=3, hours=1)
    with pytest.raises(Conflict):
        service.approve_claim(world.committee2, world.a.id, above.id, now=T0)


def test_second_approver_may_reject(app_ctx, world, rules):
    """The second member can turn the claim down; the resident is told the reason."""
    claim = _claim(world, rules.big)
    service.approve_claim(world.committee, world.a.id, claim.id, 50, now=T0)
    with pytest.raises(Invalid):
        service.reject_claim(world.committee2, world.a.id, claim.id, " ", now=T0)
    service.reject_claim(world.committee2, world.a.id, claim.id, "证据不足", now=T0)
    assert claim.status == "rejected" and claim.reject_reason == "证据不足"
    assert _kinds(world.resident.id)[-1] == "merit.rejected"


def test_caps_per_month_at_their_boundaries(app_ctx, world, rules):
    """At most 2 times and 8 points a month: the limit is reached exactly, passed never; next month is new."""
    first = _claim(world, rules.capped)
    service.approve_claim(world.committee, world.a.id, first.id, 5, now=T0)
    second = _claim(world, rules.capped)
    with pytest.raises(Conflict) as error:  # 5 + 4 > 8
        service.approve_claim(world.committee, world.a.id, second.id, 4, now=T0)
    assert error.value.reason == "cap_reached"
    service.approve_claim(world.committee, world.a.id, second.id, 3, now=T0)  # 5 + 3 = 8
    third = _claim(world, rules.capped)
    with pytest.raises(Conflict):  # a third time in March
        service.approve_claim(world.committee, world.a.id, third.id, 2, now=T0)
    # A rejected claim does not count; another resident has their own limit.
    other = _claim(world, rules.capped, who=world.resident2)
    service.approve_claim(world.committee, world.a.id, other.id, 5, now=T0)
    # 1 April 00:00 China time is 31 March 16:00 UTC: a new month.
    april = _claim(world, rules.capped, now=T0.replace(day=31, hour=16))
    service.approve_claim(world.committee, world.a.id, april.id, 5, now=T0.replace(day=31, hour=16))
    just_before = _claim(world, rules.capped, now=T0.replace(day=31, hour=15, minute=59))
    with pytest.raises(Conflict):  # still March in China
        service.approve_claim(world.committee, world.a.id, just_before.id, 2, now=T0)


def test_deductions_are_recorded_by_committee_or_grid_leader(app_ctx, world, rules):
    """A resident cannot claim a deduction; a grid leader records one, the committee reviews it."""
    with pytest.raises(PermissionDenied):
        _claim(world, rules.deduction)
    with pytest.raises(PermissionDenied):  # a plain resident cannot record for someone else
        _claim(world, rules.fixed, who=world.resident2, resident_id=world.resident.id)
    with pytest.raises(NotFound):  # only for residents of this community
        _claim(world, rules.deduction, who=world.coordinator, resident_id=world.b_resident.id)
    claim = _claim(world, rules.deduction, who=world.coordinator, resident_id=world.resident.id,
                   description="在河边乱扔垃圾")
    assert claim.kind == "deduction" and claim.created_by_id == world.coordinator.id
    assert "merit.deduction_recorded" in _kinds(world.resident.id)
    service.approve_claim(world.committee, world.a.id, claim.id, now=T0)
    assert claim.status == "notice" and claim.signed_points == -10


def test_request_key_makes_one_claim(app_ctx, world, rules):
    """The same request key returns the first claim; other content under the key is refused."""
    first = _claim(world, rules.fixed, request_key="k-1")
    again = _claim(world, rules.fixed, request_key="k-1")
    assert again.id == first.id
    with pytest.raises(Conflict) as error:
        _claim(world, rules.fixed, request_key="k-1", description="另一件事")
    assert error.value.reason == "idempotency_conflict"
    assert db.session.scalar(select(func.count(Claim.id))) == 1


# --- the public notice and objections ------------------------------------------------------------

def test_one_objection_per_resident_and_item(app_ctx, world, rules):
    """A resident objects once; the owner cannot object; outsiders cannot; a reason is required."""
    claim = _on_notice(world, rules.fixed)
    with pytest.raises(Invalid):
        service.object_to_claim(world.resident2, world.a.id, claim.id, "", now=T0)
    service.object_to_claim(world.resident2, world.a.id, claim.id, "他没去", now=T0)
    assert claim.status == "objected"
    with pytest.raises(Conflict):
        service.object_to_claim(world.resident2, world.a.id, claim.id, "再说一次", now=T0)
    with pytest.raises(PermissionDenied):
        service.object_to_claim(world.resident, world.a.id, claim.id, "我反对我自己", now=T0)
    for outsider in (world.b_resident, world.outsider):
        with pytest.raises(PermissionDenied):
            service.object_to_claim(outsider, world.a.id, claim.id, "不认识", now=T0)
    service.object_to_claim(world.coordinator, world.a.id, claim.id, "我也反对", now=T0)  # a second neighbour may
    assert db.session.scalar(select(func.count(MeritObjection.id))) == 2
    assert "merit.objected" in _kinds(world.resident.id)
    assert "merit.objection" in _kinds(world.committee.id)


def test_objections_only_during_the_notice_period(app_ctx, world, rules):
    """Objections are refused before approval and once the period has ended."""
    pending = _claim(world, rules.fixed)
    with pytest.raises(Conflict):
        service.object_to_claim(world.resident2, world.a.id, pending.id, "还没公示", now=T0)
    claim = _on_notice(world, rules.fixed)
    with pytest.raises(Conflict):
        service.object_to_claim(world.resident2, world.a.id, claim.id, "太晚了", now=claim.notice_ends_at)
    service.object_to_claim(world.resident2, world.a.id, claim.id, "刚好赶上",
                            now=claim.notice_ends_at - timedelta(seconds=1))


def test_upheld_objection_cancels_with_the_reason_published(app_ctx, world, rules):
    """Upholding cancels the item (all objections upheld), publishes the reason, and it is never posted."""
    claim = _on_notice(world, rules.fixed)
    a = service.object_to_claim(world.resident2, world.a.id, claim.id, "他没去", now=T0)
    b = service.object_to_claim(world.committee2, world.a.id, claim.id, "确实没去", now=T0)
    with pytest.raises(PermissionDenied):  # nobody decides their own objection
        service.decide_objection(world.committee2, world.a.id, b.id, True, "我说了算")
    with pytest.raises(Invalid):
        service.decide_objection(world.committee, world.a.id, a.id, True, "")
    service.decide_objection(world.committee, world.a.id, a.id, True, "经核实当天未参加", now=T0)
    assert claim.status == "cancelled" and claim.cancel_reason == "经核实当天未参加"
    assert a.status == b.status == "upheld"
    board = service.notice_board(world.resident2, world.a.id, now=T0)
    assert [c.id for c in board["cancelled"]] == [claim.id] and not board["on_notice"]
    assert service.close_notices(now=T0 + timedelta(days=30)) == 0
    assert ledger.balance_of(world.a.id, world.resident.id) == 0
    assert "merit.cancelled" in _kinds(world.resident.id)
    assert "merit.objection_upheld" in _kinds(world.committee2.id)
    with pytest.raises(Conflict):
        service.decide_objection(world.committee2, world.a.id, a.id, False, "再议")


def test_dismissed_objection_restarts_the_notice_period(app_ctx, world, rules):
    """Dismissing the last open objection puts the item back on notice for a full new period."""
    claim = _on_notice(world, rules.fixed)
    a = service.object_to_claim(world.resident2, world.a.id, claim.id, "他没去", now=T0 + timedelta(days=1))
    b = service.object_to_claim(world.coordinator, world.a.id, claim.id, "存疑", now=T0 + timedelta(days=1))
    service.decide_objection(world.committee, world.a.id, a.id, False, "有照片为证", now=T0 + timedelta(days=2))
    assert claim.status == "objected"  # b is still open
    later = T0 + timedelta(days=2, hours=5)
    service.decide_objection(world.committee, world.a.id, b.id, False, "有照片为证", now=later)
    assert claim.status == "notice" and claim.notice_ends_at == later + timedelta(days=3)
    assert "merit.objection_dismissed" in _kinds(world.resident2.id)
    assert service.close_notices(now=T0 + timedelta(days=3)) == 0  # the original end no longer applies
    with pytest.raises(Conflict):  # each resident objects once, even after a dismissal
        service.object_to_claim(world.resident2, world.a.id, claim.id, "还是不对", now=later)
    assert service.close_notices(now=later + timedelta(days=3)) == 1
    assert ledger.balance_of(world.a.id, world.resident.id) == 5


# --- posting when the period ends ------------------------------------------------------------------

def test_job_posts_at_the_end_of_the_period_exactly_once(app, world, rules):
    """Nothing is posted before the period ends; at the end the award is posted once, even when the job runs twice."""
    from civic.worker import run_job

    with app.app_context():
        claim = _on_notice(world, rules.range, points=7)
        db.session.commit()
        claim_id, ends = claim.id, claim.notice_ends_at
    assert run_job(app, "merit_close_notices", now=ends - timedelta(seconds=1)) == 0
    assert run_job(app, "merit_close_notices", now=ends) == 1
    assert run_job(app, "merit_close_notices", now=ends + timedelta(minutes=5)) == 0
    with app.app_context():
        claim = db.session.get(Claim, claim_id)
        assert claim.status == "posted" and claim.posted_points == 7
        txn = db.session.get(Transaction, claim.transaction_id)
        assert txn.idempotency_key == f"claim:{claim_id}:post" and txn.category == "labour"
        assert ledger.balance_of(world.a.id, world.resident.id) == 7
        assert db.session.scalar(select(func.count(Transaction.id))) == 1
        assert ledger.verify()["breaches"] == []
        assert _kinds(world.resident.id)[-1] == "merit.posted"
        # Even posting the same claim again by hand cannot pay twice: the ledger key returns the first.
        claim.status = "notice"
        service.post_claim(claim, now=ends)
        assert ledger.balance_of(world.a.id, world.resident.id) == 7
        db.session.rollback()


def test_deduction_larger_than_the_balance_takes_what_there_is(app_ctx, world, rules):
    """A 10-point deduction from a balance of 7 deducts 7 and records the shortfall; from 0 it deducts nothing."""
    award = _on_notice(world, rules.range, points=7)
    service.close_notices(now=award.notice_ends_at)
    claim = _claim(world, rules.deduction, who=world.coordinator, resident_id=world.resident.id)
    service.approve_claim(world.committee, world.a.id, claim.id, now=T0)
    assert service.close_notices(now=claim.notice_ends_at) == 1
    assert (claim.status, claim.points, claim.posted_points) == ("posted", 10, 7)
    assert ledger.balance_of(world.a.id, world.resident.id) == 0
    again = _claim(world, rules.deduction, who=world.coordinator, resident_id=world.resident.id, description="又扔了")
    service.approve_claim(world.committee, world.a.id, again.id, now=T0)
    service.close_notices(now=again.notice_ends_at)
    assert (again.status, again.posted_points, again.transaction_id) == ("posted", 0, None)
    assert ledger.balance_of(world.a.id, world.resident.id) == 0
    assert ledger.verify()["breaches"] == []


def test_a_budget_refusal_leaves_the_item_for_the_committee(app_ctx, world, rules):
    """If the year's budget is spent, the item stays on the board with the reason and is retried later."""
    claim = _on_notice(world, rules.fixed)
    ledger.set_budget(world.a.id, 2027, 4)
    assert service.close_notices(now=claim.notice_ends_at) == 0
    assert claim.status == "notice" and "budget" in claim.post_error
    ledger.set_budget(world.a.id, 2027, 100)
    assert service.close_notices(now=claim.notice_ends_at) == 1 and claim.post_error == ""


@pytest.mark.postgres
def test_two_workers_at_once_post_each_item_once(app, world, rules):
    """Two threads closing notices at the same moment post every item exactly once."""
    with app.app_context():
        ids = [_on_notice(world, rules.range, points=3).id for _ in range(20)]
        ends = db.session.get(Claim, ids[0]).notice_ends_at
        db.session.commit()
    barrier = threading.Barrier(2)
    results = []

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(service.close_notices(now=ends))
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 20
    with app.app_context():
        assert ledger.balance_of(world.a.id, world.resident.id) == 60
        assert db.session.scalar(select(func.count(Transaction.id))) == 20
        assert ledger.verify()["breaches"] == []


# --- notifications and the digest ---------------------------------------------------------------

def test_resident_is_told_of_each_change(app_ctx, world, rules):
    """Approved onto the notice, objected, objection dismissed and back on notice (said as such, not a
    second "on notice"), posted: each is a notification."""
    claim = _on_notice(world, rules.fixed)
    o = service.object_to_claim(world.resident2, world.a.id, claim.id, "存疑", now=T0)
    service.decide_objection(world.committee, world.a.id, o.id, False, "属实", now=T0)
    service.close_notices(now=claim.notice_ends_at)
    assert _kinds(world.resident.id) == ["merit.on_notice", "merit.objected", "merit.objection_dismissed_claimant",
                                         "merit.posted"]


def test_daily_digest_once_per_member_and_day(app_ctx, world, rules):
    """Committee members get one digest a day while items wait; none when nothing waits."""
    assert service.send_digests(now=T0) == 0
    _claim(world, rules.fixed)
    assert service.send_digests(now=T0) == 2
    assert service.send_digests(now=T0 + timedelta(hours=3)) == 0
    assert db.session.scalar(select(func.count(DigestSent.id))) == 2
    # 16:00 UTC is midnight in China: a new day.
    assert service.send_digests(now=T0.replace(hour=16)) == 2
    assert _kinds(world.committee.id).count("merit.digest") == 2
    assert "merit.digest" not in _kinds(world.b_committee.id)
