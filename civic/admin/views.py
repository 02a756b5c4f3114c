"""Administrator pages (街道/区)."""
from functools import wraps

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from civic.communities import service
from civic.communities.forms import AppointForm, CommunityForm
from civic.communities.models import Community
from civic.extensions import db
from civic.web import commit_and_redirect, submitted

bp = Blueprint("admin", __name__, url_prefix="/admin")


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/", methods=["GET", "POST"])
@admin_required
def index():
    """Communities of the site, and a form to add one."""
    form = CommunityForm()
    if form.validate_on_submit():
        district = service.get_or_create_district(current_user, form.district.data)
        street = service.get_or_create_street(current_user, district, form.street.data)
        service.create_community(current_user, street, form.name.data, form.kind.data)
        return commit_and_redirect(_("Community created."), "admin.index")
    communities = db.session.scalars(select(Community).order_by(Community.id)).all()
    return render_template("admin/index.html", form=form, communities=communities, appoint_form=AppointForm())


@bp.route("/communities/<int:community_id>/appoint", methods=["POST"])
@admin_required
def appoint(community_id):
    """Make a registered person a resident and committee member of a community."""
    form = submitted(AppointForm())
    user = service.appoint_committee(current_user, community_id, form.phone.data)
    return commit_and_redirect(_("%(name)s is now a committee member.", name=user.display_name), "admin.index")
