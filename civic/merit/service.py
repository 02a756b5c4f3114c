"""Merit claims: the rule catalogue, claims and committee review, the public notice (积分公示),
and posting to the ledger when a notice period ends.

A claim moves through these states:

    pending --approve--> second --approve (another member)--> notice
    pending --approve (at or below the threshold)----------> notice
    pending / second --reject--> rejected
    notice --objection--> objected --upheld--> cancelled (the reason is published)
                          objected --all dismissed--> notice (the period starts again in full)
    notice --period ends, job--> posted (ledger award / deduction with key "claim:<id>:post")

One gate for every point issued: an award from another part (an approved patrol, a confirmed problem
report, a meeting's attendance) is not posted by that part. It calls put_award_on_notice(), which makes
a claim naming its cause (source_kind, source_id) that starts on the notice board, can be objected to,
and is posted by the same job when its period ends. Nobody decides an award of which they are the
beneficiary: the database refuses a claim whose approver is its resident or its maker.

Decisions made here:
- the rule is copied onto the claim when it is made; caps are checked at approval against the
  rule's caps as they stand then, counting the resident's approved claims of that rule whose
  claim date falls in the same month or year (China time);
- an item of more points than the community's threshold (awards and deductions alike) needs a
  second, different committee member; nobody reviews a claim made for or by themselves;
- when every objection is dismissed, the notice period starts again in full so that neighbours
  see the item, and the dismissal, for the whole period;
- a deduction larger than the balance deducts what there is (possibly nothing), records it on the
  claim (posted_points) and the rest becomes a ledger debt paid first from later credits; balances
  never go below zero, and approved deductions keep their points from the shop (civic.ledger.debt).
"""
import hashlib
import json
import re
from datetime import UTC, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from civic.accounts.models import User
from civic.communities.models import Community
from civic.communities.service import register_settings_seeder
from civic.core import audit, uploads
from civic.core.clock import local, local_date, resolve
from civic.core.db import add_once
from civic.core.errors import Conflict, DomainError, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import can, require, roles_in
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.debt import deduct_or_owe, register_reservation
from civic.ledger.passbook import register_pending
from civic.merit.models import (
    CAP_PERIODS,
    RULE_KINDS,
    SOURCE_KINDS,
    Claim,
    DigestSent,
    MeritObjection,
    MeritRule,
    MeritSettings,
)
from civic.notifications.service import notify
from civic.rules import service as rules
from civic.rules.service import register_point_setting, register_settings_field

MAX_PHOTOS = 3
APPROVED = ("second", "notice", "objected", "posted")  # counted against caps
PUBLIC = ("notice", "objected", "cancelled", "posted")  # shown on the notice board
WAITING = ("pending", "second", "objected")  # waiting for the committee
PHOTO_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")


# --- settings -----------------------------------------------------------------------------------

def settings_for(community_id):
    """The community's claim settings (saved when the community was created; reading never writes)."""
    found = db.session.scalar(select(MeritSettings).where(MeritSettings.community_id == community_id))
    return found or MeritSettings(community_id=community_id, notice_days=3, second_approval_above=20)


register_settings_seeder(MeritSettings, settings_for)
register_pending(lambda community_id, user_id: pending_awards(community_id, user_id))
register_settings_field("merit", "second_approval_above", N_("Points above which a second approver is needed"),
                        row=settings_for)


def update_settings(actor, community_id, *, notice_days, second_approval_above, now=None):
    """The committee sets the notice period; the second-approval threshold becomes a proposal (four eyes)."""
    require(actor, "merit.configure", community_id)
    if not isinstance(notice_days, int) or not 1 <= notice_days <= 30:
        raise Invalid(N_("The notice period must be between 1 and 30 days."))
    if not isinstance(second_approval_above, int) or not 0 <= second_approval_above <= 100000:
        raise Invalid(N_("The second-approval threshold must be between 0 and 100000 points."))
    settings = settings_for(community_id)
    if settings.notice_days != notice_days:
        settings.notice_days = notice_days
        settings.updated_at = resolve(now)
        settings.updated_by_id = actor.id
        db.session.add(settings)
        db.session.flush()
        audit.record("merit.settings_changed", actor=actor, community_id=community_id, now=now,
                     detail={"notice_days": notice_days})
    rules.propose_changes(actor, community_id, "merit", {"second_approval_above": second_approval_above}, now=now)
    return settings


# --- the catalogue ------------------------------------------------------------------------------

def categories(community_id):
    """The community's categories in order (read only)."""
    return ledger.categories_of(community_id)


def catalogue(actor, community_id, *, include_inactive=False):
    """[(category, [rules])] for a community, awards first then deductions within each category."""
    require(actor, "merit.view", community_id)
    query = select(MeritRule).where(MeritRule.community_id == community_id)
    if not include_inactive:
        query = query.where(MeritRule.active.is_(True))
    rules = db.session.scalars(query.order_by(MeritRule.kind, MeritRule.sort, MeritRule.id)).all()
    by_category = {}
    for rule in rules:
        by_category.setdefault(rule.category_id, []).append(rule)
    return [(category, by_category.get(category.id, [])) for category in categories(community_id)
            if category.active or include_inactive]


def _clean_name(value, limit, message):
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise Invalid(message)
    return value


def add_category(actor, community_id, name):
    """The committee adds a category of its own."""
    require(actor, "merit.configure", community_id)
    return ledger.add_category(
        community_id, _clean_name(name, 60, N_("Please enter a category name of at most 60 characters.")))


def rename_category(actor, community_id, category_id, name):
    """The committee renames a category (its ledger code stays the same)."""
    require(actor, "merit.configure", community_id)
    category = ledger.get_category(community_id, category_id)
    return ledger.rename_category(
        category, _clean_name(name, 60, N_("Please enter a category name of at most 60 characters.")))


def get_rule(community_id, rule_id):
    """A rule of the community, or NotFound."""
    return get_in_community(MeritRule, community_id, rule_id, missing=N_("No such item."))


def _apply_rule_data(rule, community_id, data):
    kind = data.get("kind", rule.kind or "award")
    if kind not in RULE_KINDS:
        raise Invalid(N_("Unknown kind of item."))
    ledger.get_category(community_id, data["category_id"])
    points_min, points_max = data.get("points_min"), data.get("points_max")
    if points_max is None:
        points_max = points_min
    if not isinstance(points_min, int) or points_min < 1 or points_min > 10000:
        raise Invalid(N_("Points must be a whole number from 1 to 10000."))
    if not isinstance(points_max, int) or points_max < points_min or points_max > 10000:
        raise Invalid(N_("The highest points must not be less than the lowest."))
    cap_period = data.get("cap_period") or "none"
    if cap_period not in CAP_PERIODS:
        raise Invalid(N_("Unknown limit period."))
    cap_times, cap_points = data.get("cap_times"), data.get("cap_points")
    for value in (cap_times, cap_points):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise Invalid(N_("A limit must be a whole number of at least 1."))
    if cap_period == "none":
        cap_times = cap_points = None
    elif cap_times is None and cap_points is None:
        raise Invalid(N_("Give a number of times or of points for the limit, or choose no limit."))
    rule.kind = kind
    rule.category_id = data["category_id"]
    rule.name = _clean_name(data.get("name"), 80, N_("Please enter the item's name (at most 80 characters)."))
    rule.description = (data.get("description") or "").strip()[:500]
    rule.points_min, rule.points_max = points_min, points_max
    rule.cap_period, rule.cap_times, rule.cap_points = cap_period, cap_times, cap_points
    rule.evidence_required = bool(data.get("evidence_required"))
    rule.active = bool(data.get("active", True))


RULE_FIELDS = ("kind", "category_id", "name", "description", "points_min", "points_max", "cap_period", "cap_times",
               "cap_points", "evidence_required", "active")


def _rule_value(rule):
    return {"rule_id": rule.id, **{name: getattr(rule, name) for name in RULE_FIELDS}}


def _checked_rule_value(community_id, value):
    rule = get_rule(community_id, value.get("rule_id"))
    probe = MeritRule(community_id=community_id, kind=rule.kind)
    _apply_rule_data(probe, community_id, value)
    probe.id = rule.id
    return _rule_value(probe)


def _write_rule(community_id, value):
    rule = get_rule(community_id, value["rule_id"])
    _apply_rule_data(rule, community_id, value)
    rule.updated_at = resolve(None)


register_point_setting("merit", "rule", N_("Merit item (points, range and limits)"),
                       read=lambda community_id, value: _rule_value(get_rule(community_id, value.get("rule_id"))),
                       write=_write_rule, check=_checked_rule_value, measure=lambda value: value["points_max"])


def create_rule(actor, community_id, data, *, now=None):
    """The committee adds an item (award or deduction): saved as a draft, active once a second member confirms."""
    require(actor, "merit.configure", community_id)
    now = resolve(now)
    rule = MeritRule(community_id=community_id, created_at=now, updated_at=now)
    _apply_rule_data(rule, community_id, data)
    wanted_active, rule.active = rule.active, False
    db.session.add(rule)
    db.session.flush()
    audit.record("merit.rule_created", actor=actor, community_id=community_id, now=now, detail={"rule": rule.id})
    rules.propose_change(actor, community_id, "merit", "rule", dict(_rule_value(rule), active=wanted_active), now=now)
    return rule


def update_rule(actor, community_id, rule_id, data, *, now=None):
    """The committee proposes a change to an item (four eyes); claims already made keep the item as it was."""
    require(actor, "merit.configure", community_id)
    rule = get_rule(community_id, rule_id)
    rules.propose_change(actor, community_id, "merit", "rule", {**data, "rule_id": rule.id}, now=now)
    return rule


# --- claims -------------------------------------------------------------------------------------

def _claim_hash(rule_id, resident_id, description, photo_count):
    payload = {"rule": rule_id, "resident": resident_id, "description": description, "photos": photo_count}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _resident_of(community_id, resident_id):
    resident = db.session.get(User, resident_id) if resident_id else None
    if resident is None or "resident" not in roles_in(resident, community_id):
        raise NotFound(N_("That person is not a resident of this community."))
    return resident


def submit_claim(actor, community_id, rule_id, *, description, photos=(), resident_id=None, request_key=None,
                 now=None):
    """A resident claims an item; a committee member or grid leader records one (or a deduction) for a resident.

    With a `request_key`, a repeat of the same request returns the first claim, and a different
    request under the same key is refused.
    """
    now = resolve(now)
    resident_id = resident_id or actor.id
    for_self = resident_id == actor.id
    if for_self:
        require(actor, "merit.claim", community_id)
    elif not can(actor, "merit.record", community_id):
        raise PermissionDenied()
    resident = _resident_of(community_id, resident_id)
    description = (description or "").strip()
    photos = list(photos or [])
    if request_key is not None:
        request_key = str(request_key).strip()
        if not 1 <= len(request_key) <= 80:
            raise Invalid(N_("A request key of 1 to 80 characters is required."))
        digest = _claim_hash(rule_id, resident_id, description, len(photos))
        existing = _claim_by_key(community_id, actor.id, request_key)
        if existing is not None:
            return _replay_claim(existing, digest)
    rule = get_rule(community_id, rule_id)
    if not rule.active:
        raise Conflict(N_("This item is no longer offered."))
    if rule.kind == "deduction" and for_self:
        raise PermissionDenied(N_("Deductions are recorded by the committee or a grid leader."))
    if not 2 <= len(description) <= 500:
        raise Invalid(N_("Please describe what was done (2 to 500 characters)."))
    if len(photos) > MAX_PHOTOS:
        raise Invalid(N_("At most 3 photos."))
    if any(not isinstance(p, str) or not PHOTO_NAME.match(p) for p in photos):
        raise Invalid(N_("A photo could not be found. Please upload it again."))
    uploads.check_own(actor, community_id, photos)  # evidence is the claimant's own photo, used once
    if rule.evidence_required and not photos:
        raise Invalid(N_("This item needs at least one photo as evidence."))
    category = rule.category
    claim = Claim(
        community_id=community_id, rule_id=rule.id, resident_id=resident.id, created_by_id=actor.id,
        request_key=request_key, request_hash=digest if request_key is not None else None,
        kind=rule.kind, rule_name=rule.name, category_code=category.code, category_name=category.name,
        points_min=rule.points_min, points_max=rule.points_max, evidence_required=rule.evidence_required,
        description=description, photos=photos, status="pending", created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(claim)
    except IntegrityError:
        existing = _claim_by_key(community_id, actor.id, request_key) if request_key is not None else None
        if existing is None:
            raise
        return _replay_claim(existing, digest)
    uploads.attach(actor, community_id, photos, "claim", claim.id, now=now)
    if not for_self:
        kind = "merit.deduction_recorded" if rule.kind == "deduction" else "merit.claim_recorded"
        notify(resident, kind,
               N_("A deduction was recorded: %(item)s") if rule.kind == "deduction"
               else N_("A claim was recorded for you: %(item)s"),
               N_("The committee will review it. You will be told of every step."),
               params={"item": rule.name}, community_id=community_id, link=f"/c/{community_id}/merit/mine", now=now)
    return claim


def _claim_by_key(community_id, user_id, key):
    return db.session.scalar(select(Claim).where(
        Claim.community_id == community_id, Claim.created_by_id == user_id, Claim.request_key == key))


def _replay_claim(existing, digest):
    if existing.request_hash != digest:
        raise Conflict(N_("This request key was already used for a different claim."), reason="idempotency_conflict")
    return existing


def _claim(community_id, claim_id, *, lock=False):
    return get_in_community(Claim, community_id, claim_id, lock=lock, missing=N_("No such claim."))


def get_claim(actor, community_id, claim_id):
    """A claim as `actor` may see it: their own, the committee's, or one that is publicly on notice."""
    require(actor, "merit.view", community_id)
    claim = _claim(community_id, claim_id)
    if actor.id in (claim.resident_id, claim.created_by_id) or claim.status in PUBLIC:
        return claim
    if can(actor, "merit.review", community_id) or can(actor, "merit.record", community_id):
        return claim
    raise NotFound(N_("No such claim."))


def may_see_photos(actor, claim):
    """Photos are shown to the resident, whoever recorded the claim, and the committee."""
    return actor.id in (claim.resident_id, claim.created_by_id) or can(actor, "merit.review", claim.community_id)


def my_claims(actor, community_id, *, limit=100):
    """A resident's own claims and deductions, newest first."""
    require(actor, "merit.view", community_id)
    return db.session.scalars(select(Claim).where(
        Claim.community_id == community_id, Claim.resident_id == actor.id).order_by(Claim.id.desc()).limit(limit)).all()


def recorded_by(actor, community_id, *, limit=50):
    """Claims and deductions `actor` recorded for others, newest first."""
    require(actor, "merit.record", community_id)
    return db.session.scalars(select(Claim).where(
        Claim.community_id == community_id, Claim.created_by_id == actor.id, Claim.resident_id != actor.id,
    ).order_by(Claim.id.desc()).limit(limit)).all()


PAGE_SIZE = 50


def _with_people(query):
    """Load the people and objections a claim list shows with the claims (a fixed number of queries)."""
    return query.options(selectinload(Claim.resident), selectinload(Claim.created_by),
                         selectinload(Claim.first_approver), selectinload(Claim.objections))


def _paged(query, page, per_page=PAGE_SIZE):
    """One page of `query` (1-based) and whether another page follows."""
    page = max(int(page or 1), 1)
    rows = db.session.scalars(_with_people(query).offset((page - 1) * per_page).limit(per_page + 1)).all()
    return rows[:per_page], len(rows) > per_page


def review_queue(actor, community_id, *, page=1):
    """What waits for the committee: new claims, second approvals, objections. Oldest first, 50 a page;
    returns (claims, has_more)."""
    require(actor, "merit.review", community_id)
    return _paged(select(Claim).where(Claim.community_id == community_id, Claim.status.in_(WAITING))
                  .order_by(Claim.created_at, Claim.id), page)


def count_on_notice():
    """How many claims, in every community, are in their public notice period (for the operations metrics)."""
    return db.session.scalar(select(func.count()).select_from(Claim).where(Claim.status == "notice")) or 0


def can_review(actor, claim):
    """True when `actor` may decide this claim (committee, and not their own or one they recorded)."""
    return (can(actor, "merit.review", claim.community_id) and actor.id not in (claim.resident_id, claim.created_by_id)
            and not (claim.status == "second" and actor.id == claim.first_approver_id))


def _require_reviewer(actor, claim):
    require(actor, "merit.review", claim.community_id)
    if actor.id in (claim.resident_id, claim.created_by_id):
        raise PermissionDenied(N_("Nobody may review a claim made for or by themselves."))


def _period_bounds(at, period):
    """[start, end) in naive UTC of the month or year (China time) containing `at`."""
    here = local(at)
    if period == "month":
        start = here.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    else:
        start = here.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1)
    return (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None))


def _check_caps(claim, points):
    """Refuse an approval that would take the resident past the item's limit for the period."""
    rule = db.session.scalar(select(MeritRule).where(
        MeritRule.community_id == claim.community_id, MeritRule.id == claim.rule_id).with_for_update())
    if rule is None or rule.cap_period == "none":
        return
    start, end = _period_bounds(claim.created_at, rule.cap_period)
    times, total = db.session.execute(select(func.count(Claim.id), func.coalesce(func.sum(Claim.points), 0)).where(
        Claim.community_id == claim.community_id, Claim.resident_id == claim.resident_id,
        Claim.rule_id == claim.rule_id, Claim.status.in_(APPROVED), Claim.id != claim.id,
        Claim.created_at >= start, Claim.created_at < end)).one()
    monthly = rule.cap_period == "month"
    if rule.cap_times is not None and times + 1 > rule.cap_times:
        raise Conflict(N_("This item can be granted at most %(n)s times a month to one resident.") if monthly
                       else N_("This item can be granted at most %(n)s times a year to one resident."),
                       reason="cap_reached", n=rule.cap_times)
    if rule.cap_points is not None and total + points > rule.cap_points:
        raise Conflict(N_("This item gives at most %(n)s points a month to one resident; %(left)s are left.") if monthly
                       else N_("This item gives at most %(n)s points a year to one resident; %(left)s are left."),
                       reason="cap_reached", n=rule.cap_points, left=max(rule.cap_points - total, 0))


def _check_budget(claim, points, now):
    if claim.kind == "award":
        ledger.check_budget(claim.community_id, points, now)  # the ledger's rule and message


def _committee(community_id):
    from civic.communities.service import committee_of

    return committee_of(community_id)


def approve_claim(actor, community_id, claim_id, points=None, *, now=None):
    """A committee member approves a claim with points within its range; above the threshold a
    second, different member must approve too. Then it goes on the public notice."""
    now = resolve(now)
    claim = _claim(community_id, claim_id, lock=True)
    _require_reviewer(actor, claim)
    if claim.status == "pending":
        if points is None:
            if claim.points_min != claim.points_max:
                raise Invalid(N_("Please enter the points, from %(low)s to %(high)s."),
                              low=claim.points_min, high=claim.points_max)
            points = claim.points_min
        if (not isinstance(points, int) or isinstance(points, bool)
                or not claim.points_min <= points <= claim.points_max):
            raise Invalid(N_("The points must be from %(low)s to %(high)s."), low=claim.points_min,
                          high=claim.points_max)
        _check_caps(claim, points)
        _check_budget(claim, points, now)
        claim.points = points
        claim.first_approver_id = actor.id
        claim.first_approved_at = now
        if points > settings_for(community_id).second_approval_above:
            claim.status = "second"
            db.session.flush()
            for member in _committee(community_id):
                if member.id not in (actor.id, claim.resident_id, claim.created_by_id):
                    notify(member, "merit.second_approval", N_("A second approval is needed: %(item)s"),
                           N_("%(name)s: %(points)s points. Another committee member must approve it."),
                           params={"item": claim.rule_name, "name": claim.resident.display_name, "points": points},
                           community_id=community_id, link=f"/c/{community_id}/merit/review", now=now)
        else:
            _put_on_notice(claim, now)
    elif claim.status == "second":
        if actor.id == claim.first_approver_id:
            raise PermissionDenied(N_("A different committee member must give the second approval."))
        if points is not None and points != claim.points:
            raise Invalid(N_("The second approval confirms %(points)s points; reject the claim if that is wrong."),
                          points=claim.points)
        _check_caps(claim, claim.points)
        _check_budget(claim, claim.points, now)
        claim.second_approver_id = actor.id
        claim.second_approved_at = now
        _put_on_notice(claim, now)
    else:
        raise Conflict(N_("This claim has already been decided."))
    db.session.flush()
    audit.record("merit.claim_approved", actor=actor, subject=claim.resident_id, community_id=community_id, now=now,
                 detail={"claim": claim.id, "points": claim.points, "status": claim.status})
    return claim


def _put_on_notice(claim, now, *, dismissed_reason=None, tell=True):
    """Start a full notice period; after a dismissed objection, tell the claimant so, not "on notice" again."""
    days = settings_for(claim.community_id).notice_days
    claim.status = "notice"
    claim.notice_starts_at = now
    claim.notice_ends_at = now + timedelta(days=days)
    db.session.flush()
    if not tell:
        return
    if dismissed_reason is not None:
        notify(claim.resident_id, "merit.objection_dismissed_claimant",
               N_("The objection was dismissed: %(item)s is on notice again"),
               N_("The committee did not accept the objection (%(reason)s). Your item is on the notice board again "
                  "for %(days)s days from today; if nobody objects, it then goes into your passbook."),
               params={"item": claim.rule_name, "reason": dismissed_reason, "days": days},
               community_id=claim.community_id, link=f"/c/{claim.community_id}/merit/notice", now=now)
        return
    notify(claim.resident_id, "merit.on_notice",
           N_("On public notice: %(item)s, %(points)s points") if claim.kind == "award"
           else N_("On public notice: deduction for %(item)s, %(points)s points"),
           N_("It is shown on the notice board for %(days)s days. If nobody objects, it then goes into your passbook."),
           params={"item": claim.rule_name, "points": claim.points, "days": days},
           community_id=claim.community_id, link=f"/c/{claim.community_id}/merit/notice", now=now)


# --- the gate for awards from other parts --------------------------------------------------------

SOURCE_LABELS = {"patrol": N_("Patrol"), "report": N_("Problem report"), "meeting": N_("Meeting attendance"),
                 "visit": N_("Household visit")}


def sourced_award(community_id, source_kind, source_id, resident_id):
    """The award made for a cause (a patrol, a report, a meeting's attendance), or None."""
    return db.session.scalar(select(Claim).where(
        Claim.community_id == community_id, Claim.source_kind == source_kind, Claim.source_id == source_id,
        Claim.resident_id == resident_id))


def put_award_on_notice(community_id, resident_id, points, *, source_kind, source_id, reason, category,
                        decided_by=None, tell=True, now=None):
    """Put an award from another part on the notice board (积分公示) instead of posting it: it shows its
    reason, neighbours may object, and the notice job posts it when the period ends.

    `decided_by` is whoever decided it (the coordinator who approved a patrol, the person who recorded
    an attendance); it may not be the resident. Calling again for the same cause returns the first
    award. Returns None for no points.
    """
    now = resolve(now)
    if source_kind not in SOURCE_KINDS:
        raise ValueError(f"unknown source {source_kind!r}")
    decider_id = getattr(decided_by, "id", decided_by)
    if decider_id is not None and decider_id == resident_id:
        raise PermissionDenied(N_("Nobody may decide points for themselves; someone else must do it."),
                               reason="own_award")
    existing = sourced_award(community_id, source_kind, source_id, resident_id)
    if existing is not None or not points or points <= 0:
        return existing
    name = ledger.category_names(community_id).get(category, category)
    claim = Claim(
        community_id=community_id, rule_id=None, source_kind=source_kind, source_id=source_id,
        resident_id=resident_id, created_by_id=resident_id, kind="award", rule_name=(reason or "")[:80],
        category_code=category, category_name=name, points_min=points, points_max=points, points=points,
        description="", photos=[], status="pending", created_at=now,
        first_approver_id=decider_id, first_approved_at=now if decider_id else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(claim)
    except IntegrityError:  # a concurrent twin made it first
        return sourced_award(community_id, source_kind, source_id, resident_id)
    _put_on_notice(claim, now, tell=tell)
    audit.record("merit.award_on_notice", actor=decider_id, subject=resident_id, community_id=community_id,
                 now=now, detail={"claim": claim.id, "source": f"{source_kind}:{source_id}", "points": points})
    return claim


# Built once (Core, bound parameters): the home page and the passbook read it on every view.
_PENDING_AWARDS = (select(Claim.id, Claim.points, Claim.notice_ends_at, Claim.status, Claim.rule_name)
                   .where(Claim.community_id == bindparam("community_id"), Claim.resident_id == bindparam("user_id"),
                          Claim.kind == "award", Claim.status.in_(("notice", "objected")))
                   .order_by(Claim.notice_ends_at, Claim.id))


def pending_awards(community_id, user_id):
    """A resident's awards not yet in the passbook: on notice (with the day they settle) or held by an objection."""
    claims = db.session.connection().execute(_PENDING_AWARDS, {"community_id": community_id, "user_id": user_id}).all()
    return [{"points": c.points, "settles_at": c.notice_ends_at if c.status == "notice" else None,
             "memo": c.rule_name, "status": c.status, "claim_id": c.id} for c in claims]


def _reason(text, message):
    text = (text or "").strip()
    if not 2 <= len(text) <= 500:
        raise Invalid(message)
    return text


def reject_claim(actor, community_id, claim_id, reason, *, now=None):
    """A committee member turns a claim down, with a reason the resident is told."""
    now = resolve(now)
    claim = _claim(community_id, claim_id, lock=True)
    _require_reviewer(actor, claim)
    reason = _reason(reason, N_("Please give a reason (2 to 500 characters)."))
    if claim.status not in ("pending", "second"):
        raise Conflict(N_("This claim has already been decided."))
    claim.status = "rejected"
    claim.rejected_by_id = actor.id
    claim.rejected_at = now
    claim.reject_reason = reason
    db.session.flush()
    audit.record("merit.claim_rejected", actor=actor, subject=claim.resident_id, community_id=community_id, now=now,
                 detail={"claim": claim.id})
    notify(claim.resident_id, "merit.rejected", N_("Not approved: %(item)s"), N_("Reason: %(reason)s"),
           params={"item": claim.rule_name, "reason": reason}, community_id=community_id,
           link=f"/c/{community_id}/merit/mine", now=now)
    return claim


# --- the public notice ---------------------------------------------------------------------------

def notice_board(actor, community_id, *, now=None, page=1):
    """The notice board: items on notice (50 a page), items under review after an objection, recent
    cancellations (with their reasons) and recent items made final."""
    require(actor, "merit.view", community_id)
    now = resolve(now)
    base = select(Claim).where(Claim.community_id == community_id)
    on_notice, more = _paged(base.where(Claim.status == "notice").order_by(Claim.notice_ends_at, Claim.id), page)
    return {
        "on_notice": on_notice,
        "page": max(int(page or 1), 1),
        "has_more": more,
        "under_review": db.session.scalars(_with_people(base.where(Claim.status == "objected"))
                                           .order_by(Claim.id).limit(PAGE_SIZE)).all(),
        "cancelled": db.session.scalars(_with_people(base.where(Claim.status == "cancelled",
                                                                Claim.cancelled_at >= now - timedelta(days=30)))
                                        .order_by(Claim.cancelled_at.desc()).limit(PAGE_SIZE)).all(),
        "posted": db.session.scalars(_with_people(base.where(Claim.status == "posted",
                                                             Claim.posted_at >= now - timedelta(days=7)))
                                     .order_by(Claim.posted_at.desc()).limit(PAGE_SIZE)).all(),
        "my_objections": set(db.session.scalars(select(MeritObjection.claim_id).where(
            MeritObjection.community_id == community_id, MeritObjection.user_id == actor.id))),
    }


def object_to_claim(actor, community_id, claim_id, reason, *, now=None):
    """A resident objects to an item on the notice board, once per item; it goes back to the committee."""
    now = resolve(now)
    require(actor, "merit.object", community_id)
    claim = _claim(community_id, claim_id, lock=True)
    reason = _reason(reason, N_("Please say why you object (2 to 500 characters)."))
    if claim.status not in ("notice", "objected"):
        raise Conflict(N_("This item is not on the notice board."))
    if claim.status == "notice" and claim.notice_ends_at <= now:
        raise Conflict(N_("The notice period for this item has ended."))
    if actor.id == claim.resident_id:
        raise PermissionDenied(N_("You cannot object to your own item."))
    if db.session.scalar(select(MeritObjection.id).where(
            MeritObjection.community_id == community_id, MeritObjection.claim_id == claim.id,
            MeritObjection.user_id == actor.id)):
        raise Conflict(N_("You have already objected to this item."), reason="already_objected")
    objection = MeritObjection(community_id=community_id, claim_id=claim.id, user_id=actor.id, reason=reason,
                          status="open", created_at=now)
    add_once(objection, N_("You have already objected to this item."), "already_objected")
    first = claim.status == "notice"
    claim.status = "objected"
    db.session.flush()
    if first:
        notify(claim.resident_id, "merit.objected", N_("An objection was raised: %(item)s"),
               N_("A neighbour objected. The committee will look at it again and tell you the result."),
               params={"item": claim.rule_name}, community_id=community_id,
               link=f"/c/{community_id}/merit/mine", now=now)
    for member in _committee(community_id):
        if member.id != actor.id:
            notify(member, "merit.objection", N_("New objection: %(item)s"), N_("%(name)s: %(reason)s"),
                   params={"item": claim.rule_name, "name": claim.resident.display_name, "reason": reason},
                   community_id=community_id, link=f"/c/{community_id}/merit/review", now=now)
    return objection


def decide_objection(actor, community_id, objection_id, uphold, note, *, now=None):
    """The committee upholds an objection (the item is cancelled, the reason published) or dismisses it
    (once no objection is open, the item goes back on notice for a full new period)."""
    now = resolve(now)
    objection = get_in_community(MeritObjection, community_id, objection_id, missing=N_("No such objection."))
    claim = _claim(community_id, objection.claim_id, lock=True)
    _require_reviewer(actor, claim)
    if actor.id == objection.user_id:
        raise PermissionDenied(N_("Nobody may decide their own objection."))
    note = _reason(note, N_("Please give the reason for the decision (2 to 500 characters)."))
    db.session.refresh(objection)
    if objection.status != "open" or claim.status != "objected":
        raise Conflict(N_("This objection has already been decided."))
    objection.decided_by_id = actor.id
    objection.decided_at = now
    objection.decision_note = note
    if uphold:
        others = db.session.scalars(select(MeritObjection).where(
            MeritObjection.community_id == community_id, MeritObjection.claim_id == claim.id,
            MeritObjection.status == "open")).all()
        for other in others:
            other.status = "upheld"
            other.decided_by_id, other.decided_at, other.decision_note = actor.id, now, note
        claim.status = "cancelled"
        claim.cancelled_at = now
        claim.cancel_reason = note
        db.session.flush()
        notify(claim.resident_id, "merit.cancelled", N_("Cancelled after an objection: %(item)s"),
               N_("Reason: %(reason)s"), params={"item": claim.rule_name, "reason": note},
               community_id=community_id, link=f"/c/{community_id}/merit/mine", now=now)
        for other in others:
            notify(other.user_id, "merit.objection_upheld", N_("Your objection was upheld: %(item)s"),
                   N_("Reason: %(reason)s"), params={"item": claim.rule_name, "reason": note},
                   community_id=community_id, link=f"/c/{community_id}/merit/notice", now=now)
    else:
        objection.status = "dismissed"
        db.session.flush()
        notify(objection.user_id, "merit.objection_dismissed", N_("Your objection was not upheld: %(item)s"),
               N_("Reason: %(reason)s"), params={"item": claim.rule_name, "reason": note},
               community_id=community_id, link=f"/c/{community_id}/merit/notice", now=now)
        still_open = db.session.scalar(select(func.count(MeritObjection.id)).where(
            MeritObjection.community_id == community_id, MeritObjection.claim_id == claim.id,
            MeritObjection.status == "open"))
        if not still_open:
            _put_on_notice(claim, now, dismissed_reason=note)
    db.session.flush()
    audit.record("merit.objection_upheld" if uphold else "merit.objection_dismissed", actor=actor,
                 subject=objection.user_id, community_id=community_id, now=now,
                 detail={"claim": claim.id, "objection": objection.id})
    return objection


def open_objections(claim):
    """The objections still waiting for a decision on a claim."""
    return [o for o in claim.objections if o.status == "open"]


# --- posting when the notice ends (run by the worker) -------------------------------------------

def post_claim(claim, *, now=None):
    """Post an item whose notice ended to the ledger (idempotency key "claim:<id>:post") and mark it posted.

    The caller holds the claim's row lock. A deduction larger than the balance deducts what there is; the rest is owed.
    """
    now = resolve(now)
    key = f"claim:{claim.id}:post"
    memo = claim.rule_name
    txn = None
    if claim.kind == "award":
        txn = ledger.award(claim.community_id, claim.resident_id, claim.points, idempotency_key=key,
                           category=claim.category_code, memo=memo, source=f"claim:{claim.id}",
                           actor=claim.first_approver_id, now=now)
        posted = claim.points
    else:  # what the balance cannot cover becomes a debt, paid first from later credits (civic.ledger.debt)
        txn, posted, _debt = deduct_or_owe(claim.community_id, claim.resident_id, claim.points, idempotency_key=key,
                                           category=claim.category_code, memo=memo, source=f"claim:{claim.id}",
                                           actor=claim.first_approver_id, now=now)
    claim.status = "posted"
    claim.posted_at = now
    claim.posted_points = posted
    claim.transaction_id = txn.id if txn is not None else None
    claim.post_error = ""
    db.session.flush()
    if claim.kind == "award":
        notify(claim.resident_id, "merit.posted", N_("%(points)s points added: %(item)s"),
               N_("The notice period ended without objection. The points are in your passbook."),
               params={"item": claim.rule_name, "points": posted}, community_id=claim.community_id, now=now)
    elif posted == claim.points:
        notify(claim.resident_id, "merit.posted", N_("%(points)s points deducted: %(item)s"),
               N_("The notice period ended without objection."),
               params={"item": claim.rule_name, "points": posted}, community_id=claim.community_id, now=now)
    else:
        notify(claim.resident_id, "merit.posted", N_("%(points)s points deducted: %(item)s"),
               N_("The deduction was %(full)s points, but your balance was only %(points)s. The rest is owed and "
                  "is paid first from points you receive later; the shop is closed to you until then."),
               params={"item": claim.rule_name, "points": posted, "full": claim.points},
               community_id=claim.community_id, now=now)
    return claim


def close_notices(*, now=None, limit=200):
    """Post every item whose notice period has ended with no open objection. Returns how many were posted.

    Safe with two workers at once: rows are locked with SKIP LOCKED (PostgreSQL) and re-checked,
    each moves to "posted" in the same transaction as its ledger posting, and the ledger's
    idempotency key refuses a second posting anyway.
    """
    now = resolve(now)
    # Find the due items across communities without locks, then lock each one within its community:
    # on a distributed database (Citus) a row lock must name the distribution column.
    due = db.session.execute(
        select(Claim.community_id, Claim.id).where(Claim.status == "notice", Claim.notice_ends_at <= now)
        .order_by(Claim.id).limit(limit)).all()
    posted = 0
    for community_id, claim_id in due:
        claim = db.session.scalar(
            select(Claim).where(Claim.community_id == community_id, Claim.id == claim_id)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        if claim is None or claim.status != "notice":
            continue
        try:
            with db.session.begin_nested():
                post_claim(claim, now=now)
            posted += 1
        except DomainError as error:
            # e.g. the year's budget is spent: stays on the board, retried next run, shown to the committee.
            claim.post_error = error.msgid[:300]
            db.session.flush()
    return posted


def send_digests(*, now=None):
    """Tell each committee member, once a day, how many claims and objections wait for review."""
    now = resolve(now)
    day = local_date(now).isoformat()
    waiting = db.session.execute(
        select(Claim.community_id, func.count(Claim.id)).where(Claim.status.in_(WAITING)).group_by(Claim.community_id)
    ).all()
    sent = 0
    for community_id, count in waiting:
        community = db.session.get(Community, community_id)
        for member in _committee(community_id):
            if db.session.scalar(select(DigestSent.id).where(
                    DigestSent.community_id == community_id, DigestSent.user_id == member.id, DigestSent.day == day)):
                continue
            try:
                with db.session.begin_nested():
                    db.session.add(DigestSent(community_id=community_id, user_id=member.id, day=day,
                                              pending=count, sent_at=now))
            except IntegrityError:  # another worker sent it
                continue
            notify(member, "merit.digest", N_("%(n)s items wait for review"),
                   N_("%(community)s: claims and objections are waiting for the committee."),
                   params={"n": count, "community": community.name}, community_id=community_id,
                   link=f"/c/{community_id}/merit/review", now=now)
            sent += 1
    return sent


def _deductions_on_notice(community_id, user_id):
    """Points of the resident's approved deductions not yet posted (on notice or under objection): the ledger
    keeps them from the shop until they post or are cancelled (civic.ledger.debt, issue 10)."""
    return db.session.scalar(select(func.coalesce(func.sum(Claim.points), 0)).where(
        Claim.community_id == community_id, Claim.resident_id == user_id, Claim.kind == "deduction",
        Claim.status.in_(("notice", "objected")))) or 0


register_reservation(_deductions_on_notice)
