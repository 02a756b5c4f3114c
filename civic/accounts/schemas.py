"""Marshmallow schemas for accounts."""
import marshmallow as ma


class TokenRequestSchema(ma.Schema):
    phone = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=128))
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=60))


class MembershipSchema(ma.Schema):
    community_id = ma.fields.Integer()
    community_name = ma.fields.String(attribute="community.name")
    status = ma.fields.String()
    grid_id = ma.fields.Integer(allow_none=True)
    roles = ma.fields.List(ma.fields.String())


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    display_name = ma.fields.String()
    phone = ma.fields.String(allow_none=True)
    is_admin = ma.fields.Boolean()
    locale = ma.fields.String(allow_none=True)
    elder_mode = ma.fields.Boolean()


class MeSchema(UserSchema):
    memberships = ma.fields.List(ma.fields.Nested(MembershipSchema))
    unread_notifications = ma.fields.Integer()


class TokenSchema(ma.Schema):
    token = ma.fields.String(metadata={"description": "Send as 'Authorization: Bearer <token>'"})
    expires_at = ma.fields.DateTime()
    user = ma.fields.Nested(UserSchema)


class EmailInSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=120))


class EmailVerifySchema(ma.Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=10, max=500))


class EmailSchema(ma.Schema):
    email = ma.fields.String(allow_none=True)
    verified = ma.fields.Boolean()
