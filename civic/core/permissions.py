"""Every permission check goes through here.

A person holds roles per community: being an active member makes them a
"resident" there; MemberRole rows add committee, coordinator and shopkeeper.
Site administrators may do everything. Each action names the roles that may
take it; other parts add their actions to ACTIONS.
"""
import functools

from sqlalchemy import bindparam, event, or_, select, union_all
from sqlalchemy.orm import Session

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
# held by the administrators of a community's street or district (and site administrators): read-only looks
# at the community from the street office's command view (civic.grid), never a change
AREA_ADMIN = "area_admin"

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
    "merit.view": {RESIDENT, AREA_ADMIN},
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
    "community.inspect": {AREA_ADMIN},  # the command view's read-only drill-down into one community
}


_CACHE_KEY = "_civic_viewer_rights"


def _rights_cache():
    """The per-request (per app context) cache of people's memberships and roles, or None outside one."""
    from flask import g, has_app_context

    if not has_app_context():
        return None
    cache = g.get(_CACHE_KEY)
    if cache is None:
        cache = {}
        setattr(g, _CACHE_KEY, cache)
    return cache


def forget_rights():
    """Drop the cached memberships and roles (after any change to them, a commit or a rollback)."""
    from flask import g, has_app_context

    if has_app_context():
        g.pop(_CACHE_KEY, None)


@functools.cache
def _memberships_and_roles_statement():
    """A person's memberships, each with its roles (one row per role): built once per process, with the
    person's id bound (`user_id`), since every page runs it."""
    from civic.communities.models import GridRole, MemberRole, Membership

    user_id = bindparam("user_id")
    roles = union_all(  # committee/coordinator/shopkeeper roles and grid roles alike
        select(MemberRole.community_id, MemberRole.role).where(MemberRole.user_id == user_id),
        select(GridRole.community_id, GridRole.role).where(GridRole.user_id == user_id)).subquery()
    return (select(Membership, roles.c.role)
            .outerjoin(roles, roles.c.community_id == Membership.community_id)
            .where(Membership.user_id == user_id)
            .order_by(Membership.id))


def memberships_and_roles(user):
    """`{community_id: (membership, roles)}` for `user`, read with one query once per request.

    `roles` holds the MemberRole and GridRole names (without "resident"); every check below reuses this.
    """
    cache = _rights_cache()
    if cache is not None and user.id in cache:
        return cache[user.id]
    rows = db.session.execute(_memberships_and_roles_statement(), {"user_id": user.id}).all()
    found = {}
    for membership, role in rows:
        _, roles = found.setdefault(membership.community_id, (membership, set()))
        if role:
            roles.add(role)
    found = {cid: (m, frozenset(roles)) for cid, (m, roles) in found.items()}
    if cache is not None:
        cache[user.id] = found
    return found


def roles_in(user, community_id):
    """The set of roles `user` holds in the community (empty when not an active member)."""
    if user is None or not getattr(user, "id", None):
        return frozenset()
    entry = memberships_and_roles(user).get(community_id)
    if entry is None or entry[0].status != "active":
        return frozenset()
    return frozenset([RESIDENT, *entry[1]])


def can(user, action, community_id):
    """True when `user` may take `action` in the community."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    if user is None or not getattr(user, "id", None):
        return False
    if getattr(user, "is_admin", False):
        return True
    if ACTIONS[action] & roles_in(user, community_id):
        return True
    # only read-only actions name AREA_ADMIN; it is looked up only when the community's own roles did not grant
    return AREA_ADMIN in ACTIONS[action] and can_administer(user, community_id)


def require(user, action, community_id):
    """Raise PermissionDenied unless `user` may take `action` in the community."""
    if not can(user, action, community_id):
        raise PermissionDenied()


def can_administer_area(user, *, street_id=None, district_id=None):
    """True for a site administrator, the street's administrator, or the administrator of its district."""
    from civic.communities.models import AreaAdmin, Street

    if user is None or not getattr(user, "id", None):
        return False
    if getattr(user, "is_admin", False):
        return True
    if street_id is not None:
        district_id = db.session.scalar(select(Street.district_id).where(Street.id == street_id))
    clauses = [AreaAdmin.district_id == district_id]
    if street_id is not None:
        clauses.append(AreaAdmin.street_id == street_id)
    return db.session.scalar(
        select(AreaAdmin.id).where(AreaAdmin.user_id == user.id, or_(*clauses)).limit(1)) is not None


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


def _touches_rights(objects):
    from civic.communities.models import GridRole, MemberRole, Membership

    return any(isinstance(obj, (Membership, MemberRole, GridRole)) for obj in objects)


@event.listens_for(Session, "after_flush")
def _forget_rights_after_change(session, _context):
    if _touches_rights(session.new) or _touches_rights(session.dirty) or _touches_rights(session.deleted):
        forget_rights()


@event.listens_for(Session, "do_orm_execute")
def _forget_rights_after_bulk_change(state):
    if (state.is_update or state.is_delete or state.is_insert) and state.bind_mapper is not None \
            and state.bind_mapper.class_.__name__ in ("Membership", "MemberRole", "GridRole"):
        forget_rights()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_rights_at_transaction_end(_session):
    forget_rights()
