"""Every permission check goes through here.

A person holds roles per community: being an active member makes them a
"resident" there; MemberRole rows add committee, coordinator and shopkeeper.
Site administrators may do everything. Each action names the roles that may
take it; other parts add their actions to ACTIONS.
"""
from sqlalchemy import or_, select

from civic.core.errors import NotFound, PermissionDenied
from civic.extensions import db

RESIDENT = "resident"
COMMITTEE = "committee"
COORDINATOR = "coordinator"
SHOPKEEPER = "shopkeeper"
# grid roles (civic.grid), held per grid and counted as roles in the community
GRID_LEADER = "grid_leader"
GRID_WORKER = "grid_worker"
BUILDING_HEAD = "building_head"

ACTIONS = {
    # communities and accounts
    "community.view": {RESIDENT},
    "membership.review": {COMMITTEE},
    "role.grant": {COMMITTEE},
    "resident.manage": {COMMITTEE},
    "resident.act_for": {COMMITTEE},
    "community.configure": {COMMITTEE},
    # volunteer patrols and problem reports (civic.patrols)
    "patrol.join": {RESIDENT},
    "patrol.coordinate": {COORDINATOR, COMMITTEE},
    "patrol.configure": {COMMITTEE},
    "report.handle": {COORDINATOR, COMMITTEE},
    # merit claims, review and the public notice (civic.merit)
    "merit.view": {RESIDENT},
    "merit.claim": {RESIDENT},
    "merit.object": {RESIDENT},
    "merit.record": {COMMITTEE, COORDINATOR},
    "merit.review": {COMMITTEE},
    "merit.configure": {COMMITTEE},
    # neighbourhood deliberation (civic.deliberation)
    "deliberation.view": {RESIDENT},
    "deliberation.participate": {RESIDENT},
    "deliberation.manage": {COMMITTEE},
    # passbook, leaderboards, honour roll (civic.ledger)
    "passbook.view": {RESIDENT},
    "passbook.inspect": {COMMITTEE},
    "leaderboard.view": {RESIDENT},
    "honour_roll.show": {COMMITTEE},
    # points shop
    "shop.browse": {RESIDENT},
    "shop.stock": {COMMITTEE, SHOPKEEPER},
    "shop.redeem": {COMMITTEE, SHOPKEEPER},
    "shop.manage": {COMMITTEE},
    "shop.economy": {COMMITTEE},
    # privacy: how long raw patrol GPS points are kept (civic.privacy)
    "privacy.configure": {COMMITTEE},
    # four eyes on the point-deciding settings (civic.rules): one proposes, another confirms
    "rules.propose": {COMMITTEE},
    "rules.confirm": {COMMITTEE},
    "rules.history": {RESIDENT},
    # grid governance (civic.grid): roles, daily rounds, escalation to the street
    "grid.view": {GRID_WORKER, GRID_LEADER, BUILDING_HEAD, COMMITTEE},
    "grid.visit": {GRID_WORKER, GRID_LEADER, COMMITTEE},
    "grid.manage": {COMMITTEE},
    "grid.escalate": {GRID_LEADER, COMMITTEE},
    "dispute.manage": {GRID_LEADER, COMMITTEE},
}


def roles_in(user, community_id):
    """The set of roles `user` holds in the community (empty when not an active member)."""
    from civic.communities.models import MemberRole, Membership
    from civic.grid.models import GridRole

    if user is None or not getattr(user, "id", None):
        return frozenset()
    status = db.session.scalar(
        select(Membership.status).where(Membership.community_id == community_id, Membership.user_id == user.id)
    )
    if status != "active":
        return frozenset()
    roles = db.session.scalars(
        select(MemberRole.role).where(MemberRole.community_id == community_id, MemberRole.user_id == user.id)
        .union_all(select(GridRole.role).where(GridRole.community_id == community_id, GridRole.user_id == user.id))
    ).all()
    return frozenset([RESIDENT, *roles])


def can(user, action, community_id):
    """True when `user` may take `action` in the community."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    if user is None or not getattr(user, "id", None):
        return False
    if getattr(user, "is_admin", False):
        return True
    return bool(ACTIONS[action] & roles_in(user, community_id))


def require(user, action, community_id):
    """Raise PermissionDenied unless `user` may take `action` in the community."""
    if not can(user, action, community_id):
        raise PermissionDenied()


def can_administer_area(user, *, street_id=None, district_id=None):
    """True for a site administrator, the street's administrator, or the administrator of its district."""
    from civic.communities.models import Street
    from civic.rules.models import AreaAdmin

    if user is None or not getattr(user, "id", None):
        return False
    if getattr(user, "is_admin", False):
        return True
    if street_id is not None:
        district_id = db.session.scalar(select(Street.district_id).where(Street.id == street_id))
    clauses = [AreaAdmin.district_id == district_id]
    if street_id is not None:
        clauses.append(AreaAdmin.street_id == street_id)
    return db.session.scalar(select(AreaAdmin.id).where(AreaAdmin.user_id == user.id, or_(*clauses)).limit(1)) is not None


def can_administer(user, community_id):
    """True when `user` administers the community's street or district (or the whole site)."""
    from civic.communities.models import Community

    street_id = db.session.scalar(select(Community.street_id).where(Community.id == community_id))
    return street_id is not None and can_administer_area(user, street_id=street_id)


def get_community_or_404(community_id):
    """Load a community or raise NotFound."""
    from civic.communities.models import Community

    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("No such community.")
    return community
