"""Marshmallow schemas for communities."""
import marshmallow as ma

from civic.core.lookup import MAX_ID

ID_RANGE = ma.validate.Range(min=0, max=MAX_ID)  # ids are 32-bit in the database


class CommunitySchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    kind = ma.fields.String()
    street = ma.fields.String(attribute="street.name")
    district = ma.fields.String(attribute="street.district.name")


class JoinRequestSchema(ma.Schema):
    address = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))


class MembershipStatusSchema(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    status = ma.fields.String()
    requested_at = ma.fields.DateTime()


class ReviewSchema(ma.Schema):
    approve = ma.fields.Boolean(required=True)
    grid_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)
