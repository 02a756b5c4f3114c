"""API: communities, joining, and the committee's confirmation."""
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import auth_required, community_access
from civic.api.idempotency import idempotent
from civic.communities import service
from civic.communities.schemas import CommunitySchema, JoinRequestSchema, MembershipStatusSchema, ReviewSchema
from civic.extensions import db

blp = Blueprint("api_communities", __name__, url_prefix="/api/v1/communities", description="Communities and membership")


@blp.route("")
class Communities(MethodView):
    @blp.response(200, CommunitySchema(many=True))
    @auth_required
    def get(self):
        """All communities (to choose one to join)."""
        return service.list_communities()


@blp.route("/<int:community_id>/join")
class Join(MethodView):
    @idempotent
    @blp.arguments(JoinRequestSchema)
    @blp.response(201, MembershipStatusSchema)
    @auth_required
    def post(self, data, community_id):
        """Ask to join a community; its committee confirms."""
        membership = service.request_to_join(current_user, community_id, **data)
        return membership


@blp.route("/<int:community_id>/requests")
class Requests(MethodView):
    @community_access("membership.review")
    @blp.response(200, MembershipStatusSchema(many=True))
    def get(self, community_id):
        """Join requests waiting for the committee (committee only)."""
        return service.pending_requests(current_user, community_id)


@blp.route("/<int:community_id>/requests/<int:membership_id>")
class Review(MethodView):
    @community_access("membership.review")
    @blp.arguments(ReviewSchema)
    @blp.response(200, MembershipStatusSchema)
    def post(self, data, community_id, membership_id):
        """Confirm or decline a join request (committee only)."""
        membership = service.review_membership(
            current_user, community_id, membership_id, data["approve"], grid_id=data["grid_id"]
        )
        db.session.commit()
        return membership
