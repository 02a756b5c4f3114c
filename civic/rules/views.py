"""The rules page of a community: proposals waiting for a second member, and the public history."""
from flask import Blueprint, abort, flash, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from civic.accounts.models import User
from civic.accounts.service import normalize_phone
from civic.communities import service as communities
from civic.communities.forms import AppointForm
from civic.communities.models import Community, District, Street
from civic.core.errors import Invalid
from civic.core.permissions import can, can_administer, can_administer_area
from civic.extensions import db
from civic.rules import service
from civic.rules.models import SettingCeiling
from civic.web import commit_and_redirect, community_view

bp = Blueprint("rules", __name__)


class _Form(FlaskForm):
    def submit_ok(self, prefix):
        """This form (of several on one page) was the one sent, and it is valid."""
        return any(key.startswith(prefix + "-") for key in request.form) and self.validate_on_submit()


class ProposeForm(FlaskForm):
    setting = SelectField(_l("Setting"), validators=[DataRequired()])
    value = IntegerField(_l("New value"), validators=[NumberRange(min=0, max=100_000_000)])


def _propose_form():
    form = ProposeForm(prefix="p")
    form.setting.choices = [(f"{a}:{f}", _(entry.label)) for (a, f), entry in sorted(service.REGISTRY.items())
                            if entry.check is None]
    return form


def flash_four_eyes():
    """Tell the committee member that point-deciding changes wait for a second member (forms of every area)."""
    flash(_("Changes to how many points are given take effect when another committee member confirms them "
            "on the points rules page."), "info")


@bp.route("/c/<int:community_id>/rules", methods=["GET", "POST"])
@community_view("rules.history")
def page(community):
    """Waiting proposals (with confirm/decline buttons for the committee) and the history with both names."""
    form = _propose_form()
    if form.validate_on_submit():
        area, field = form.setting.data.split(":", 1)
        change = service.propose_change(current_user, community.id, area, field, form.value.data)
        return commit_and_redirect(_("Proposed. It takes effect when another committee member confirms it.") if change
                                   else _("That is already the current value."),
                                   "rules.page", community_id=community.id)
    return render_template(
        "rules/page.html", community=community, form=form, pending=service.pending(current_user, community.id),
        history=service.history(current_user, community.id, before=request.args.get("before", type=int)),
        label_of=service.label_of, shown=service.shown, may_decide=can(current_user, "rules.confirm", community.id),
        current={key: entry.read(community.id) for key, entry in service.REGISTRY.items() if entry.check is None},
        registry=service.REGISTRY)


@bp.route("/c/<int:community_id>/rules/<int:change_id>", methods=["POST"])
@community_view("rules.confirm")
def decide(community, change_id):
    """Confirm or decline a proposal (the button carries the choice)."""
    choice = request.form.get("decision")
    if choice == "confirm":
        service.confirm_change(current_user, community.id, change_id)
        message = _("Confirmed: the change is now in effect.")
    elif choice == "decline":
        service.decline_change(current_user, community.id, change_id)
        message = _("Declined: nothing was changed.")
    else:
        raise Invalid()
    return commit_and_redirect(message, "rules.page", community_id=community.id)


class AreaAdminForm(_Form):
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=20)])
    area = SelectField(_l("Street or district"), validators=[DataRequired()])


class CeilingForm(_Form):
    area = SelectField(_l("Street or district"), validators=[DataRequired()])
    setting = SelectField(_l("Setting"), validators=[DataRequired()])
    maximum = IntegerField(_l("Highest allowed"), validators=[NumberRange(min=0, max=100_000_000)])


def _area_choices(user):
    streets = db.session.scalars(select(Street).order_by(Street.district_id, Street.name)).all()
    districts = db.session.scalars(select(District).order_by(District.name)).all()
    choices = [(f"district:{d.id}", d.name) for d in districts if can_administer_area(user, district_id=d.id)]
    choices += [(f"street:{s.id}", f"{s.district.name} {s.name}") for s in streets
                if can_administer_area(user, street_id=s.id)]
    return choices


def _area_ids(value):
    kind, _sep, number = value.partition(":")
    return {"street_id": int(number)} if kind == "street" else {"district_id": int(number)}


@bp.route("/areas", methods=["GET", "POST"])
@login_required
def areas():
    """Street and district administration: committee appointments, ceilings; site admins add administrators."""
    choices = _area_choices(current_user)
    if not choices:
        abort(403)
    assign, ceiling, appoint = AreaAdminForm(prefix="a"), CeilingForm(prefix="c"), AppointForm(prefix="m")
    assign.area.choices = ceiling.area.choices = choices
    ceiling.setting.choices = [(f"{a}:{f}", _(e.label)) for (a, f), e in sorted(service.REGISTRY.items())]
    if current_user.is_admin and assign.submit_ok("a"):
        user = db.session.scalar(select(User).where(User.phone == normalize_phone(assign.phone.data)))
        if user is None:
            raise Invalid("Nobody has registered with that mobile number.")
        service.assign_area_admin(current_user, user, **_area_ids(assign.area.data))
        return commit_and_redirect(_("Administrator added."), "rules.areas")
    if ceiling.submit_ok("c"):
        area, field = ceiling.setting.data.split(":", 1)
        service.set_ceiling(current_user, area=area, field=field, maximum=ceiling.maximum.data,
                            **_area_ids(ceiling.area.data))
        return commit_and_redirect(_("Ceiling saved."), "rules.areas")
    community_id = request.form.get("community_id", type=int)
    removed = request.form.get("remove_user_id", type=int)
    if community_id and removed and FlaskForm().validate_on_submit():
        communities.revoke_role(current_user, community_id, removed, "committee")
        return commit_and_redirect(_("Roles updated."), "rules.areas")
    if community_id and appoint.validate_on_submit():
        user = communities.appoint_committee(current_user, community_id, appoint.phone.data)
        return commit_and_redirect(_("%(name)s is now a committee member.", name=user.display_name), "rules.areas")
    mine = [c for c in db.session.scalars(select(Community).order_by(Community.id))
            if can_administer(current_user, c.id)]
    return render_template(
        "rules/areas.html", assign=assign, ceiling=ceiling, appoint=appoint, communities=mine,
        committee={c.id: communities.committee_of(c.id) for c in mine}, admins=service.area_admins(),
        ceilings=db.session.scalars(select(SettingCeiling).order_by(SettingCeiling.id)).all(),
        registry=service.REGISTRY, names=dict(choices))
