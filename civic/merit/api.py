"""API: the rule catalogue, claims, approvals, the notice board and objections.

Every POST that creates or decides something takes an `Idempotency-Key` header (civic.api.idempotency).
"""
from flask.views import MethodView
from flask_babel import gettext
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import community_access
from civic.api.idempotency import idempotent
from civic.core.permissions import can
from civic.core.uploads import photo_url, save_photo
from civic.extensions import db
from civic.merit import service
from civic.merit.schemas import (
    MeritApprovalSchema,
    MeritCategorySchema,
    MeritClaimCreateSchema,
    MeritClaimQuerySchema,
    MeritClaimSchema,
    MeritDecisionSchema,
    MeritNoticeBoardSchema,
    MeritObjectionSchema,
    MeritPageQuerySchema,
    MeritPhotoSchema,
    MeritPhotoUploadSchema,
    MeritRuleSchema,
    MeritSettingsSchema,
)

blp = Blueprint("api_merit", __name__, url_prefix="/api/v1/communities",
                description="Merit claims: rules, claims, approvals, the public notice and objections")


@blp.route("/<int:community_id>/merit/rules")
class Rules(MethodView):
    @community_access("merit.view")
    @blp.response(200, MeritCategorySchema(many=True))
    def get(self, community_id):
        """The rule catalogue by category (the committee also sees items no longer offered)."""
        committee = can(current_user, "merit.configure", community_id)
        return [{"id": c.id, "code": c.code, "name": gettext(c.name), "rules": rules}
                for c, rules in service.catalogue(current_user, community_id, include_inactive=committee)]

    @community_access("merit.configure")
    @idempotent
    @blp.arguments(MeritRuleSchema)
    @blp.response(201, MeritRuleSchema)
    def post(self, data, community_id):
        """Add an item to the catalogue (committee)."""
        return service.create_rule(current_user, community_id, data)


@blp.route("/<int:community_id>/merit/rules/<int:rule_id>")
class Rule(MethodView):
    @community_access("merit.configure")
    @blp.arguments(MeritRuleSchema)
    @blp.response(200, MeritRuleSchema)
    def put(self, data, community_id, rule_id):
        """Change an item (committee); claims already made keep the item as it was."""
        rule = service.update_rule(current_user, community_id, rule_id, data)
        db.session.commit()
        return rule


@blp.route("/<int:community_id>/merit/settings")
class Settings(MethodView):
    @community_access("merit.view")
    @blp.response(200, MeritSettingsSchema)
    def get(self, community_id):
        """Days on the notice board and the second-approval threshold."""
        return service.settings_for(community_id)

    @community_access("merit.configure")
    @blp.arguments(MeritSettingsSchema)
    @blp.response(200, MeritSettingsSchema)
    def put(self, data, community_id):
        """Change the notice period and the second-approval threshold (committee)."""
        settings = service.update_settings(current_user, community_id, **data)
        db.session.commit()
        return settings


@blp.route("/<int:community_id>/merit/photos")
class Photos(MethodView):
    @community_access("merit.claim")
    @idempotent
    @blp.arguments(MeritPhotoUploadSchema, location="files")
    @blp.response(201, MeritPhotoSchema)
    def post(self, files, community_id):
        """Upload a photo (JPEG, PNG or WebP, at most 5 MB; re-encoded without EXIF) to attach to a claim."""
        name = save_photo(files["photo"], uploader=current_user, community_id=community_id)
        return {"name": name, "url": photo_url(name)}


@blp.route("/<int:community_id>/merit/claims")
class Claims(MethodView):
    @community_access("merit.view")
    @blp.arguments(MeritClaimQuerySchema, location="query")
    @blp.response(200, MeritClaimSchema(many=True))
    def get(self, query, community_id):
        """My claims (scope=mine), or the committee's review queue (scope=review)."""
        if query["scope"] == "review":
            return service.review_queue(current_user, community_id, page=query["page"])[0]
        return service.my_claims(current_user, community_id)

    @community_access("merit.claim")
    @idempotent
    @blp.arguments(MeritClaimCreateSchema)
    @blp.response(201, MeritClaimSchema)
    def post(self, data, community_id):
        """Claim an item, or record one (or a deduction) for a resident. The body's `idempotency_key` is the
        claim's own request key (as the web form's), kept for clients that cannot send the header."""
        return service.submit_claim(
            current_user, community_id, data["rule_id"], description=data["description"], photos=data["photos"],
            resident_id=data["resident_id"], request_key=data["idempotency_key"],
        )


@blp.route("/<int:community_id>/merit/claims/<int:claim_id>")
class ClaimItem(MethodView):
    @community_access("merit.view")
    @blp.response(200, MeritClaimSchema)
    def get(self, community_id, claim_id):
        """One claim (my own, one on the notice board, or any for the committee)."""
        return service.get_claim(current_user, community_id, claim_id)


@blp.route("/<int:community_id>/merit/claims/<int:claim_id>/approval")
class Approval(MethodView):
    @community_access("merit.review")
    @idempotent
    @blp.arguments(MeritApprovalSchema)
    @blp.response(200, MeritClaimSchema)
    def post(self, data, community_id, claim_id):
        """Approve with points within the range (a second member above the threshold), or reject with a reason."""
        if data["approve"]:
            return service.approve_claim(current_user, community_id, claim_id, data["points"])
        return service.reject_claim(current_user, community_id, claim_id, data["reason"])


@blp.route("/<int:community_id>/merit/notice")
class Notice(MethodView):
    @community_access("merit.view")
    @blp.arguments(MeritPageQuerySchema, location="query")
    @blp.response(200, MeritNoticeBoardSchema)
    def get(self, query, community_id):
        """The notice board: on notice (50 a page), under review after an objection, cancelled (with reasons),
        made final."""
        board = service.notice_board(current_user, community_id, page=query["page"])
        board["my_objections"] = sorted(board["my_objections"])
        return board


@blp.route("/<int:community_id>/merit/claims/<int:claim_id>/objections")
class Objections(MethodView):
    @community_access("merit.object")
    @idempotent
    @blp.arguments(MeritObjectionSchema)
    @blp.response(201, MeritObjectionSchema)
    def post(self, data, community_id, claim_id):
        """Object to an item on the notice board (once per resident and item)."""
        return service.object_to_claim(current_user, community_id, claim_id, data["reason"])


@blp.route("/<int:community_id>/merit/objections/<int:objection_id>/decision")
class Decision(MethodView):
    @community_access("merit.review")
    @idempotent
    @blp.arguments(MeritDecisionSchema)
    @blp.response(200, MeritObjectionSchema)
    def post(self, data, community_id, objection_id):
        """Uphold an objection (the item is cancelled, the reason published) or dismiss it (committee)."""
        return service.decide_objection(current_user, community_id, objection_id, data["uphold"], data["note"])
