"""Marshmallow schemas for merit rules, claims, objections and the notice board."""
import marshmallow as ma
from flask_babel import gettext

from civic.core.lookup import MAX_ID
from civic.core.uploads import photo_url
from civic.merit.models import CAP_PERIODS, RULE_KINDS

ID_RANGE = ma.validate.Range(min=0, max=MAX_ID)  # ids are 32-bit in the database

V = ma.validate


class MeritRuleSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    category_id = ma.fields.Integer(validate=ID_RANGE, required=True)
    kind = ma.fields.String(load_default="award", validate=V.OneOf(RULE_KINDS))
    name = ma.fields.String(required=True, validate=V.Length(min=1, max=80))
    description = ma.fields.String(load_default="", validate=V.Length(max=500))
    points_min = ma.fields.Integer(required=True, strict=True, validate=V.Range(min=1, max=10000))
    points_max = ma.fields.Integer(load_default=None, allow_none=True, strict=True, validate=V.Range(min=1, max=10000))
    cap_period = ma.fields.String(load_default="none", validate=V.OneOf(CAP_PERIODS))
    cap_times = ma.fields.Integer(load_default=None, allow_none=True, strict=True, validate=V.Range(min=1, max=MAX_ID))
    cap_points = ma.fields.Integer(load_default=None, allow_none=True, strict=True, validate=V.Range(min=1, max=MAX_ID))
    evidence_required = ma.fields.Boolean(load_default=False)
    active = ma.fields.Boolean(load_default=True)


class MeritCategorySchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String(metadata={"description": "in the caller's language"})
    rules = ma.fields.List(ma.fields.Nested(MeritRuleSchema))


class MeritSettingsSchema(ma.Schema):
    notice_days = ma.fields.Integer(required=True, strict=True, validate=V.Range(min=1, max=30))
    second_approval_above = ma.fields.Integer(required=True, strict=True, validate=V.Range(min=0, max=100000))


class MeritClaimCreateSchema(ma.Schema):
    rule_id = ma.fields.Integer(validate=ID_RANGE, required=True, strict=True)
    description = ma.fields.String(required=True, validate=V.Length(min=2, max=500))
    photos = ma.fields.List(ma.fields.String(validate=V.Length(max=64)), load_default=list, validate=V.Length(max=3),
                            metadata={"description": "names returned by POST .../merit/photos"})
    resident_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True, strict=True,
                                    metadata={"description": "record for this resident (committee, grid leader)"})
    idempotency_key = ma.fields.String(load_default=None, allow_none=True, validate=V.Length(min=1, max=80),
                                       metadata={"description": "or send the Idempotency-Key header"})


class MeritObjectionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    claim_id = ma.fields.Integer(dump_only=True)
    user_id = ma.fields.Integer(dump_only=True)
    reason = ma.fields.String(required=True, validate=V.Length(min=2, max=500))
    status = ma.fields.String(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    decided_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    decision_note = ma.fields.String(dump_only=True)


class MeritClaimSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    kind = ma.fields.String()
    rule_id = ma.fields.Integer(allow_none=True)
    source_kind = ma.fields.String(allow_none=True, metadata={"description": "patrol, report or meeting for an "
                                                             "award from another part; null for a claim"})
    source_id = ma.fields.Integer(allow_none=True)
    rule_name = ma.fields.String()
    category_code = ma.fields.String()
    category_name = ma.fields.Function(lambda c: gettext(c.category_name))
    points_min = ma.fields.Integer()
    points_max = ma.fields.Integer()
    points = ma.fields.Integer(allow_none=True)
    signed_points = ma.fields.Integer(allow_none=True)
    description = ma.fields.String()
    photos = ma.fields.Function(lambda c: [photo_url(p) for p in c.photos or []])
    resident_id = ma.fields.Integer()
    resident_name = ma.fields.String(attribute="resident.display_name")
    created_by_id = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    first_approver_id = ma.fields.Integer(allow_none=True)
    second_approver_id = ma.fields.Integer(allow_none=True)
    reject_reason = ma.fields.String()
    notice_ends_at = ma.fields.DateTime(allow_none=True)
    cancel_reason = ma.fields.String()
    posted_at = ma.fields.DateTime(allow_none=True)
    posted_points = ma.fields.Integer(allow_none=True)
    transaction_id = ma.fields.Integer(allow_none=True)


class MeritPublicClaimSchema(ma.Schema):
    """What the notice board shows everyone (no photos, no approvers)."""

    id = ma.fields.Integer()
    status = ma.fields.String()
    kind = ma.fields.String()
    rule_name = ma.fields.String()
    source_kind = ma.fields.String(allow_none=True)
    source_id = ma.fields.Integer(allow_none=True)
    category_name = ma.fields.Function(lambda c: gettext(c.category_name))
    points = ma.fields.Integer()
    signed_points = ma.fields.Integer()
    description = ma.fields.String()
    resident_name = ma.fields.String(attribute="resident.display_name")
    notice_ends_at = ma.fields.DateTime(allow_none=True)
    cancel_reason = ma.fields.String()
    posted_at = ma.fields.DateTime(allow_none=True)


class MeritNoticeBoardSchema(ma.Schema):
    on_notice = ma.fields.List(ma.fields.Nested(MeritPublicClaimSchema))
    under_review = ma.fields.List(ma.fields.Nested(MeritPublicClaimSchema))
    cancelled = ma.fields.List(ma.fields.Nested(MeritPublicClaimSchema))
    posted = ma.fields.List(ma.fields.Nested(MeritPublicClaimSchema))
    my_objections = ma.fields.List(ma.fields.Integer())
    page = ma.fields.Integer()
    has_more = ma.fields.Boolean(metadata={"description": "more items on notice on the next page"})


class MeritApprovalSchema(ma.Schema):
    approve = ma.fields.Boolean(required=True)
    points = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                               validate=V.Range(min=-MAX_ID, max=MAX_ID))
    reason = ma.fields.String(load_default="", validate=V.Length(max=500))


class MeritDecisionSchema(ma.Schema):
    uphold = ma.fields.Boolean(required=True)
    note = ma.fields.String(required=True, validate=V.Length(min=2, max=500))


class MeritPhotoUploadSchema(ma.Schema):
    photo = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class MeritPhotoSchema(ma.Schema):
    name = ma.fields.String()
    url = ma.fields.String()


class MeritClaimQuerySchema(ma.Schema):
    scope = ma.fields.String(load_default="mine", validate=V.OneOf(["mine", "review"]),
                             metadata={"description": "mine: my claims; review: the committee's queue"})
    page = ma.fields.Integer(load_default=1, validate=V.Range(min=1, max=MAX_ID),
                             metadata={"description": "page of the review queue (50 a page)"})


class MeritPageQuerySchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=V.Range(min=1, max=MAX_ID),
                             metadata={"description": "page of the items on notice (50 a page)"})
