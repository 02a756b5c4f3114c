"""Star levels, badges as data, leaderboards with deterministic ties, the honour roll (红榜), tenancy."""
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from civic.communities.models import Household, Membership
from civic.core.errors import Invalid, PermissionDenied
from civic.extensions import db
from civic.ledger import gamification as game
from civic.ledger import service as ledger
from civic.ledger.models import Badge, BadgeAward
from civic.notifications.models import Notification
from tests import factories
from tests.sql import recorded

T0 = datetime(2026, 11, 10, 2, 0)


def _award(world, user, amount, key, *, category="labour", at=T0, community=None):
    """An award committed, as every edge that awards commits it (badges follow the commit)."""
    community_id = (community or world.a).id
    txn = ledger.award(community_id, user.id, amount, idempotency_key=f"g:{key}", category=category, now=at)
    db.session.commit()
    return txn


def _awards_of(user_id):
    return db.session.scalars(
        select(Badge.code).join(BadgeAward, (BadgeAward.badge_id == Badge.id)).where(BadgeAward.user_id == user_id)
        .order_by(Badge.code)).all()


@pytest.mark.parametrize("points, stars, to_next", [
    (0, 0, 20), (19, 0, 1), (20, 1, 80), (99, 1, 1), (100, 2, 200), (300, 3, 300), (999, 4, 1), (1000, 5, 0),
    (50_000, 5, 0),
])
def test_star_thresholds(points, stars, to_next):
    """Levels follow the documented thresholds 20 / 100 / 300 / 600 / 1000, with the distance to the next."""
    level = game.level_for(points)
    assert (level["stars"], level["to_next"]) == (stars, to_next)
    assert 0 <= level["progress"] <= 100


def test_spending_never_lowers_the_level(app_ctx, world):
    """Holding points for the shop and settling or releasing the hold leave the level where it was."""
    _award(world, world.resident, 120, 1)
    assert game.level_of(world.a.id, world.resident.id)["stars"] == 2
    first = ledger.hold(world.a.id, world.resident.id, 100, idempotency_key="h1")
    ledger.settle_hold(world.a.id, first, 1, idempotency_key="s1")
    second = ledger.hold(world.a.id, world.resident.id, 20, idempotency_key="h2")
    ledger.release_hold(world.a.id, second, idempotency_key="r2")
    assert ledger.balance_of(world.a.id, world.resident.id) == 20
    level = game.level_of(world.a.id, world.resident.id)
    assert level["stars"] == 2 and level["lifetime"] == 120


def test_badge_is_awarded_once(app_ctx, world):
    """The first award earns the first-points badge once: not again on more awards, replays or re-checks."""
    _award(world, world.resident, 5, 1)
    assert _awards_of(world.resident.id) == ["first_award"]
    _award(world, world.resident, 5, 2)
    _award(world, world.resident, 5, 1)  # a replay of the same key
    assert game.check_badges(world.a.id, world.resident.id) == []
    assert _awards_of(world.resident.id) == ["first_award"]
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == world.resident.id, Notification.kind == "badge.awarded")) == 1


def test_category_and_milestone_badges_at_their_thresholds(app_ctx, world):
    """A category badge comes at 50 points in that category, the 100 milestone at 100 in all."""
    _award(world, world.resident, 49, 1, category="labour")
    assert "category:labour" not in _awards_of(world.resident.id)
    _award(world, world.resident, 1, 2, category="labour")
    assert "category:labour" in _awards_of(world.resident.id)
    _award(world, world.resident, 49, 3, category="moral")
    assert "milestone:100" not in _awards_of(world.resident.id)
    _award(world, world.resident, 1, 4, category="patrol")
    assert _awards_of(world.resident.id) == ["category:labour", "first_award", "milestone:100"]


def test_badges_are_per_community(app_ctx, world):
    """Badges earned in one community are not shown in another; each community has its own set."""
    _award(world, world.b_resident, 5, 1, community=world.b)
    assert _awards_of(world.b_resident.id) == ["first_award"]
    # every community was given its own set when it was made; the award is on community B's badge
    assert {b.community_id for b in db.session.scalars(select(Badge))} == {world.a.id, world.b.id}
    assert {a.community_id for a in db.session.scalars(select(BadgeAward))} == {world.b.id}


def test_other_parts_register_their_badges(app_ctx, world):
    """Another part registers a badge (threshold or manual) and it appears in every community; grants are idempotent."""
    game.register_badge("test:patroller", "Night patroller", "manual")
    game.register_badge("test:patrol50", "Patrol star", "category", 3, category="patrol")
    try:
        _award(world, world.resident, 3, 1, category="patrol")
        assert "test:patrol50" in _awards_of(world.resident.id)
        first = game.grant_badge(world.a.id, world.resident.id, "test:patroller")
        again = game.grant_badge(world.a.id, world.resident.id, "test:patroller")
        assert first.id == again.id
        assert _awards_of(world.resident.id).count("test:patroller") == 1
        with pytest.raises(ValueError):
            game.register_badge("test:bad", "Bad", "weird")
    finally:
        game.BADGE_DEFINITIONS.pop("test:patroller", None)
        game.BADGE_DEFINITIONS.pop("test:patrol50", None)


def test_a_badge_new_to_a_community_reaches_those_already_past_it(app_ctx, world):
    """A badge registered in a later release goes to everyone already past its threshold as soon as the community
    is given it, whichever process gives it: the decision reads the tallies, not what one process saw before.
    (With a per-process "first change" flag only a process that had not seen the resident would award it, and
    only at the resident's next change.)"""
    _award(world, world.resident, 150, 1)
    assert _awards_of(world.resident.id) == ["category:labour", "first_award", "milestone:100"]
    game.register_badge("test:milestone120", "120 points", "milestone", 120, sort=33)
    try:
        newcomer = factories.make_member(world.a)
        _award(world, newcomer, 5, 2)  # crosses first points: the community is given the new badge
        assert _awards_of(world.resident.id) == ["category:labour", "first_award", "milestone:100",
                                                 "test:milestone120"]
        assert _awards_of(newcomer.id) == ["first_award"]
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == world.resident.id, Notification.kind == "badge.awarded")) == 4
        _award(world, world.resident, 1, 3)  # nothing crossed: nothing new, nothing twice
        assert _awards_of(world.resident.id).count("test:milestone120") == 1
    finally:
        game.BADGE_DEFINITIONS.pop("test:milestone120", None)


def test_badges_are_checked_only_when_a_threshold_is_crossed(app_ctx, world):
    """Whether a resident's badges are checked after a commit follows from the tallies the posting returned
    (before and after), the same in every process: an award that crosses no threshold reads no badge."""
    _award(world, world.resident, 5, 1)
    with recorded() as statements:
        _award(world, world.resident, 5, 2)      # 5 -> 10: nothing to earn
    assert [s for s in statements if "ledger_badge" in s] == []
    with recorded() as statements:
        _award(world, world.resident, 40, 3)     # labour 10 -> 50: the category badge
    assert [s for s in statements if "ledger_badge" in s] != []
    assert _awards_of(world.resident.id) == ["category:labour", "first_award"]


def test_badges_follow_the_commit_and_a_rollback_earns_nothing(app_ctx, world):
    """Posting awards no badge by itself: badges come once the posting's transaction commits, and a posting
    rolled back earns none (the ledger's merit_changed signal is sent after commit, never on rollback)."""
    heard = []

    def listen(_sender, **change):
        heard.append(change)

    ledger.merit_changed.connect(listen)
    try:
        user_id, community_id = world.resident.id, world.a.id
        ledger.award(community_id, user_id, 5, idempotency_key="g:rolled", category="labour", now=T0)
        assert _awards_of(user_id) == [] and heard == []
        db.session.rollback()
        assert _awards_of(user_id) == [] and heard == []
        db.session.commit()
        assert heard == []
        ledger.award(community_id, user_id, 5, idempotency_key="g:kept", category="labour", now=T0)
        assert _awards_of(user_id) == []
        db.session.commit()
        assert heard == [{"community_id": community_id, "user_id": user_id, "now": T0,
                          "lifetime": {"*": (0, 5), "labour": (0, 5)}}]
        assert _awards_of(user_id) == ["first_award"]
    finally:
        ledger.merit_changed.disconnect(listen)


def test_leaderboard_ties_at_the_boundary(app_ctx, world):
    """Equal points: whoever reached the score first ranks higher; at the same moment, the lower user id.
    The cut at `limit` falls the same way every time."""
    people = [factories.make_member(world.a) for _ in range(4)]
    _award(world, people[3], 30, "a", at=T0)                               # 30, earliest
    _award(world, people[2], 30, "b", at=T0 + timedelta(minutes=5))        # 30, later
    _award(world, people[1], 30, "c", at=T0 + timedelta(minutes=5))        # 30, same moment as people[2]
    _award(world, people[0], 50, "d", at=T0 + timedelta(minutes=9))        # 50
    now = T0 + timedelta(hours=1)
    board = game.leaderboard(world.resident, world.a.id, "month", limit=3, now=now)
    tied_late = sorted([people[1].id, people[2].id])
    assert [r["user_id"] for r in board] == [people[0].id, people[3].id, tied_late[0]]
    assert [r["rank"] for r in board] == [1, 2, 3]
    full = game.leaderboard(world.resident, world.a.id, "month", limit=10, now=now)
    assert [r["user_id"] for r in full][2:] == tied_late


def test_leaderboard_periods_and_categories(app_ctx, world):
    """Month, year and all-time boards count only their period; a category board only that category."""
    _award(world, world.resident, 40, 1, category="moral", at=datetime(2025, 6, 1, 2, 0))
    _award(world, world.resident2, 10, 2, category="labour", at=datetime(2026, 3, 1, 2, 0))
    _award(world, world.coordinator, 5, 3, category="labour", at=T0)
    now = T0 + timedelta(days=1)

    def names(period, category=None):
        return [r["user_id"] for r in game.leaderboard(world.resident, world.a.id, period, category, now=now)]

    assert names("month") == [world.coordinator.id]
    assert names("year") == [world.resident2.id, world.coordinator.id]
    assert names("all") == [world.resident.id, world.resident2.id, world.coordinator.id]
    assert names("all", "moral") == [world.resident.id]
    with pytest.raises(Invalid):
        game.leaderboard(world.resident, world.a.id, "week", now=now)
    with pytest.raises(Invalid):
        game.leaderboard(world.resident, world.a.id, "all", "nope", now=now)


def test_leaderboard_reads_only_the_tally_table(app_ctx, world):
    """The leaderboard query touches ledger_tally (and names), never the postings or transactions."""
    _award(world, world.resident, 5, 1)
    with recorded() as statements:
        game.leaderboard(world.resident, world.a.id, "all", now=T0)
    board_sql = [s for s in statements if "ledger_tally" in s]
    assert board_sql and not any("ledger_posting" in s or "ledger_transaction" in s for s in statements)


def test_household_board(app_ctx, world):
    """Households rank by their members' merit for the honour roll."""
    homes = []
    for label, members in (("一号院", [world.resident, world.resident2]), ("二号院", [world.coordinator])):
        home = Household(community_id=world.a.id, label=label)
        db.session.add(home)
        db.session.flush()
        for user in members:
            db.session.scalar(select(Membership).where(
                Membership.community_id == world.a.id, Membership.user_id == user.id)).household_id = home.id
        homes.append(home)
    _award(world, world.resident, 10, 1)
    _award(world, world.resident2, 10, 2)
    _award(world, world.coordinator, 15, 3)
    board = game.household_board(world.resident, world.a.id, "year", now=T0)
    assert [(h["label"], h["points"]) for h in board] == [("一号院", 20), ("二号院", 15)]


def test_another_communitys_committee_gets_nothing(app_ctx, world):
    """Leaderboards, badges and households of community A refuse community B's committee."""
    _award(world, world.resident, 5, 1)
    for call in (
        lambda: game.leaderboard(world.b_committee, world.a.id, "all"),
        lambda: game.household_board(world.b_committee, world.a.id, "all"),
        lambda: game.person_badges(world.b_committee, world.a.id, world.resident.id),
    ):
        with pytest.raises(PermissionDenied):
            call()


def test_honour_roll_page(client, auth, app, world):
    """The committee opens the honour roll; it auto-refreshes through static JS; residents and others are refused."""
    with app.app_context():
        _award(world, world.resident, 30, 1, at=datetime.utcnow())
        db.session.commit()
    url = f"/c/{world.a.id}/honour-roll"
    auth.login()
    page = client.get(url).get_data(as_text=True)
    assert "红榜" in page and "刘阿姨" in page and 'data-refresh-seconds="60"' in page
    assert re.search(r"/static/js/ledger\.[0-9a-f]{12}\.js", page) and "<script>" not in page
    auth.logout()
    auth.login(phone=world.resident.phone)
    assert client.get(url).status_code == 403
    auth.logout()
    auth.login(phone=world.b_committee.phone)
    assert client.get(url).status_code == 403


def test_leaderboard_and_badges_pages_and_api(client, auth, app, world, api_token):
    """Residents see the leaderboard and their badges as pages and through the API."""
    with app.app_context():
        _award(world, world.resident, 60, 1, at=datetime.utcnow())
        _award(world, world.resident2, 60, 2, at=datetime.utcnow() + timedelta(seconds=1))
        db.session.commit()
    auth.login(phone=world.resident2.phone)
    page = client.get("/points/leaderboard?period=all").get_data(as_text=True)
    assert page.index("刘阿姨") < page.index("陈大爷")
    assert client.get("/points/leaderboard?period=week").status_code == 422
    badges = client.get("/points/badges").get_data(as_text=True)
    assert 'data-code="first_award"' in badges and "第一笔积分" in badges
    headers = api_token(world.resident2)
    board = client.get(f"/api/v1/communities/{world.a.id}/points/leaderboard",
                       query_string={"period": "all", "limit": 1}, headers=headers).json
    assert [r["display_name"] for r in board["rows"]] == ["刘阿姨"]
    assert client.get(f"/api/v1/communities/{world.a.id}/points/leaderboard",
                      query_string={"period": "decade"}, headers=headers).status_code == 422
    body = client.get(f"/api/v1/communities/{world.a.id}/people/{world.resident.id}/badges", headers=headers).json
    earned = {b["code"] for b in body if b["earned"]}
    assert earned == {"first_award", "category:labour"}
    assert client.get(f"/api/v1/communities/{world.a.id}/people/{world.b_resident.id}/badges",
                      headers=headers).status_code == 404
