"""Joining a community; the committee's members page; community settings."""
from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from civic.accounts import service as accounts
from civic.accounts.forms import ManagedResidentForm
from civic.communities import service
from civic.communities.forms import JoinForm, NameForm, ReviewForm, RoleForm
from civic.communities.models import Grid, Household
from civic.core.errors import Invalid
from civic.core.permissions import can_administer
from civic.extensions import db
from civic.web import acting_user, commit_and_redirect, community_view, submitted

bp = Blueprint("communities", __name__)


@bp.route("/communities")
@login_required
def browse():
    """All communities, with my status in each and a join button."""
    mine = {m.community_id: m for m in service.memberships_of(acting_user())}
    return render_template("communities/browse.html", communities=service.list_communities(), mine=mine)


@bp.route("/communities/<int:community_id>/join", methods=["GET", "POST"])
@login_required
def join(community_id):
    """Ask the committee to confirm that I live here."""
    from civic.core.permissions import get_community_or_404

    community = get_community_or_404(community_id)
    form = JoinForm()
    if form.validate_on_submit():
        service.request_to_join(acting_user(), community_id, address=form.address.data, note=form.note.data)
        return commit_and_redirect(_("Your request has been sent. The committee will confirm it."), "home.index")
    return render_template("communities/join.html", community=community, form=form)


def _grid_choices(community_id):
    grids = db.session.scalars(select(Grid).where(Grid.community_id == community_id).order_by(Grid.name)).all()
    return [(0, _("No grid yet"))] + [(g.id, g.name) for g in grids]


def _role_form(community_id):
    """Committee seats are offered only to the street's or district's administrator."""
    form = RoleForm()
    if not can_administer(current_user, community_id):
        form.role.choices = [choice for choice in form.role.choices if choice[0] != "committee"]
    return form


@bp.route("/c/<int:community_id>/members")
@community_view("membership.review")
def members(community):
    """The committee's page: join requests, members and their roles, managed residents."""
    review = ReviewForm()
    review.grid_id.choices = _grid_choices(community.id)
    return render_template(
        "communities/members.html",
        community=community,
        pending=service.pending_requests(current_user, community.id),
        members=service.members(current_user, community.id),
        roles=service.roles_by_user(community.id),
        review_form=review,
        role_form=_role_form(community.id),
        managed_form=ManagedResidentForm(),
    )


@bp.route("/c/<int:community_id>/members/<int:membership_id>/review", methods=["POST"])
@community_view("membership.review")
def review(community, membership_id):
    """Confirm or turn down a join request."""
    form = ReviewForm()
    form.grid_id.choices = _grid_choices(community.id)
    if not form.validate_on_submit() or form.decision.data not in ("approve", "reject"):
        raise Invalid()
    approve = form.decision.data == "approve"
    service.review_membership(current_user, community.id, membership_id, approve, grid_id=form.grid_id.data or None)
    return commit_and_redirect(_("Confirmed.") if approve else _("Declined."),
                               "communities.members", community_id=community.id)


@bp.route("/c/<int:community_id>/roles", methods=["POST"])
@community_view("role.grant")
def roles(community):
    """Grant or revoke a role."""
    form = submitted(RoleForm())
    if form.action.data == "revoke":
        service.revoke_role(current_user, community.id, form.user_id.data, form.role.data)
    else:
        service.grant_role(current_user, community.id, form.user_id.data, form.role.data)
    return commit_and_redirect(_("Roles updated."), "communities.members", community_id=community.id)


@bp.route("/c/<int:community_id>/managed", methods=["POST"])
@community_view("resident.manage")
def add_managed(community):
    """Register a resident who has no phone of their own."""
    form = submitted(ManagedResidentForm(), "Please enter the resident's name.")
    resident = accounts.create_managed_resident(
        current_user, community.id, form.display_name.data, address=form.address.data or ""
    )
    return commit_and_redirect(_("%(name)s has been registered.", name=resident.display_name),
                               "communities.members", community_id=community.id)


@bp.route("/c/<int:community_id>/settings", methods=["GET", "POST"])
@community_view("community.configure")
def settings(community):
    """Grids and households of a community."""
    form = NameForm(prefix="grid")
    household_form = NameForm(prefix="household")
    if form.validate_on_submit():
        service.add_grid(current_user, community.id, form.name.data)
        return commit_and_redirect(_("Grid added."), "communities.settings", community_id=community.id)
    if household_form.validate_on_submit():
        service.add_household(current_user, community.id, household_form.name.data)
        return commit_and_redirect(_("Household added."), "communities.settings", community_id=community.id)
    grids = db.session.scalars(select(Grid).where(Grid.community_id == community.id).order_by(Grid.name)).all()
    households = db.session.scalars(
        select(Household).where(Household.community_id == community.id).order_by(Household.label)
    ).all()
    return render_template(
        "communities/settings.html", community=community, form=form, household_form=household_form,
        grids=grids, households=households,
    )
