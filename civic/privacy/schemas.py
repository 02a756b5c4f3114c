"""API schemas of privacy."""
from marshmallow import Schema, fields, validate

from civic.privacy.models import MAX_GPS_RETENTION_DAYS, MIN_GPS_RETENTION_DAYS


class RetentionSchema(Schema):
    community_id = fields.Integer(dump_only=True)
    gps_retention_days = fields.Integer(
        required=True, validate=validate.Range(min=MIN_GPS_RETENTION_DAYS, max=MAX_GPS_RETENTION_DAYS))


class UserDataSchema(Schema):
    format = fields.String()
    generated_at = fields.String()
    profile = fields.Dict()
    tables = fields.Dict(keys=fields.String(), values=fields.List(fields.Dict()))


class CloseAccountSchema(Schema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    confirm = fields.Boolean(required=True, validate=validate.Equal(True))


class ClosedSchema(Schema):
    closed = fields.Boolean()
    orders_cancelled = fields.Integer()
    signups_withdrawn = fields.Integer()
