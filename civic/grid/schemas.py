"""API schemas of grid governance."""
import marshmallow as ma
from marshmallow import validate


class GridResidentSchema(ma.Schema):
    name = ma.fields.String()
    managed = ma.fields.Boolean()


class GridHouseholdDueSchema(ma.Schema):
    household_id = ma.fields.Function(lambda r: r["household"].id)
    label = ma.fields.Function(lambda r: r["household"].label)
    residents = ma.fields.List(ma.fields.Nested(GridResidentSchema))
    last_visit = ma.fields.DateTime(allow_none=True)
    due = ma.fields.Boolean()


class GridRoundsSchema(ma.Schema):
    grid_id = ma.fields.Function(lambda g: g["grid"].id)
    grid = ma.fields.Function(lambda g: g["grid"].name)
    cycle_days = ma.fields.Integer(attribute="days")
    due = ma.fields.List(ma.fields.Nested(GridHouseholdDueSchema))
    open_problems = ma.fields.Function(lambda g: [r.id for r in g["problems"]])


class GridProblemSchema(ma.Schema):
    category_id = ma.fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    description = ma.fields.String(required=True, validate=validate.Length(min=1, max=1000))


class GridVisitCreateSchema(ma.Schema):
    household_id = ma.fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    met = ma.fields.String(load_default="", validate=validate.Length(max=80))
    notes = ma.fields.String(load_default="", validate=validate.Length(max=2000))
    follow_up = ma.fields.Boolean(load_default=False)
    minutes = ma.fields.Integer(load_default=15, validate=validate.Range(min=0, max=480))
    problem = ma.fields.Nested(GridProblemSchema, load_default=None, allow_none=True)


class GridVisitSchema(ma.Schema):
    id = ma.fields.Integer()
    household_id = ma.fields.Integer()
    grid_id = ma.fields.Integer(allow_none=True)
    visited_at = ma.fields.DateTime()
    met = ma.fields.String()
    notes = ma.fields.String()
    follow_up = ma.fields.Boolean()
    minutes = ma.fields.Integer()
    report_id = ma.fields.Integer(allow_none=True)


class GridCaseSchema(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    report_id = ma.fields.Integer()
    level = ma.fields.String()
    department_id = ma.fields.Integer(allow_none=True)
    deadline_at = ma.fields.DateTime(allow_none=True)
    accepted_at = ma.fields.DateTime(allow_none=True)
    resolved_at = ma.fields.DateTime(allow_none=True)
    overdue = ma.fields.Boolean()
