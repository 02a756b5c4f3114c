"""API: a grid worker's rounds and visits from the phone; a department's cases."""
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import auth_required, community_access
from civic.api.idempotency import idempotent
from civic.extensions import db
from civic.grid import service
from civic.grid.schemas import (
    GridCaseSchema,
    GridRoundsSchema,
    GridVisitCreateSchema,
    GridVisitSchema,
)

blp = Blueprint("api_grid", __name__, url_prefix="/api/v1", description="Grid governance: daily rounds, cases")


@blp.route("/communities/<int:community_id>/grid/rounds")
class Rounds(MethodView):
    @community_access("grid.view")
    @blp.response(200, GridRoundsSchema(many=True))
    def get(self, community_id):
        """My grids with the households due a visit and the open problems."""
        return service.grid_home(current_user, community_id)


@blp.route("/communities/<int:community_id>/grid/visits")
class Visits(MethodView):
    @community_access("grid.visit")
    @idempotent
    @blp.arguments(GridVisitCreateSchema)
    @blp.response(201, GridVisitSchema)
    def post(self, data, community_id):
        """Record a visit to a household of my grid; `problem` raises a problem report in the same step."""
        visit = service.record_visit(current_user, community_id, data["household_id"], met=data["met"],
                                     notes=data["notes"], follow_up=data["follow_up"], minutes=data["minutes"],
                                     problem=data["problem"])
        return visit


@blp.route("/grid/cases")
class Cases(MethodView):
    @auth_required
    @blp.response(200, GridCaseSchema(many=True))
    def get(self):
        """Cases sent to my departments and not closed, overdue first."""
        return [case for case, _report in service.cases_for_staff(current_user)]


@blp.route("/grid/cases/<int:case_id>/accept")
class AcceptCase(MethodView):
    @auth_required
    @blp.response(200, GridCaseSchema)
    def post(self, case_id):
        """Accept a case sent to my department (部门报到)."""
        case = service.accept_case(current_user, case_id)
        db.session.commit()
        return case
