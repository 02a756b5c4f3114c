"""Community rules: the hierarchy, joining, committee confirmation and roles."""
from sqlalchemy import select

from civic.accounts.models import User
from civic.communities.models import (
    ROLES, Community, District, Grid, Household, MemberRole, Membership, Street,
)
from civic.core import audit
from civic.core.clock import resolve
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.permissions import require
from civic.extensions import db
from civic.notifications import service as notices
from civic.core.i18n import N_


def _require_admin(actor):
    if not getattr(actor, "is_admin", False):
        raise PermissionDenied()


def _name(value, message=N_("Please enter a name.")):
    value = (value or "").strip()
    if not value:
        raise Invalid(message)
    return value


def get_or_create_district(actor, name):
    """Find or add a district (administrators only)."""
    _require_admin(actor)
    name = _name(name)
    district = db.session.scalar(select(District).where(District.name == name))
    if district is None:
        district = District(name=name)
        db.session.add(district)
        db.session.flush()
    return district


def get_or_create_street(actor, district, name):
    """Find or add a street or township in a district (administrators only)."""
    _require_admin(actor)
    name = _name(name)
    street = db.session.scalar(select(Street).where(Street.district_id == district.id, Street.name == name))
    if street is None:
        street = Street(district_id=district.id, name=name)
        db.session.add(street)
        db.session.flush()
    return street


def create_community(actor, street, name, kind="community"):
    """Set up a community or village (administrators only)."""
    _require_admin(actor)
    name = _name(name)
    if kind not in ("community", "village"):
        raise Invalid("Unknown kind of community.")
    if db.session.scalar(select(Community.id).where(Community.street_id == street.id, Community.name == name)):
        raise Conflict("A community with that name already exists in this street.")
    community = Community(street_id=street.id, name=name, kind=kind)
    db.session.add(community)
    db.session.flush()
    audit.record("community.created", actor=actor, community_id=community.id)
    return community


def add_grid(actor, community_id, name):
    """Add a grid to a community."""
    require(actor, "community.configure", community_id)
    name = _name(name)
    if db.session.scalar(select(Grid.id).where(Grid.community_id == community_id, Grid.name == name)):
        raise Conflict("A grid with that name already exists.")
    grid = Grid(community_id=community_id, name=name)
    db.session.add(grid)
    db.session.flush()
    return grid


def add_household(actor, community_id, label, grid_id=None):
    """Add a household (户) to a community."""
    require(actor, "community.configure", community_id)
    label = _name(label, N_("Please enter the household's address."))
    if grid_id is not None and db.session.scalar(
        select(Grid.id).where(Grid.community_id == community_id, Grid.id == grid_id)
    ) is None:
        raise Invalid("That grid is not in this community.")
    household = Household(community_id=community_id, label=label, grid_id=grid_id)
    db.session.add(household)
    db.session.flush()
    return household


def list_communities():
    """Every community, for the join page."""
    return db.session.scalars(select(Community).order_by(Community.street_id, Community.name)).all()


def memberships_of(user, status=None):
    """A person's memberships, optionally only those with `status`."""
    query = select(Membership).where(Membership.user_id == user.id).order_by(Membership.id)
    if status:
        query = query.where(Membership.status == status)
    return db.session.scalars(query).all()


def request_to_join(user, community_id, *, address="", note="", now=None):
    """A resident asks to join; the committee confirms residency."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("No such community.")
    now = resolve(now)
    membership = db.session.scalar(
        select(Membership).where(Membership.community_id == community_id, Membership.user_id == user.id)
    )
    if membership is not None and membership.status in ("pending", "active"):
        raise Conflict("You have already asked to join this community.")
    if membership is None:
        membership = Membership(community_id=community_id, user_id=user.id)
        db.session.add(membership)
    membership.status = "pending"
    membership.address = (address or "").strip()[:120]
    membership.note = (note or "").strip()[:200]
    membership.requested_at = now
    membership.decided_at = None
    membership.decided_by_id = None
    db.session.flush()
    for member in committee_of(community_id):
        notices.notify(
            member, "membership.requested", N_("New request to join"),
            N_("%(name)s asked to join %(community)s."),
            params={"name": user.display_name, "community": community.name},
            community_id=community_id, link=f"/c/{community_id}/members",
        )
    return membership


def committee_of(community_id):
    """Active committee members of a community."""
    return db.session.scalars(
        select(User).join(MemberRole, MemberRole.user_id == User.id).where(
            MemberRole.community_id == community_id, MemberRole.role == "committee"
        )
    ).all()


def pending_requests(actor, community_id):
    """Join requests waiting for the committee."""
    require(actor, "membership.review", community_id)
    return db.session.scalars(
        select(Membership).where(Membership.community_id == community_id, Membership.status == "pending")
        .order_by(Membership.requested_at)
    ).all()


def members(actor, community_id):
    """Active members of a community, for its committee."""
    require(actor, "membership.review", community_id)
    return db.session.scalars(
        select(Membership).where(Membership.community_id == community_id, Membership.status == "active")
        .order_by(Membership.id)
    ).all()


def _membership(community_id, membership_id):
    membership = db.session.scalar(
        select(Membership).where(Membership.community_id == community_id, Membership.id == membership_id)
    )
    if membership is None:
        raise NotFound("No such membership.")
    return membership


def review_membership(actor, community_id, membership_id, approve, *, grid_id=None, now=None):
    """The committee confirms or turns down a residency request."""
    require(actor, "membership.review", community_id)
    membership = _membership(community_id, membership_id)
    if membership.status != "pending":
        raise Conflict("This request has already been decided.")
    if grid_id is not None and db.session.scalar(
        select(Grid.id).where(Grid.community_id == community_id, Grid.id == grid_id)
    ) is None:
        raise Invalid("That grid is not in this community.")
    now = resolve(now)
    membership.status = "active" if approve else "rejected"
    membership.grid_id = grid_id if approve else None
    membership.decided_at = now
    membership.decided_by_id = actor.id
    db.session.flush()
    audit.record(
        "membership.approved" if approve else "membership.rejected",
        actor=actor, subject=membership.user_id, community_id=community_id, now=now,
    )
    notices.notify(
        membership.user, "membership.decided",
        N_("Welcome to %(community)s") if approve else N_("Your request to join %(community)s was declined"),
        N_("The committee confirmed your residency.") if approve else N_("Please contact the committee if this is a mistake."),
        params={"community": membership.community.name}, community_id=community_id, link="/",
    )
    return membership


def grant_role(actor, community_id, user_id, role, *, now=None):
    """Give an active member a role (committee members grant; only admins grant committee)."""
    require(actor, "role.grant", community_id)
    if role not in ROLES:
        raise Invalid("Unknown role.")
    if role == "committee" and not actor.is_admin and actor.id == user_id:
        raise PermissionDenied()
    membership = db.session.scalar(
        select(Membership).where(Membership.community_id == community_id, Membership.user_id == user_id)
    )
    if membership is None or membership.status != "active":
        raise Invalid("Only confirmed residents can hold a role.")
    if membership.user.is_managed:
        raise Invalid("A managed resident cannot hold a role.")
    exists = db.session.scalar(
        select(MemberRole).where(
            MemberRole.community_id == community_id, MemberRole.user_id == user_id, MemberRole.role == role
        )
    )
    if exists:
        return exists
    grant = MemberRole(community_id=community_id, user_id=user_id, role=role, granted_by_id=actor.id, granted_at=resolve(now))
    db.session.add(grant)
    db.session.flush()
    audit.record("role.granted", actor=actor, subject=user_id, community_id=community_id, detail={"role": role}, now=now)
    return grant


def revoke_role(actor, community_id, user_id, role, *, now=None):
    """Take a role away; the last committee member cannot be removed by themselves."""
    require(actor, "role.grant", community_id)
    grant = db.session.scalar(
        select(MemberRole).where(
            MemberRole.community_id == community_id, MemberRole.user_id == user_id, MemberRole.role == role
        )
    )
    if grant is None:
        raise NotFound("That person does not hold this role.")
    if role == "committee" and len(committee_of(community_id)) <= 1 and not actor.is_admin:
        raise Conflict("A community needs at least one committee member.")
    db.session.delete(grant)
    db.session.flush()
    audit.record("role.revoked", actor=actor, subject=user_id, community_id=community_id, detail={"role": role}, now=now)


def roles_by_user(community_id):
    """{user_id: [roles]} for a community's members."""
    result = {}
    for user_id, role in db.session.execute(
        select(MemberRole.user_id, MemberRole.role).where(MemberRole.community_id == community_id)
    ):
        result.setdefault(user_id, []).append(role)
    return result
