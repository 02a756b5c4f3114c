"""Community rules: the hierarchy, joining, committee confirmation and roles."""
from sqlalchemy import select

from civic.accounts.models import User
from civic.communities.models import (
    ROLES,
    Community,
    District,
    Grid,
    Household,
    MemberRole,
    Membership,
    Street,
)
from civic.core import audit
from civic.core.clock import resolve
from civic.core.db import get_or_create
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import can_administer, require
from civic.extensions import db
from civic.notifications import service as notices


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
    return get_or_create(District, name=name)[0]


def get_or_create_street(actor, district, name):
    """Find or add a street or township in a district (administrators only)."""
    _require_admin(actor)
    name = _name(name)
    return get_or_create(Street, district_id=district.id, name=name)[0]


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
    seed_community(community.id)
    audit.record("community.created", actor=actor, community_id=community.id)
    return community


SEEDERS = []


def register_seeder(seed):
    """An area adds `seed(community_id)`, which saves its defaults for a new community (idempotent)."""
    SEEDERS.append(seed)
    return seed


def register_settings_seeder(model, settings_for):
    """Save an area's default settings row (`settings_for` returns it unsaved) for each new community."""

    def seed(community_id):
        if db.session.scalar(select(model.id).where(model.community_id == community_id)) is None:
            db.session.add(settings_for(community_id))

    return register_seeder(seed)


def seed_community(community_id):
    """Give a community everything it starts with: categories, settings of every area, report categories."""
    for seed in SEEDERS:
        seed(community_id)
    db.session.flush()


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
    from civic.core.permissions import memberships_and_roles

    found = [m for m, _ in memberships_and_roles(user).values()]
    return [m for m in found if m.status == status] if status else found


def request_to_join(user, community_id, *, address="", note="", now=None):
    """A resident asks to join; the committee confirms residency."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("No such community.")
    now = resolve(now)
    membership, created = get_or_create(Membership, community_id=community_id, user_id=user.id,
                                        defaults={"status": "pending"})
    if not created and membership.status in ("pending", "active"):
        raise Conflict("You have already asked to join this community.")
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


def _memberships_for_committee(actor, community_id, status, order):
    require(actor, "membership.review", community_id)
    return db.session.scalars(
        select(Membership).where(Membership.community_id == community_id, Membership.status == status).order_by(order)
    ).all()


def pending_requests(actor, community_id):
    """Join requests waiting for the committee."""
    return _memberships_for_committee(actor, community_id, "pending", Membership.requested_at)


def members(actor, community_id):
    """Active members of a community, for its committee."""
    return _memberships_for_committee(actor, community_id, "active", Membership.id)


def _membership(community_id, membership_id):
    return get_in_community(Membership, community_id, membership_id, missing="No such membership.")


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
        N_("The committee confirmed your residency.") if approve
        else N_("Please contact the committee if this is a mistake."),
        params={"community": membership.community.name}, community_id=community_id, link="/",
    )
    return membership


def _require_role_granter(actor, community_id, role):
    """Committee seats are the street's or district's administrator's to fill; the committee hands out the rest."""
    if role == "committee":
        if not can_administer(actor, community_id):
            raise PermissionDenied(
                N_("Only the street or district administrator can appoint or remove committee members."))
    else:
        require(actor, "role.grant", community_id)


def _tell_committee(actor, community_id, user_id, title, also=()):
    person = db.session.get(User, user_id)
    for member in [*committee_of(community_id), *(db.session.get(User, i) for i in also)]:
        notices.notify(member, "committee.changed", title, N_("%(actor)s changed the committee: %(name)s."),
                       params={"actor": actor.display_name, "name": person.display_name},
                       community_id=community_id, link=f"/c/{community_id}/rules")


def grant_role(actor, community_id, user_id, role, *, now=None):
    """Give an active member a role (committee seats only from the street/district administrator)."""
    if role not in ROLES:
        raise Invalid("Unknown role.")
    _require_role_granter(actor, community_id, role)
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
    grant = MemberRole(community_id=community_id, user_id=user_id, role=role, granted_by_id=actor.id,
                       granted_at=resolve(now))
    db.session.add(grant)
    db.session.flush()
    audit.record("role.granted", actor=actor, subject=user_id, community_id=community_id, detail={"role": role},
                 now=now)
    if role == "committee":
        _tell_committee(actor, community_id, user_id, N_("A committee member was appointed"))
    return grant


def appoint_committee(actor, community_id, phone, *, now=None):
    """The street's or district's administrator makes a registered person a resident and committee member."""
    from civic.accounts.service import normalize_phone

    if not can_administer(actor, community_id):
        raise PermissionDenied(N_("Only the street or district administrator can appoint or remove committee members."))
    user = db.session.scalar(select(User).where(User.phone == normalize_phone(phone)))
    if user is None:
        raise Invalid("Nobody has registered with that mobile number.")
    membership = get_or_create(Membership, community_id=community_id, user_id=user.id,
                               defaults={"status": "pending"})[0]
    if membership.status != "active":
        membership.status, membership.decided_at, membership.decided_by_id = "active", resolve(now), actor.id
    db.session.flush()
    grant_role(actor, community_id, user.id, "committee", now=now)
    return user


def revoke_role(actor, community_id, user_id, role, *, now=None):
    """Take a role away (committee seats only by the street/district administrator)."""
    _require_role_granter(actor, community_id, role)
    grant = db.session.scalar(
        select(MemberRole).where(
            MemberRole.community_id == community_id, MemberRole.user_id == user_id, MemberRole.role == role
        )
    )
    if grant is None:
        raise NotFound("That person does not hold this role.")
    db.session.delete(grant)
    db.session.flush()
    audit.record("role.revoked", actor=actor, subject=user_id, community_id=community_id, detail={"role": role},
                 now=now)
    if role == "committee":
        _tell_committee(actor, community_id, user_id, N_("A committee member was removed"), also=[user_id])


def roles_by_user(community_id):
    """{user_id: [roles]} for a community's members."""
    result = {}
    for user_id, role in db.session.execute(
        select(MemberRole.user_id, MemberRole.role).where(MemberRole.community_id == community_id)
    ):
        result.setdefault(user_id, []).append(role)
    return result
