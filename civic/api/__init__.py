"""The JSON API under /api/v1 (flask-smorest), with its OpenAPI document and docs page."""
from functools import wraps

import marshmallow as ma
from flask import Blueprint, render_template, url_for
from flask_login import current_user
from flask_smorest import abort

from civic.core.permissions import get_community_or_404, require
from civic.extensions import api, csrf

docs_bp = Blueprint("api_docs", __name__)


def _utc_isoformat(value):
    """Stored datetimes are naive UTC: say so on the wire ("...Z"), as the documented
    `date-time` format (RFC 3339) requires an offset; aware values keep theirs."""
    if value.tzinfo is None:
        return value.isoformat() + "Z"
    return value.isoformat()


# Every marshmallow DateTime field of the API (format "iso", the default) serializes this way.
ma.fields.DateTime.SERIALIZATION_FUNCS = {
    **ma.fields.DateTime.SERIALIZATION_FUNCS, "iso": _utc_isoformat, "iso8601": _utc_isoformat,
}


@docs_bp.route("/api/docs")
def docs():
    """Interactive API documentation, served from local assets."""
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))


def auth_required(view):
    """Require a signed-in user (bearer token or session cookie) on an API view."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            abort(401, message="Sign in first: send 'Authorization: Bearer <token>'.")
        return view(*args, **kwargs)

    return wrapper


def community_access(action):
    """Check sign-in and the permission for `community_id` before the body is even parsed,
    so nobody learns anything about another community's routes (not even validation rules)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401, message="Sign in first: send 'Authorization: Bearer <token>'.")
            get_community_or_404(kwargs["community_id"])
            require(current_user, action, kwargs["community_id"])
            return view(*args, **kwargs)

        return wrapper

    return decorator


def register_api(app):
    """Register every API blueprint; they are CSRF-exempt (see civic.web for cookie callers)."""
    from civic.accounts.api import blp as accounts_blp
    from civic.communities.api import blp as communities_blp
    from civic.deliberation.api import blp as deliberation_blp
    from civic.grid.api import blp as grid_blp
    from civic.ledger.api import blp as ledger_blp
    from civic.merit.api import blp as merit_blp
    from civic.notifications.api import blp as notifications_blp
    from civic.patrols.api import blp as patrols_blp
    from civic.privacy.api import blp as privacy_blp
    from civic.rules.api import blp as rules_blp
    from civic.shop.api import blp as shop_blp

    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    for blp in (accounts_blp, communities_blp, notifications_blp, deliberation_blp, patrols_blp, ledger_blp, shop_blp,
                merit_blp, privacy_blp, rules_blp, grid_blp):
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.register_blueprint(docs_bp)
