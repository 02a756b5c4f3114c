"""Home (首页), me (我的), manifest, service worker."""
from pathlib import Path

from flask import Blueprint, current_app, jsonify, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from civic.accounts.forms import LanguageForm, PreferencesForm
from civic.communities.models import Community, Street
from civic.communities.service import memberships_of
from civic.extensions import db
from civic.ledger import passbook
from civic.web import acting_user, current_community_id

bp = Blueprint("home", __name__)

# The community with its street and district (its full name) in one statement, not three; built once.
_COMMUNITY = (select(Community).options(joinedload(Community.street).joinedload(Street.district))
              .where(Community.id == bindparam("community_id")))


@bp.route("/")
def index():
    """The home page: a welcome for visitors, the community's front page for members."""
    if not current_user.is_authenticated:
        return render_template("home/welcome.html", language_form=LanguageForm())
    community_id = current_community_id()
    memberships = memberships_of(acting_user())
    community = None
    if any(m.community_id == community_id for m in memberships):
        community = db.session.execute(_COMMUNITY, {"community_id": community_id}).scalar_one_or_none()
    pending = [m for m in memberships if m.status == "pending"]
    points = None
    if community is not None and any(m.community_id == community.id and m.status == "active" for m in memberships):
        points = passbook.glance(acting_user(), community.id, acting_user().id)
    return render_template("home/index.html", community=community, pending=pending, points=points)


@bp.route("/me")
@login_required
def me():
    """My page: profile, communities, settings."""
    from civic.core.permissions import roles_in

    memberships = memberships_of(acting_user())
    roles = {m.community_id: roles_in(current_user, m.community_id) for m in memberships}
    form = PreferencesForm(locale=current_user.locale or "zh_CN", elder_mode=current_user.elder_mode)
    return render_template("home/me.html", memberships=memberships, roles=roles, form=form)


@bp.route("/section/<name>")
@login_required
def section(name):
    """Landing pages for parts of the product that a community has not opened yet."""
    titles = {"points": _("Merit points"), "patrols": _("Patrols"), "deliberation": _("Deliberation")}
    if name not in titles:
        return redirect(url_for("home.index"))
    return render_template("home/section.html", title=titles[name], name=name)


@bp.route("/c/<int:community_id>/switch", methods=["POST"])
@login_required
def switch_community(community_id):
    """Look at another of my communities."""
    mine = {m.community_id for m in memberships_of(acting_user(), status="active")}
    if community_id in mine or current_user.is_admin:
        session["community_id"] = community_id
    return redirect(url_for("home.index"))


@bp.route("/manifest.webmanifest")
def manifest():
    """Web app manifest, so residents can add the site to their home screen."""
    data = {
        "name": _("Civic Home"),
        "short_name": _("Civic"),
        "start_url": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#c0392b",
        "lang": "zh-CN",
        "icons": [
            {"src": url_for("static", filename="img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": url_for("static", filename="img/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }
    response = jsonify(data)
    response.mimetype = "application/manifest+json"
    # It names the hashed icon URLs, so browsers revalidate it (a day at most between checks by spec).
    response.headers["Cache-Control"] = "public, no-cache"
    return response


@bp.route("/sw.js")
def service_worker():
    """The service worker, served from the root so that its scope covers every page. Its list of shell
    files names their content-hashed URLs, and its cache version follows the static files' digest, so
    a deployment with new files installs a new worker that fetches them."""
    source = (Path(current_app.static_folder) / "sw.js").read_text(encoding="utf-8")
    for name in current_app.extensions.get("static_manifest", {}):
        source = source.replace(f'"/static/{name}"', f'"{url_for("static", filename=name)}"')
    digest = current_app.extensions.get("static_digest", "")
    source = source.replace('var VERSION = "civic-v1";', f'var VERSION = "civic-v1-{digest}";')
    response = current_app.response_class(source, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.route("/offline")
def offline():
    """Shown by the service worker when a page is needed and there is no network."""
    return render_template("home/offline.html")
