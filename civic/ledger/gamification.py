"""Gamification of the merit bank: star levels, badges (defined as data) and leaderboards.

Everything here reads the Tally table that civic.ledger.service keeps up to date with each
merit posting; nothing scans the postings.

Star levels come from lifetime merit, the Tally row (period "all", category "*"): points
awarded minus points deducted for the negative list (负面清单). Spending points in the shop
(hold, settle, release) never touches a tally, so it never lowers a level.

    stars  lifetime merit   name
    0      0 – 19           just starting (新手)
    1      20               one star
    2      100              two stars
    3      300              three stars
    4      600              four stars
    5      1000             five stars (the top)

The thresholds suit the seed schemes, where one good deed is worth 2–20 points: a resident
who takes part every week reaches the first star within a month and five stars in about two
years.
"""
from sqlalchemy import and_, case, exists, func, literal, select
from sqlalchemy.exc import IntegrityError

from civic.core.clock import period_keys, resolve
from civic.core.errors import Invalid, NotFound
from civic.core.i18n import N_
from civic.core.permissions import require
from civic.extensions import db
from civic.ledger.models import BADGE_KINDS, Badge, BadgeAward, Tally
from civic.ledger.service import check_category, merit_changed

# --- star levels --------------------------------------------------------------------------------

LEVELS = [
    (0, N_("Just starting")),
    (20, N_("One star")),
    (100, N_("Two stars")),
    (300, N_("Three stars")),
    (600, N_("Four stars")),
    (1000, N_("Five stars")),
]


def level_for(points):
    """The star level for a lifetime merit total: stars, name msgid, progress to the next level."""
    points = points or 0
    stars = max(i for i, (threshold, _name) in enumerate(LEVELS) if points >= threshold or i == 0)
    floor, name = LEVELS[stars]
    if stars + 1 < len(LEVELS):
        ceiling = LEVELS[stars + 1][0]
        progress = int(100 * (max(points, floor) - floor) / (ceiling - floor))
        to_next = ceiling - max(points, floor)
    else:
        ceiling, progress, to_next = None, 100, 0
    return {"stars": stars, "max_stars": len(LEVELS) - 1, "name": name, "lifetime": points,
            "next_at": ceiling, "to_next": to_next, "progress": progress}


def lifetime_merit(community_id, user_id):
    """Lifetime merit of a resident in a community (awards minus deductions; spending excluded)."""
    return db.session.scalar(select(Tally.points).where(
        Tally.community_id == community_id, Tally.user_id == user_id, Tally.period == "all", Tally.category == "*",
    )) or 0


def level_of(community_id, user_id):
    """A resident's star level in a community."""
    return level_for(lifetime_merit(community_id, user_id))


# --- badges -------------------------------------------------------------------------------------

# code -> (name msgid, kind, threshold, category, sort). Other parts add theirs with register_badge().
_CATEGORY_BADGE_NAMES = {
    "moral": N_("Good neighbour"),          # 道德品行
    "poverty": N_("Helping hand"),          # 脱贫攻坚
    "filial": N_("Caring family"),          # 孝善和睦
    "labour": N_("Willing worker"),         # 公益劳动
    "environment": N_("Clean and green"),   # 人居环境
}
CATEGORY_BADGE_THRESHOLD = 50

BADGE_DEFINITIONS = {
    "first_award": (N_("First points"), "first_award", 1, None, 0),
    **{f"category:{code}": (name, "category", CATEGORY_BADGE_THRESHOLD, code, 10 + i)
       for i, (code, name) in enumerate(_CATEGORY_BADGE_NAMES.items())},
    "milestone:100": (N_("100 points"), "milestone", 100, None, 30),
    "milestone:500": (N_("500 points"), "milestone", 500, None, 31),
    "milestone:1000": (N_("1000 points"), "milestone", 1000, None, 32),
}


def register_badge(code, name, kind, threshold=0, category=None, sort=50):
    """Add a badge every community gets (call at import time from another part, e.g. patrols).

    `name` is a msgid marked with N_(); kind is one of BADGE_KINDS. Idempotent.
    """
    if kind not in BADGE_KINDS:
        raise ValueError(f"unknown badge kind {kind!r}")
    BADGE_DEFINITIONS[code] = (name, kind, threshold, category, sort)


def ensure_badge(community_id, code, name, kind, threshold=0, category=None, sort=50):
    """Make sure one badge exists in a community (creating it when missing); returns it."""
    if kind not in BADGE_KINDS:
        raise Invalid(N_("Unknown kind of badge."))
    if threshold < 0:
        raise Invalid(N_("A badge's threshold cannot be negative."))
    badge = db.session.scalar(select(Badge).where(Badge.community_id == community_id, Badge.code == code))
    if badge is not None:
        return badge
    try:
        with db.session.begin_nested():
            badge = Badge(community_id=community_id, code=code, name=name, kind=kind, threshold=threshold,
                          category=category, sort=sort, active=True)
            db.session.add(badge)
    except IntegrityError:  # created concurrently
        badge = db.session.scalar(select(Badge).where(Badge.community_id == community_id, Badge.code == code))
    return badge


def ensure_badges(community_id, *, now=None):
    """Create every registered badge a community lacks; returns the community's badges in order.

    A threshold badge new to a community (registered in a later release) goes at once to every resident whose
    all-time tally is already past it (reached_before_it), so no one waits for a later threshold of theirs."""
    have = set(db.session.scalars(select(Badge.code).where(Badge.community_id == community_id)))
    for code, (name, kind, threshold, category, sort) in BADGE_DEFINITIONS.items():
        if code not in have:
            reached_before_it(ensure_badge(community_id, code, name, kind, threshold, category, sort), now=now)
    return db.session.scalars(
        select(Badge).where(Badge.community_id == community_id).order_by(Badge.sort, Badge.id)).all()


def reached_before_it(badge, *, now=None):
    """Award a threshold badge to every resident of its community whose all-time tally has reached it and who
    lacks it: one INSERT ... SELECT from the tallies (the unique constraint keeps a concurrent award single),
    then one notification each. Returns the user ids awarded."""
    if not badge.active or badge.kind == "manual":
        return []
    now = resolve(now)
    table = BadgeAward.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    reached = select(Tally.community_id, literal(badge.id), Tally.user_id, literal(now)).where(
        Tally.community_id == badge.community_id, Tally.period == "all", Tally.category == (badge.category or "*"),
        Tally.points >= badge.threshold)
    users = sorted(db.session.scalars(
        insert(table).from_select(["community_id", "badge_id", "user_id", "awarded_at"], reached)
        .on_conflict_do_nothing().returning(table.c.user_id)))
    for user_id in users:
        _tell(badge.community_id, user_id, now)
    return users


def check_badges(community_id, user_id, *, now=None, _ensured=False):
    """Award every threshold badge the resident's lifetime tallies have reached. Idempotent; returns new awards.

    Runs after a merit posting commits (see _award_reached_badges); two checks for one person at once
    cannot award a badge twice: the unique constraint refuses the second (a savepoint keeps that quiet).
    """
    now = resolve(now)
    tally_category = case((Badge.category.is_(None), "*"), else_=Badge.category)
    # community_id named on every table, so a distributed database runs it on the community's shard alone
    earned = exists().where(BadgeAward.community_id == community_id, BadgeAward.community_id == Badge.community_id,
                            BadgeAward.badge_id == Badge.id, BadgeAward.user_id == user_id)
    # One round trip: every badge of the community, whether it is reached and whether it is earned.
    rows = db.session.execute(
        select(Badge, and_(Badge.active.is_(True), Badge.kind != "manual", Tally.points.is_not(None),
                           Tally.points >= Badge.threshold, ~earned))
        .outerjoin(Tally, and_(Tally.community_id == community_id, Tally.community_id == Badge.community_id,
                               Tally.user_id == user_id,
                               Tally.period == "all", Tally.category == tally_category))
        .where(Badge.community_id == community_id)
        .order_by(Badge.sort, Badge.id)
    ).all()
    if not _ensured and not set(BADGE_DEFINITIONS) <= {badge.code for badge, _due in rows}:  # registered since
        ensure_badges(community_id, now=now)
        return check_badges(community_id, user_id, now=now, _ensured=True)
    return [award for badge, due in rows if due and (award := _give(badge, user_id, now)) is not None]


@merit_changed.connect
def _award_reached_badges(_sender, *, community_id, user_id, now, lifetime):
    """Badges react to merit the ledger has committed (civic.ledger.service.merit_changed), never inside
    the posting: a refused or rolled-back posting earns nothing, and posting does one thing.

    A resident's badges are checked when an all-time tally moved past a threshold badge's threshold (the first
    merit ever crosses the first-points badge's 1); otherwise nothing new can be earned. That is decided from
    the tallies the posting returned alone, never from what this process saw before, so every web process and
    worker does the same. Badges are defined in code, the same in every community (BADGE_DEFINITIONS), so the
    thresholds are known without asking the database; one registered in a later release reaches those already
    past it when the community is given it (ensure_badges -> reached_before_it)."""
    if _crosses(lifetime):
        check_badges(community_id, user_id, now=now)


def _crosses(lifetime):
    """Whether an all-time tally moved up past a threshold badge's threshold: {category or "*": (before, after)}."""
    for _name, kind, threshold, category, _sort in BADGE_DEFINITIONS.values():
        before, after = lifetime.get(category or "*", (0, 0))
        if kind != "manual" and before < threshold <= after:
            return True
    return False


def grant_badge(community_id, user_id, code, *, now=None):
    """Give a resident a manual badge (defined with register_badge or ensure_badge). Idempotent."""
    badge = db.session.scalar(select(Badge).where(Badge.community_id == community_id, Badge.code == code))
    if badge is None:
        raise NotFound(N_("No such badge."))
    existing = db.session.scalar(select(BadgeAward).where(
        BadgeAward.community_id == community_id, BadgeAward.badge_id == badge.id, BadgeAward.user_id == user_id))
    return existing or _give(badge, user_id, resolve(now))


def _give(badge, user_id, now):
    try:
        with db.session.begin_nested():
            award = BadgeAward(community_id=badge.community_id, badge_id=badge.id, user_id=user_id, awarded_at=now)
            db.session.add(award)
    except IntegrityError:  # awarded concurrently
        return None
    _tell(badge.community_id, user_id, now)
    return award


def _tell(community_id, user_id, now):
    from civic.notifications.service import notify

    notify(user_id, "badge.awarded", N_("You have earned a new badge!"),
           N_("Well done! Open your points page to see your badges."),
           community_id=community_id, link="/points/badges", now=now)


def badges_of(community_id, user_id):
    """[(Badge, BadgeAward or None)] for every active badge of the community, earned ones first (a read: the
    badges were made with the community, or with its first award)."""
    badges = db.session.scalars(select(Badge).where(Badge.community_id == community_id, Badge.active.is_(True))
                                .order_by(Badge.sort, Badge.id)).all()
    awards = {a.badge_id: a for a in db.session.scalars(select(BadgeAward).where(
        BadgeAward.community_id == community_id, BadgeAward.user_id == user_id))}
    rows = [(b, awards.get(b.id)) for b in badges]
    return sorted(rows, key=lambda row: (row[1] is None, row[0].sort, row[0].id))


# --- leaderboards -------------------------------------------------------------------------------

PERIODS = ("month", "year", "all")


def period_key(period, now=None):
    """The Tally period for "month", "year" or "all" at `now` (China time)."""
    if period not in PERIODS:
        raise Invalid(N_("Choose this month, this year or all time."))
    keys = period_keys(resolve(now))
    return {"all": keys[0], "year": keys[1], "month": keys[2]}[period]


def leaderboard(actor, community_id, period="month", category=None, *, limit=50, now=None):
    """The top residents by merit: points desc, then who reached the score first, then user id.

    Reads only the Tally table through ix_ledger_tally_board (a top-N walk of the index, not a scan).
    Returns a list of dicts with rank, user_id, display_name, points, reached_at.
    """
    from civic.accounts.models import User

    require(actor, "leaderboard.view", community_id)
    if not 1 <= limit <= 200:
        raise Invalid(N_("Choose between 1 and 200 places."))
    category = check_category(community_id, category) or "*"
    key = period_key(period, now)
    rows = db.session.execute(
        select(Tally.user_id, Tally.points, Tally.reached_at, User.display_name)
        .join(User, User.id == Tally.user_id)
        .where(Tally.community_id == community_id, Tally.period == key, Tally.category == category,
               Tally.points > 0)
        .order_by(Tally.points.desc(), Tally.reached_at.asc(), Tally.user_id.asc())
        .limit(limit)
    ).all()
    return [{"rank": i, "user_id": r.user_id, "display_name": r.display_name, "points": r.points,
             "reached_at": r.reached_at} for i, r in enumerate(rows, start=1)]


def household_board(actor, community_id, period="year", *, limit=10, now=None):
    """Households ranked by their members' merit in a period (for the honour roll, 红榜)."""
    from civic.communities.models import Household, Membership

    require(actor, "leaderboard.view", community_id)
    key = period_key(period, now)
    total = func.sum(Tally.points)
    rows = db.session.execute(
        select(Household.id, Household.label, total.label("points"), func.min(Tally.reached_at).label("reached_at"))
        .join(Membership, and_(Membership.community_id == Household.community_id,
                               Membership.household_id == Household.id, Membership.status == "active"))
        .join(Tally, and_(Tally.community_id == Membership.community_id, Tally.user_id == Membership.user_id,
                          Tally.period == key, Tally.category == "*"))
        .where(Household.community_id == community_id)
        .group_by(Household.id, Household.label)
        .having(total > 0)
        .order_by(total.desc(), func.min(Tally.reached_at).asc(), Household.id.asc())
        .limit(limit)
    ).all()
    return [{"rank": i, "household_id": r.id, "label": r.label, "points": r.points}
            for i, r in enumerate(rows, start=1)]


def person_badges(actor, community_id, user_id):
    """The badges of a resident, as any resident of the community may see them (earned first)."""
    from civic.communities.models import Membership

    require(actor, "leaderboard.view", community_id)
    if db.session.scalar(select(Membership.id).where(
            Membership.community_id == community_id, Membership.user_id == user_id)) is None:
        raise NotFound(N_("This person is not a resident of this community."))
    return badges_of(community_id, user_id)


def _register():
    from civic.communities.service import register_seeder

    register_seeder(ensure_badges)  # after the ledger's categories: this module imports the service first


_register()
