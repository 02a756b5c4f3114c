"""API: proposals to the point-deciding settings, their confirmation, the public history, ceilings."""
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import auth_required, community_access
from civic.api.idempotency import idempotent
from civic.core.errors import Conflict
from civic.core.i18n import N_
from civic.extensions import db
from civic.rules import service
from civic.rules.schemas import CeilingSchema, ChangeSchema, DecisionSchema, HistoryQuery, ProposeSchema

blp = Blueprint("api_rules", __name__, url_prefix="/api/v1", description="Four eyes on the points rules")


@blp.route("/communities/<int:community_id>/rule-changes")
class Changes(MethodView):
    @community_access("rules.history")
    @blp.arguments(HistoryQuery, location="query")
    @blp.response(200, ChangeSchema(many=True))
    def get(self, query, community_id):
        """Every change to the point-deciding settings with who proposed and who decided (residents may read)."""
        return service.history(current_user, community_id, before=query["before"])

    @community_access("rules.propose")
    @idempotent
    @blp.arguments(ProposeSchema)
    @blp.response(201, ChangeSchema)
    def post(self, data, community_id):
        """Propose a new value; it takes effect when another committee member confirms it."""
        change = service.propose_change(current_user, community_id, data["area"], data["field"], data["value"])
        if change is None:
            raise Conflict(N_("That is already the current value."))
        return change


@blp.route("/communities/<int:community_id>/rule-changes/<int:change_id>")
class Decide(MethodView):
    @community_access("rules.confirm")
    @blp.arguments(DecisionSchema)
    @blp.response(200, ChangeSchema)
    def post(self, data, community_id, change_id):
        """Confirm (a different committee member) or decline a proposal."""
        if data["decision"] == "confirm":
            change = service.confirm_change(current_user, community_id, change_id)
        else:
            change = service.decline_change(current_user, community_id, change_id)
        db.session.commit()
        return change


@blp.route("/ceilings")
class Ceilings(MethodView):
    @auth_required
    @blp.arguments(CeilingSchema)
    @blp.response(200, CeilingSchema)
    def put(self, data):
        """A street's or district's administrator sets the most its communities may set a setting to."""
        row = service.set_ceiling(current_user, **data)
        db.session.commit()
        return row
