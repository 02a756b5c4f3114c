"""API: my data download, closing my account, a community's GPS retention setting."""
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import auth_required, community_access
from civic.extensions import db
from civic.privacy import service
from civic.privacy.schemas import CloseAccountSchema, ClosedSchema, RetentionSchema, UserDataSchema
from civic.web import client_address

blp = Blueprint("api_privacy", __name__, url_prefix="/api/v1", description="Privacy: my data, closing my account")


@blp.route("/me/data")
class MyData(MethodView):
    @blp.response(200, UserDataSchema)
    @auth_required
    def get(self):
        """Everything held about me: profile, memberships, roles, points, orders, patrols, votes …"""
        return service.user_data(current_user)


@blp.route("/me/close")
class CloseAccount(MethodView):
    @blp.arguments(CloseAccountSchema)
    @blp.response(200, ClosedSchema)
    @auth_required
    def post(self, data):
        """Close my account (needs my password). The points history stays in the ledger, anonymised."""
        summary = service.close_account(current_user, data["password"], address=client_address())
        db.session.commit()
        return dict(summary, closed=True)


@blp.route("/communities/<int:community_id>/privacy")
class Retention(MethodView):
    @community_access("privacy.configure")
    @blp.response(200, RetentionSchema)
    def get(self, community_id):
        """How many days raw patrol GPS points are kept (committee only)."""
        return service.settings_for(community_id)

    @community_access("privacy.configure")
    @blp.arguments(RetentionSchema)
    @blp.response(200, RetentionSchema)
    def put(self, data, community_id):
        """Set how many days raw patrol GPS points are kept (committee only)."""
        row = service.update_settings(current_user, community_id, gps_retention_days=data["gps_retention_days"])
        db.session.commit()
        return row
