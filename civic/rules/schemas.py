"""API schemas of the rules: proposals, their decisions, ceilings."""
from marshmallow import Schema, fields, validate


class ChangeSchema(Schema):
    id = fields.Integer()
    area = fields.String()
    field = fields.String()
    old_value = fields.Raw()
    new_value = fields.Raw()
    status = fields.String()
    proposed_by = fields.Function(lambda c: c.proposed_by.display_name)
    proposed_at = fields.DateTime()
    decided_by = fields.Function(lambda c: c.decided_by.display_name if c.decided_by else None)
    decided_at = fields.DateTime(allow_none=True)


class ProposeSchema(Schema):
    area = fields.String(required=True, validate=validate.Length(max=30))
    field = fields.String(required=True, validate=validate.Length(max=60))
    value = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100_000_000))


class DecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["confirm", "decline"]))


class HistoryQuery(Schema):
    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


class CeilingSchema(Schema):
    area = fields.String(required=True, validate=validate.Length(max=30))
    field = fields.String(required=True, validate=validate.Length(max=60))
    maximum = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100_000_000))
    street_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    district_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
